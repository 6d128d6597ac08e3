/**
 * - `fingerprint-mismatch`: a certificate did not match the fingerprint that came through the
 *   authenticated signalling — the test against a man in the middle. `detectedBy` says whether this
 *   end saw it, or the peer refused our certificate.
 * - `untrusted-certificate`: the fingerprint matched, but a CA-issued certificate does not chain to
 *   the deployment CA, has expired, or does not name the peer (PeerCertificateCheck).
 * - `session-mismatch`: the connection (or the answer) belongs to another channel session.
 * - `protocol`: the other end did not speak the channel protocol (ALPN, TLS version, binding lines).
 * - `timeout`: no verified connection before the deadline.
 * - `unreachable`: every candidate failed at the network level.
 * - `no-candidates`: nothing to connect to, or nothing to listen on.
 * - `role`: the `a=setup` values cannot work (e.g. neither end accepts inbound connections).
 * - `sdp`: the peer's offer or answer is not a usable channel description.
 * - `cancelled`: the caller gave up (abort signal, cancel()).
 */
export type ChannelErrorCode =
  | 'fingerprint-mismatch'
  | 'untrusted-certificate'
  | 'session-mismatch'
  | 'protocol'
  | 'timeout'
  | 'unreachable'
  | 'no-candidates'
  | 'role'
  | 'sdp'
  | 'cancelled';

/** The words people see when a certificate does not match (issue 3: "an error that names the risk"). */
export const INTERCEPTION_WARNING = 'certificate does not match the one signalled — possible interception';

export class ChannelError extends Error {
  override readonly name = 'ChannelError';
  constructor(
    readonly code: ChannelErrorCode,
    message: string,
    readonly details: { detectedBy?: 'local' | 'peer'; remote?: string; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
  }
}

/** Which of several failures to report: the one that matters most to the person. */
const SEVERITY: Record<ChannelErrorCode, number> = {
  'fingerprint-mismatch': 9,
  'untrusted-certificate': 9,
  'session-mismatch': 8,
  role: 7,
  sdp: 7,
  protocol: 6,
  cancelled: 5,
  timeout: 4,
  unreachable: 3,
  'no-candidates': 2,
};

export function mostSevere(errors: readonly ChannelError[]): ChannelError | undefined {
  let best: ChannelError | undefined;
  for (const e of errors) if (!best || SEVERITY[e.code] > SEVERITY[best.code]) best = e;
  return best;
}

/**
 * A refusal that decides the outcome when the deadline passes: the certificate is not the signalled
 * one, or the connection belongs to another session. A plain timeout would hide it.
 */
export function isVerdict(e: ChannelError): boolean {
  return (
    e.code === 'fingerprint-mismatch' || e.code === 'untrusted-certificate' || e.code === 'session-mismatch'
  );
}

export function localMismatch(remote: string, presented: string | undefined): ChannelError {
  return new ChannelError(
    'fingerprint-mismatch',
    `the peer's ${INTERCEPTION_WARNING} (connection from/to ${remote} presented ${presented ?? 'no certificate'})`,
    { detectedBy: 'local', remote },
  );
}

export function peerMismatch(remote: string): ChannelError {
  return new ChannelError(
    'fingerprint-mismatch',
    `the peer refused our certificate: to the peer, our ${INTERCEPTION_WARNING} (${remote})`,
    { detectedBy: 'peer', remote },
  );
}
