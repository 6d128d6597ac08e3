import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as tlsConnect } from 'node:tls';
import { connect as netConnect, createServer as createNetServer, type Socket } from 'node:net';
import {
  CHANNEL_ALPN,
  hostCandidates,
  newChannelSessionId,
  type ChannelCandidate,
  type ChannelFingerprint,
} from '@tsunagu/protocol';
import {
  Channel,
  ChannelError,
  ChannelListener,
  INTERCEPTION_WARNING,
  connectChannel,
  verificationCode,
  type ChannelCloseInfo,
  type RefusedConnection,
} from './index.js';
import { sha256Fingerprint } from './fingerprint.js';
import { closedPort, hasIpv6Loopback, silentServer, testDevices, type TestDevice } from './testing.js';

const LO = '127.0.0.1';
let A: TestDevice;
let B: TestDevice;
let C: TestDevice;
let cleanup: () => Promise<void>;

before(async () => {
  const t = await testDevices('alice', 'bob', 'mallory');
  [A, B, C] = t.devices as [TestDevice, TestDevice, TestDevice];
  cleanup = t.cleanup;
});
after(() => cleanup());

const fps = (d: TestDevice): ChannelFingerprint[] => [sha256Fingerprint(d.fingerprint)];

async function listen(device: TestDevice, sessionId: string, addresses = [LO]): Promise<ChannelListener> {
  return ChannelListener.listen({ credentials: device.credentials, sessionId, addresses });
}

/** Expects a ChannelError with `code`; returns it. */
async function channelError(p: Promise<unknown>, code: string): Promise<ChannelError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ChannelError, `expected ChannelError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ChannelError ${code}`);
}

/** Reads `n` bytes from a channel's stream with a 'data' listener, as a transfer engine might. */
function readBytes(ch: Channel, n: number): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const onData = (d: Buffer) => {
      got += d.toString();
      if (got.length >= n) {
        ch.stream.off('data', onData);
        ch.stream.pause();
        resolve(got);
      }
    };
    ch.stream.on('data', onData);
  });
}

async function pair(passive: TestDevice, active: TestDevice): Promise<{ p: Channel; a: Channel }> {
  const session = newChannelSessionId();
  const listener = await listen(passive, session);
  const [p, a] = await Promise.all([
    listener.accept({ fingerprints: fps(active) }),
    connectChannel({
      credentials: active.credentials,
      sessionId: session,
      peer: { fingerprints: fps(passive), candidates: listener.candidates },
      localAddresses: [LO],
    }),
  ]);
  return { p, a };
}

