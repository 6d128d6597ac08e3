import { connect, type TLSSocket } from 'node:tls';
import {
  CHANNEL_ALPN,
  CHANNEL_SESSION_ID,
  canonicalIp,
  ipFamily,
  isLinkLocalIpv6,
  isLoopbackIp,
  passiveCandidates,
  type ChannelCandidate,
  type ChannelFingerprint,
} from '@tsunagu/protocol';
import { silentLog, type Log } from '../identity/log.js';
import { allLocalAddresses, peerIsLocal } from './addresses.js';
import {
  describe,
  formatEndpoint,
  readBindingMessage,
  refuseAndClose,
  sendBindingMessage,
} from './binding-io.js';
import { Channel } from './channel.js';
import type { ChannelCredentials } from './credentials.js';
import { ChannelError, isVerdict, localMismatch, mostSevere, peerMismatch } from './errors.js';
import { certificateMatches, usableFingerprints } from './fingerprint.js';
import type { PeerCertificateCheck } from './peer-check.js';

/** RFC 8305 §5: the recommended Connection Attempt Delay. */
export const ATTEMPT_DELAY_MS = 250;

export interface ConnectOptions {
  credentials: ChannelCredentials;
  /** The signalled `a=tsunagu-session`. */
  sessionId: string;
  /** What the peer signalled. */
  peer: {
    readonly fingerprints: readonly ChannelFingerprint[];
    readonly candidates: readonly ChannelCandidate[];
  };
  /** This machine's addresses, loopback included; used to tell whether the peer is on this machine. */
  localAddresses?: readonly string[];
  /** The whole race. Default 10 s. */
  timeoutMs?: number;
  /** Default 250 ms (RFC 8305 §5). */
  attemptDelayMs?: number;
  signal?: AbortSignal;
  /** More checks of the peer's certificate once its fingerprint matched (CA chain, AOR). */
  verifyPeer?: PeerCertificateCheck;
  log?: Log;
}

/**
 * Where to connect, in order: the peer's passive candidates (RFC 6544; `so` and `active` ones cannot
 * be connected to by a plain TCP client), highest priority first, address families interleaved as
 * RFC 8305 §4 says, starting with the family of the best candidate; each address and port once.
 * Loopback candidates only when the peer is on this machine; IPv6 link-local never (no zone id).
 */
