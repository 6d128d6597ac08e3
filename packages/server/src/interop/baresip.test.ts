import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { header, headerValues } from '../sip/message.js';
import { startTestServer, type TestServer } from '../testing/index.js';

/**
 * A real SIP client nobody here wrote: Debian's baresip (1.0) registers over TLS with digest and places
 * a call that the server routes to a registered terminal. baresip 1.0 knows only MD5 and gives up on a
 * challenge list that starts with SHA-256, so its user is marked `md5 only` — the admin's legacy opt-in.
 */
const baresip = spawnSync('baresip', ['-h'], { encoding: 'utf8' });
const missing = baresip.error ? 'baresip is not installed (apt-get install baresip-core)' : undefined;

let t: TestServer;
let dir: string;
const running: ChildProcess[] = [];
before(async () => {
  if (missing) return;
  t = await startTestServer();
  t.admin.users.add('legacy', { realm: t.domain, password: 'pw-legacy', allowMd5: true, md5Only: true });
  t.addUser('bob');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baresip-'));
  fs.writeFileSync(path.join(dir, 'silence.wav'), silenceWav(8000, 2));
  fs.writeFileSync(
    path.join(dir, 'config'),
    [
      'poll_method epoll',
      'sip_listen 127.0.0.1:0',
      `sip_cafile ${path.join(t.dataDir, 'ca', 'ca.pem')}`,
      'audio_player aufile,/dev/null',
      `audio_source aufile,${path.join(dir, 'silence.wav')}`,
      'audio_alert aufile,/dev/null',
      'module_path /usr/lib/baresip/modules',
      'module g711.so',
      'module aufile.so',
      'module menu.so',
      'module_app account.so',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    path.join(dir, 'accounts'),
    `<sip:legacy@${t.domain};transport=tls>;auth_pass=pw-legacy;outbound="sip:127.0.0.1:${t.sip.port};transport=tls";regint=600\n`,
  );
});
after(async () => {
  for (const c of running) c.kill('SIGKILL');
  if (t) await t.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A PCM WAV file of silence, as baresip's audio source (no sound device on a test machine). */
function silenceWav(rate: number, seconds: number): Buffer {
  const data = rate * seconds * 2;
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data, 40);
  return Buffer.concat([h, Buffer.alloc(data)]);
}

function startBaresip(commands: string[]): { child: ChildProcess; output: () => string } {
  const args = [
    '-f',
    dir,
    '-t',
    '30',
    ...(process.env.BARESIP_TRACE ? ['-s'] : []),
    ...commands.flatMap((c) => ['-e', c]),
  ];
  const child = spawn('baresip', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  running.push(child);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  return { child, output: () => out };
}

test(
  'baresip registers over TLS with digest, and its call is routed to a registered terminal',
  { skip: missing },
  async () => {
    const bob = await t.client('bob');
    assert.equal((await bob.register()).status, 200);
    const b = startBaresip([`/dial sip:bob@${t.domain}`]);
    await t.until(
      () => t.server.context.location.bindings('legacy').length === 1,
      'baresip to register',
      10_000,
    );
    const binding = t.server.context.location.bindings('legacy')[0]!;
    assert.equal(binding.conn.transport, 'TLS');

    const invite = await bob.nextRequest('INVITE', 10_000);
    assert.deepEqual(headerValues(invite, 'P-Asserted-Identity'), [`<sip:legacy@${t.domain}>`]);
    assert.match(header(invite, 'User-Agent') ?? '', /baresip/);
    bob.respond(invite, 180, { toTag: 'bob1' });
    bob.respond(invite, 200, {
      toTag: 'bob1',
      contentType: 'application/sdp',
      body: [
        'v=0',
        'o=- 1 1 IN IP4 127.0.0.1',
        's=-',
        'c=IN IP4 127.0.0.1',
        't=0 0',
        'm=audio 9 RTP/AVP 0',
        'a=rtpmap:0 PCMU/8000',
        '',
      ].join('\r\n'),
    });
    const ack = await bob.nextRequest('ACK', 5000);
    assert.equal(
      header(ack, 'Call-ID'),
      header(invite, 'Call-ID'),
      'the ACK came through the record-routed flow',
    );
    // bob hangs up; baresip must answer the BYE that the server relays down its TLS flow.
    const d = bob.dialogAsCallee(invite, 'bob1');
    const bye = await bob.sendRequest(bob.inDialog(d, 'BYE'));
    assert.equal(bye.status, 200);
    assert.match(b.output(), /Call established/);
    b.child.kill('SIGTERM');
  },
);