describe('a verified channel, passive and active', () => {
  for (const [pName, aName] of [
    ['alice', 'bob'],
    ['bob', 'alice'],
  ] as const) {
    test(`${pName} listens, ${aName} connects: mutual TLS 1.3, fingerprints, data both ways, close`, async () => {
      const passive = pName === 'alice' ? A : B;
      const active = pName === 'alice' ? B : A;
      const { p, a } = await pair(passive, active);
      assert.equal(p.role, 'passive');
      assert.equal(a.role, 'active');
      assert.equal(p.protocol, 'TLSv1.3');
      assert.equal(a.protocol, 'TLSv1.3');
      assert.equal(p.peerFingerprint, active.fingerprint);
      assert.equal(a.peerFingerprint, passive.fingerprint);
      assert.equal(p.localFingerprint, passive.fingerprint);
      assert.equal(p.sessionId, a.sessionId);
      assert.equal(p.verificationCode, a.verificationCode);
      assert.deepEqual(p.remote, { address: a.local.address, port: a.local.port });
      assert.equal(a.remote.address, LO);

      // Bytes written the moment the channel exists are not lost to the binding reader.
      a.stream.write('hello from active');
      p.stream.write('hello from passive');
      assert.equal(await readBytes(p, 17), 'hello from active');
      assert.equal(await readBytes(a, 18), 'hello from passive');

      const closedP = once(p, 'close') as Promise<[ChannelCloseInfo]>;
      const closedA = once(a, 'close') as Promise<[ChannelCloseInfo]>;
      a.stream.resume();
      p.stream.resume();
      a.close('transfer finished');
      const [[infoA], [infoP]] = await Promise.all([closedA, closedP]);
      assert.deepEqual(infoA, { by: 'local', reason: 'transfer finished' });
      assert.deepEqual(infoP, { by: 'peer', reason: 'the peer closed the channel' });
      assert.ok(a.closed && p.closed);
    });
  }

  test('a dropped connection is reported as such on both ends', async () => {
    // A TCP relay between the two ends, reset mid-channel: what a dead NAT mapping or a pulled cable
    // looks like.
    const session = newChannelSessionId();
    const listener = await listen(A, session);
    const relayed: Socket[] = [];
    const relay = createNetServer((inbound) => {
      const outbound = netConnect(listener.endpoints[0]!.port, LO);
      relayed.push(inbound, outbound);
      for (const s of [inbound, outbound]) s.on('error', () => undefined);
      inbound.pipe(outbound).pipe(inbound);
    });
    await new Promise<void>((r) => relay.listen(0, LO, r));
    const [p, a] = await Promise.all([
      listener.accept({ fingerprints: fps(B) }),
      connectChannel({
        credentials: B.credentials,
        sessionId: session,
        peer: {
          fingerprints: fps(A),
          candidates: hostCandidates(
            [{ address: LO, port: (relay.address() as { port: number }).port }],
            'passive',
          ),
        },
        localAddresses: [LO],
      }),
    ]);
    p.stream.resume();
    a.stream.resume();
    const closed = Promise.all([once(p, 'close'), once(a, 'close')]) as Promise<
      [[ChannelCloseInfo], [ChannelCloseInfo]]
    >;
    for (const s of relayed) s.resetAndDestroy();
    const [[infoP], [infoA]] = await closed;
    for (const info of [infoP, infoA]) {
      assert.equal(info.by, 'error');
      assert.match(info.reason, /connection lost: ECONNRESET/);
    }
    relay.close();
  });

  test('a connection arriving before the answer waits for the peer fingerprint', async () => {
    const session = newChannelSessionId();
    const listener = await listen(A, session);
    const connecting = connectChannel({
      credentials: B.credentials,
      sessionId: session,
      peer: { fingerprints: fps(A), candidates: listener.candidates },
      localAddresses: [LO],
    });
    await new Promise((r) => setTimeout(r, 150));
    const [p, a] = await Promise.all([listener.accept({ fingerprints: fps(B) }), connecting]);
    assert.equal(p.verificationCode, a.verificationCode);
    p.destroy();
    a.destroy();
  });
});