export function connectOrder(
  candidates: readonly ChannelCandidate[],
  localAddresses: readonly string[],
): ChannelCandidate[] {
  const local = peerIsLocal(candidates, localAddresses);
  const seen = new Set<string>();
  const usable = passiveCandidates({ candidates })
    .filter(
      (c) => ipFamily(c.address) !== 0 && !isLinkLocalIpv6(c.address) && (local || !isLoopbackIp(c.address)),
    )
    .filter((c) => {
      const key = `${canonicalIp(c.address)} ${c.port}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  if (usable.length === 0) return [];
  const family = (c: ChannelCandidate) => (canonicalIp(c.address)!.includes(':') ? 6 : 4);
  const first = family(usable[0]!);
  const a = usable.filter((c) => family(c) === first);
  const b = usable.filter((c) => family(c) !== first);
  const out: ChannelCandidate[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i]) out.push(a[i]!);
    if (b[i]) out.push(b[i]!);
  }
  return out;
}

/**
 * The active end of a channel (RFC 4145 `a=setup:active`): races TLS connections to the peer's
 * candidates Happy-Eyeballs style (RFC 8305: the next attempt starts when the previous one fails or
 * after the attempt delay, whichever is first), and returns the first connection that is fully
 * verified: TLS 1.3 with ALPN `tsunagu/1`, the peer's certificate matching a signalled fingerprint,
 * our HELLO answered by ACCEPT. The others are destroyed.
 *
 * A certificate that does not match is refused (REFUSE certificate, closed) and the race goes on — the
 * real peer may be at another candidate. A refusal from the verified peer ends the race at once: the
 * peer refusing our certificate (possible interception) or our session. When nothing succeeds, the
 * error is the most serious failure seen.
 */
export function connectChannel(options: ConnectOptions): Promise<Channel> {
  const log = options.log ?? silentLog;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const delay = options.attemptDelayMs ?? ATTEMPT_DELAY_MS;
  const started = performance.now();
  if (!CHANNEL_SESSION_ID.test(options.sessionId)) return Promise.reject(new TypeError('invalid session id'));
  const fingerprints = usableFingerprints(options.peer.fingerprints);
  if (fingerprints.length === 0)
    return Promise.reject(new ChannelError('sdp', 'the peer signalled no SHA-256/384/512 fingerprint'));
  const targets = connectOrder(options.peer.candidates, options.localAddresses ?? allLocalAddresses());
  if (targets.length === 0)
    return Promise.reject(
      new ChannelError('no-candidates', 'the peer signalled no address this end can connect to'),
    );

  return new Promise<Channel>((resolve, reject) => {
    const sockets = new Set<TLSSocket>();
    const failures: ChannelError[] = [];
    let next = 0;
    let inFlight = 0;
    let done = false;
    let delayTimer: NodeJS.Timeout | undefined;

    const finish = (result: Channel | ChannelError) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      clearTimeout(delayTimer);
      options.signal?.removeEventListener('abort', onAbort);
      for (const s of sockets) if (!(result instanceof Channel) || s !== result.stream) s.destroy();
      sockets.clear();
      if (result instanceof Channel) {
        log.info(
          {
            remote: formatEndpoint(result.remote.address, result.remote.port),
            role: 'active',
            setupMs: Math.round(result.setupMs),
            code: result.verificationCode,
          },
          'channel established',
        );
        resolve(result);
      } else reject(result);
    };
    const deadline = setTimeout(() => {
      const worst = mostSevere(failures);
      finish(
        worst && isVerdict(worst)
          ? worst
          : new ChannelError(
              'timeout',
              `no verified connection to the peer within ${timeoutMs} ms (${next} of ${targets.length} candidates tried${worst ? `; ${worst.message}` : ''})`,
            ),
      );
    }, timeoutMs);
    const onAbort = () => finish(new ChannelError('cancelled', 'cancelled'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) return onAbort();

    const startNext = () => {
      clearTimeout(delayTimer);
      if (done || next >= targets.length) return;
      const target = targets[next++]!;
      inFlight++;
      attempt(target).then(
        (channel) => finish(channel),
        (e: unknown) => {
          inFlight--;
          const err =
            e instanceof ChannelError
              ? e
              : new ChannelError(
                  'unreachable',
                  `${formatEndpoint(target.address, target.port)}: ${describe(e)}`,
                  { cause: e },
                );
          failures.push(err);
          log.debug(
            { candidate: formatEndpoint(target.address, target.port), error: err.message },
            'channel attempt failed',
          );
          if (raceEnding.has(err)) return finish(err);
          if (next < targets.length) startNext();
          else if (inFlight === 0) finish(mostSevere(failures)!);
        },
      );
      if (next < targets.length) delayTimer = setTimeout(startNext, delay);
    };

    /** One connection: resolves to the verified Channel; rejects with a ChannelError (`fatal` ends the race). */
    const attempt = (target: ChannelCandidate): Promise<Channel> =>
      new Promise<Channel>((ok, fail) => {
        const remote = formatEndpoint(target.address, target.port);
        const tls = connect({
          host: target.address,
          port: target.port,
          secureContext: options.credentials.secureContext,
          ALPNProtocols: [CHANNEL_ALPN],
          // Self-signed by design: the fingerprint check below replaces chain and name checks.
          rejectUnauthorized: false,
          checkServerIdentity: () => undefined,
        });
        sockets.add(tls);
        const onError = (e: Error) =>
          fail(new ChannelError('unreachable', `${remote}: ${describe(e)}`, { remote, cause: e }));
        tls.once('error', onError);
        tls.once('close', () =>
          fail(new ChannelError('unreachable', `${remote}: connection closed`, { remote })),
        );
        tls.once('secureConnect', () => {
          if (done) return;
          tls.off('error', onError);
          tls.on('error', () => undefined);
          if (tls.getProtocol() !== 'TLSv1.3' || tls.alpnProtocol !== CHANNEL_ALPN) {
            refuseAndClose(tls, 'protocol');
            return fail(
              new ChannelError(
                'protocol',
                `${remote} is not a Tsunagu channel peer (TLS 1.3, ALPN ${CHANNEL_ALPN})`,
                { remote },
              ),
            );
          }
          const cert = tls.getPeerX509Certificate();
          if (!cert || !certificateMatches(cert, fingerprints)) {
            refuseAndClose(tls, 'certificate');
            const err = localMismatch(remote, cert?.fingerprint256);
            log.warn(
              { remote, presented: cert?.fingerprint256, error: err.message },
              'channel connection refused',
            );
            return fail(err);
          }
          const untrusted = options.verifyPeer?.(cert);
          if (untrusted !== undefined) {
            refuseAndClose(tls, 'certificate');
            return fail(
              new ChannelError('untrusted-certificate', `refused ${remote}: ${untrusted}`, {
                detectedBy: 'local',
                remote,
              }),
            );
          }
          sendBindingMessage(tls, { type: 'hello', session: options.sessionId });
          readBindingMessage(tls, Math.max(1, timeoutMs - (performance.now() - started)), remote).then(
            (msg) => {
              if (msg.type === 'accept') {
                sockets.delete(tls);
                return ok(
                  new Channel(
                    tls,
                    'active',
                    options.sessionId,
                    options.credentials.fingerprint,
                    cert.fingerprint256,
                    performance.now() - started,
                  ),
                );
              }
              tls.destroy();
              if (msg.type === 'refuse' && msg.reason === 'certificate')
                return fail(fatal(peerMismatch(remote)));
              if (msg.type === 'refuse' && msg.reason === 'session')
                return fail(
                  fatal(
                    new ChannelError(
                      'session-mismatch',
                      `the peer at ${remote} refused the connection: it is waiting for another channel session`,
                      { remote },
                    ),
                  ),
                );
              if (msg.type === 'refuse' && msg.reason === 'duplicate')
                return fail(
                  new ChannelError('protocol', `${remote}: the peer accepted another connection first`, {
                    remote,
                  }),
                );
              return fail(
                new ChannelError('protocol', `${remote} answered HELLO with ${msg.type}`, { remote }),
              );
            },
            (e: unknown) => {
              tls.destroy();
              fail(e);
            },
          );
        });
      });

    startNext();
  });
}

/** Refusals from the verified peer: every other candidate leads to the same peer, so the race ends. */
const raceEnding = new WeakSet<ChannelError>();

function fatal(e: ChannelError): ChannelError {
  raceEnding.add(e);
  return e;
}