describe('certificates that do not match the signalled fingerprint', () => {
  test('the passive end presents another certificate: interception error on both ends', async () => {
    const session = newChannelSessionId();
    const listener = await listen(A, session);
    const [passive, active] = await Promise.allSettled([
      listener.accept({ fingerprints: fps(B), timeoutMs: 3000 }),
      // Bob was told Alice's fingerprint is Mallory's: what he reaches is not what was signalled.
      connectChannel({
        credentials: B.credentials,
        sessionId: session,
        peer: { fingerprints: fps(C), candidates: listener.candidates },
        localAddresses: [LO],
      }),
    ]);
    assert.equal(active.status, 'rejected');
    assert.equal(passive.status, 'rejected');
    const ea = (active as PromiseRejectedResult).reason as ChannelError;
    const ep = (passive as PromiseRejectedResult).reason as ChannelError;
    assert.equal(ea.code, 'fingerprint-mismatch');
    assert.equal(ea.details.detectedBy, 'local');
    assert.ok(ea.message.includes(INTERCEPTION_WARNING), ea.message);
    assert.match(ea.message, new RegExp(A.fingerprint.slice(0, 20)), 'names what was presented');
    assert.equal(ep.code, 'fingerprint-mismatch');
    assert.equal(ep.details.detectedBy, 'peer');
    assert.ok(ep.message.includes('possible interception'), ep.message);
  });

  test('the active end presents another certificate: interception error on both ends', async () => {
    const session = newChannelSessionId();
    const listener = await listen(A, session);
    const started = performance.now();
    const [passive, active] = await Promise.allSettled([
      // Alice was told to expect Mallory: Bob's certificate is refused.
      listener.accept({ fingerprints: fps(C), timeoutMs: 1500 }),
      connectChannel({
        credentials: B.credentials,
        sessionId: session,
        peer: { fingerprints: fps(A), candidates: listener.candidates },
        localAddresses: [LO],
      }),
    ]);
    const ea = (active as PromiseRejectedResult).reason as ChannelError;
    const ep = (passive as PromiseRejectedResult).reason as ChannelError;
    assert.equal(ea.code, 'fingerprint-mismatch');
    assert.equal(ea.details.detectedBy, 'peer');
    assert.ok(ea.message.includes(INTERCEPTION_WARNING), ea.message);
    assert.equal(ep.code, 'fingerprint-mismatch');
    assert.equal(ep.details.detectedBy, 'local');
    assert.ok(ep.message.includes(INTERCEPTION_WARNING), ep.message);
    assert.ok(
      performance.now() - started >= 1400,
      'the listener kept waiting for the right peer until its deadline',
    );
  });

  test('a third party is refused and the listener keeps waiting for the right peer', async () => {
    const session = newChannelSessionId();
    const listener = await listen(A, session);
    const refused: RefusedConnection[] = [];
    listener.on('refused', (r) => refused.push(r));
    const accepting = listener.accept({ fingerprints: fps(B), timeoutMs: 5000 });
    // Mallory knows the session id and Alice's fingerprint, but has her own certificate.
    const e = await channelError(
      connectChannel({
        credentials: C.credentials,
        sessionId: session,
        peer: { fingerprints: fps(A), candidates: listener.candidates },
        localAddresses: [LO],
      }),
      'fingerprint-mismatch',
    );
    assert.equal(e.details.detectedBy, 'peer');
    // A client that is not TLS at all, and one without the channel's ALPN. The listener reports a
    // refusal before it closes the connection, so both closes mean both were dealt with.
    const raw = netConnect(listener.endpoints[0]!.port, LO);
    raw.on('error', () => undefined);
    raw.resume();
    raw.end('GET / HTTP/1.1\r\n\r\n');
    const noAlpn = tlsConnect({
      host: LO,
      port: listener.endpoints[0]!.port,
      secureContext: C.credentials.secureContext,
      rejectUnauthorized: false,
    });
    noAlpn.on('error', () => undefined);
    noAlpn.resume();
    await Promise.all([once(raw, 'close'), once(noAlpn, 'close')]);
    assert.equal(refused.length, 2, 'Mallory and the client without ALPN');
    assert.equal(refused[0]!.error.code, 'fingerprint-mismatch');
    assert.equal(refused[1]!.error.code, 'protocol');
    // Bob still gets through.
    const [p, a] = await Promise.all([
      accepting,
      connectChannel({
        credentials: B.credentials,
        sessionId: session,
        peer: { fingerprints: fps(A), candidates: listener.candidates },
        localAddresses: [LO],
      }),
    ]);
    assert.equal(p.peerFingerprint, B.fingerprint);
    assert.equal(a.peerFingerprint, A.fingerprint);
    p.destroy();
    a.destroy();
  });

  test('several signalled fingerprints (RFC 8122): any one that matches will do', async () => {
    const session = newChannelSessionId();
    const listener = await listen(A, session);
    const sha512 = { algorithm: 'sha-512', value: await sha512Of(A) };
    const [p, a] = await Promise.all([
      listener.accept({ fingerprints: [...fps(C), ...fps(B)] }),
      connectChannel({
        credentials: B.credentials,
        sessionId: session,
        peer: { fingerprints: [...fps(C), sha512], candidates: listener.candidates },
        localAddresses: [LO],
      }),
    ]);
    assert.equal(p.peerFingerprint, B.fingerprint);
    assert.equal(a.peerFingerprint, A.fingerprint);
    p.destroy();
    a.destroy();
  });
});

async function sha512Of(d: TestDevice): Promise<string> {
  // The certificate as the TLS peer sees it.
  const session = newChannelSessionId();
  const listener = await listen(d, session);
  const s = tlsConnect({
    host: LO,
    port: listener.endpoints[0]!.port,
    rejectUnauthorized: false,
    ALPNProtocols: [CHANNEL_ALPN],
    secureContext: C.credentials.secureContext,
  });
  await once(s, 'secureConnect');
  const { createHash } = await import('node:crypto');
  const raw = s.getPeerX509Certificate()!.raw;
  s.destroy();
  listener.close();
  return (createHash('sha512').update(raw).digest('hex').toUpperCase().match(/../g) ?? []).join(':');
}

describe('session binding', () => {
  test('a connection for another session is refused on both ends', async () => {
    const session = newChannelSessionId();
    const listener = await listen(A, session);
    const refused: RefusedConnection[] = [];
    listener.on('refused', (r) => refused.push(r));
    const [passive, active] = await Promise.allSettled([
      listener.accept({ fingerprints: fps(B), timeoutMs: 1000 }),
      connectChannel({
        credentials: B.credentials,
        sessionId: newChannelSessionId(),
        peer: { fingerprints: fps(A), candidates: listener.candidates },
        localAddresses: [LO],
      }),
    ]);
    const ea = (active as PromiseRejectedResult).reason as ChannelError;
    const ep = (passive as PromiseRejectedResult).reason as ChannelError;
    assert.equal(ea.code, 'session-mismatch');
    assert.match(ea.message, /another channel session/);
    assert.equal(ep.code, 'session-mismatch');
    assert.equal(refused.length, 1);
  });
});

describe('candidate racing (RFC 8305)', () => {
  test('a dead candidate (closed port) before a live one', async () => {
    const session = newChannelSessionId();
    const listener = await listen(A, session);
    const dead = await closedPort();
    const live = listener.candidates[0]!;
    const candidates: ChannelCandidate[] = [
      { ...live, foundation: '9', port: dead, priority: live.priority + 1 },
      live,
    ];
    const started = performance.now();
    const [p, a] = await Promise.all([
      listener.accept({ fingerprints: fps(B) }),
      connectChannel({
        credentials: B.credentials,
        sessionId: session,
        peer: { fingerprints: fps(A), candidates },
        localAddresses: [LO],
        attemptDelayMs: 2000,
      }),
    ]);
    assert.ok(performance.now() - started < 1500, 'a refused connection starts the next attempt at once');
    assert.equal(a.remote.port, live.port);
    p.destroy();
    a.destroy();
  });

  test('a black-hole candidate first: the next starts after the attempt delay, the loser is dropped', async () => {
    const session = newChannelSessionId();
    const listener = await listen(A, session);
    const hole = await silentServer();
    try {
      const live = listener.candidates[0]!;
      const candidates = [{ ...live, port: hole.port, priority: live.priority + 1 }, live];
      const started = performance.now();
      const [p, a] = await Promise.all([
        listener.accept({ fingerprints: fps(B) }),
        connectChannel({
          credentials: B.credentials,
          sessionId: session,
          peer: { fingerprints: fps(A), candidates },
          localAddresses: [LO],
          attemptDelayMs: 200,
        }),
      ]);
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 190 && elapsed < 3000, `${elapsed} ms`);
      assert.equal(a.remote.port, live.port);
      assert.equal(hole.sockets.length, 1, 'the black hole was tried');
      const loser = hole.sockets[0]!;
      if (!loser.destroyed) await once(loser, 'close');
      assert.ok(loser.destroyed || loser.readableEnded, 'and its connection closed');
      p.destroy();
      a.destroy();
    } finally {
      await hole.close();
    }
  });

  test('nothing but a black hole: timeout', async () => {
    const hole = await silentServer();
    try {
      const started = performance.now();
      const e = await channelError(
        connectChannel({
          credentials: B.credentials,
          sessionId: newChannelSessionId(),
          peer: {
            fingerprints: fps(A),
            candidates: hostCandidates([{ address: LO, port: hole.port }], 'passive'),
          },
          localAddresses: [LO],
          timeoutMs: 500,
        }),
        'timeout',
      );
      assert.ok(performance.now() - started < 1500);
      assert.match(e.message, /within 500 ms/);
    } finally {
      await hole.close();
    }
  });

  test('only dead candidates: unreachable, quickly', async () => {
    const e = await channelError(
      connectChannel({
        credentials: B.credentials,
        sessionId: newChannelSessionId(),
        peer: {
          fingerprints: fps(A),
          candidates: hostCandidates([{ address: LO, port: await closedPort() }], 'passive'),
        },
        localAddresses: [LO],
      }),
      'unreachable',
    );
    assert.match(e.message, /ECONNREFUSED/);
  });

  test('abort signal cancels the race', async () => {
    const hole = await silentServer();
    try {
      const ac = new AbortController();
      const p = connectChannel({
        credentials: B.credentials,
        sessionId: newChannelSessionId(),
        peer: {
          fingerprints: fps(A),
          candidates: hostCandidates([{ address: LO, port: hole.port }], 'passive'),
        },
        localAddresses: [LO],
        signal: ac.signal,
      });
      // Abort while the attempt is under way (connected, no TLS answer).
      await once(hole.server, 'connection');
      ac.abort();
      await channelError(p, 'cancelled');
    } finally {
      await hole.close();
    }
  });
});

describe('IPv6 loopback', async () => {
  const v6 = await hasIpv6Loopback();
  test(
    'a channel over ::1, and a race over ::1 and 127.0.0.1 that yields exactly one channel',
    { skip: !v6 && 'no IPv6 loopback here' },
    async () => {
      const session = newChannelSessionId();
      const listener = await listen(A, session, ['::1', LO]);
      assert.equal(listener.endpoints.length, 2);
      assert.equal(
        listener.endpoints[0]!.port,
        listener.endpoints[1]!.port,
        'the same port on both addresses',
      );
      const refused: RefusedConnection[] = [];
      listener.on('refused', (r) => refused.push(r));
      const [p, a] = await Promise.all([
        listener.accept({ fingerprints: fps(B) }),
        connectChannel({
          credentials: B.credentials,
          sessionId: session,
          peer: { fingerprints: fps(A), candidates: listener.candidates },
          localAddresses: ['::1', LO],
          attemptDelayMs: 0, // both at once: the passive end must accept exactly one
        }),
      ]);
      assert.equal(a.remote.address, p.local.address);
      assert.equal(a.remote.port, p.local.port);
      assert.equal(a.local.port, p.remote.port, 'both ends chose the same connection');
      p.destroy();
      a.destroy();

      const s2 = newChannelSessionId();
      const only6 = await listen(B, s2, ['::1']);
      const [p6, a6] = await Promise.all([
        only6.accept({ fingerprints: fps(A) }),
        connectChannel({
          credentials: A.credentials,
          sessionId: s2,
          peer: { fingerprints: fps(B), candidates: only6.candidates },
          localAddresses: ['::1'],
        }),
      ]);
      assert.equal(a6.remote.address, '::1');
      assert.equal(p6.verificationCode, a6.verificationCode);
      p6.destroy();
      a6.destroy();
    },
  );
});

describe('verification code', () => {
  test('the same on both ends, six digits, different for different pairs', async () => {
    const ab = await pair(A, B);
    const ba = await pair(B, A);
    const ac = await pair(A, C);
    assert.match(ab.a.verificationCode, /^\d{3} \d{3}$/);
    assert.equal(ab.a.verificationCode, ab.p.verificationCode);
    assert.equal(ba.a.verificationCode, ab.a.verificationCode, 'whoever connects');
    assert.equal(ac.a.verificationCode, ac.p.verificationCode);
    assert.notEqual(ac.a.verificationCode, ab.a.verificationCode);
    assert.equal(
      verificationCode(A.fingerprint, B.fingerprint),
      verificationCode(B.fingerprint, A.fingerprint),
    );
    assert.equal(
      verificationCode(A.fingerprint.toLowerCase(), B.fingerprint),
      verificationCode(A.fingerprint, B.fingerprint),
    );
    for (const c of [ab, ba, ac]) {
      c.a.destroy();
      c.p.destroy();
    }
    // Spread: 2000 random pairs give (nearly) 2000 different codes.
    const { randomBytes } = await import('node:crypto');
    const fp = () => (randomBytes(32).toString('hex').toUpperCase().match(/../g) ?? []).join(':');
    const codes = new Set(Array.from({ length: 2000 }, () => verificationCode(fp(), fp())));
    assert.ok(codes.size > 1990, `${codes.size}`);
    assert.throws(() => verificationCode('AB:CD', B.fingerprint), TypeError);
  });
});

describe('listener robustness', () => {
  test('a flood of silent connections does not keep the real peer out', async () => {
    const session = newChannelSessionId();
    const listener = await ChannelListener.listen({
      credentials: A.credentials,
      sessionId: session,
      addresses: [LO],
      maxPending: 4,
    });
    const port = listener.endpoints[0]!.port;
    const flood: Socket[] = [];
    for (let i = 0; i < 12; i++) {
      const s = netConnect(port, LO);
      s.on('error', () => undefined);
      flood.push(s);
      await once(s, 'connect');
    }
    const [p, a] = await Promise.all([
      listener.accept({ fingerprints: fps(B), timeoutMs: 3000 }),
      connectChannel({
        credentials: B.credentials,
        sessionId: session,
        peer: { fingerprints: fps(A), candidates: listener.candidates },
        localAddresses: [LO],
      }),
    ]);
    assert.equal(p.peerFingerprint, B.fingerprint);
    p.destroy();
    a.destroy();
    for (const s of flood) s.destroy();
  });

  test('a preferred port that is taken falls back to another; one port shared where it can be', async () => {
    const busy = await silentServer();
    try {
      const listener = await ChannelListener.listen({
        credentials: A.credentials,
        sessionId: newChannelSessionId(),
        addresses: [LO],
        port: busy.port,
      });
      assert.notEqual(listener.endpoints[0]!.port, busy.port);
      listener.close();
      const free = await closedPort();
      const preferred = await ChannelListener.listen({
        credentials: A.credentials,
        sessionId: newChannelSessionId(),
        addresses: [LO],
        port: free,
      });
      assert.equal(preferred.endpoints[0]!.port, free);
      assert.equal(preferred.candidates[0]!.port, free);
      preferred.close();
    } finally {
      await busy.close();
    }
  });

  test('nothing to listen on is a clear error', async () => {
    await assert.rejects(
      ChannelListener.listen({ credentials: A.credentials, sessionId: newChannelSessionId(), addresses: [] }),
      (e: unknown) => e instanceof ChannelError && e.code === 'no-candidates',
    );
  });
});

describe('CA-issued certificates (DESIGN: chain to the CA and name the peer)', () => {
  test('accepted when issued by the CA for the asserted AOR, refused otherwise', async (t) => {
    const { default: forge } = await import('node-forge');
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { openProfile } = await import('../identity/index.js');
    const { caIssuedPeerCheck, channelCredentials } = await import('./index.js');
    // A throw-away CA, the way the deployment's signs (forge, SHA-256).
    const caKeys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
    const name = [{ name: 'commonName', value: 'Test CA' }];
    const ca = forge.pki.createCertificate();
    ca.publicKey = caKeys.publicKey;
    ca.serialNumber = '01';
    ca.validity.notBefore = new Date(Date.now() - 60_000);
    ca.validity.notAfter = new Date(Date.now() + 86_400_000);
    ca.setSubject(name);
    ca.setIssuer(name);
    ca.setExtensions([
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, critical: true },
    ]);
    ca.sign(caKeys.privateKey, forge.md.sha256.create());
    const caPem = forge.pki.certificateToPem(ca);

    const dir = await mkdtemp(join(tmpdir(), 'tsunagu-ca-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const bob = await openProfile(join(dir, 'bob'), { create: true });
    const csr = forge.pki.certificationRequestFromPem(
      bob.identity.createCertificateRequest('sip:bob@example.org'),
    );
    const cert = forge.pki.createCertificate();
    cert.publicKey = csr.publicKey!;
    cert.serialNumber = '02';
    cert.validity.notBefore = new Date(Date.now() - 60_000);
    cert.validity.notAfter = new Date(Date.now() + 86_400_000);
    cert.setSubject(csr.subject.attributes);
    cert.setIssuer(name);
    cert.setExtensions([
      { name: 'subjectAltName', altNames: [{ type: 6, value: 'sip:bob@example.org' }] },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    ]);
    cert.sign(caKeys.privateKey, forge.md.sha256.create());
    await bob.identity.installCertificate(forge.pki.certificateToPem(cert));
    assert.ok(!bob.identity.selfSigned);
    const bobCa = channelCredentials(bob.identity);

    const attempt = async (peerAor: string) => {
      const session = newChannelSessionId();
      const listener = await listen(A, session);
      return Promise.allSettled([
        listener.accept({
          fingerprints: [sha256Fingerprint(bobCa.fingerprint)],
          verifyPeer: caIssuedPeerCheck({ caPem, peerAor }),
          timeoutMs: 800,
        }),
        connectChannel({
          credentials: bobCa,
          sessionId: session,
          peer: { fingerprints: fps(A), candidates: listener.candidates },
          localAddresses: [LO],
        }),
      ]);
    };
    const [okP, okA] = await attempt('sip:bob@example.org');
    assert.equal(okP.status, 'fulfilled');
    assert.equal(okA.status, 'fulfilled');
    for (const r of [okP, okA]) (r as PromiseFulfilledResult<Channel>).value.destroy();

    const [badP, badA] = await attempt('sip:carol@example.org');
    const ep = (badP as PromiseRejectedResult).reason as ChannelError;
    assert.equal(ep.code, 'untrusted-certificate');
    assert.match(ep.message, /does not name sip:carol@example\.org/);
    assert.equal(((badA as PromiseRejectedResult).reason as ChannelError).code, 'fingerprint-mismatch');

    // Self-signed passes on its pinned fingerprint unless CA issuance is required.
    const check = caIssuedPeerCheck({ caPem, peerAor: 'sip:bob@example.org', requireCaIssued: true });
    const { X509Certificate } = await import('node:crypto');
    const selfSigned = new X509Certificate(
      (await openProfile(join(dir, 'x'), { create: true })).identity.certificatePem,
    );
    assert.match(check(selfSigned) ?? '', /not issued by the deployment CA/);
    assert.equal(caIssuedPeerCheck({ caPem, peerAor: 'sip:bob@example.org' })(selfSigned), undefined);
  });
});
