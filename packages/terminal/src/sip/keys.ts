import { KEYS_EVENT, KEYS_TYPE, type KeyEntry, type KeysView } from '@tsunagu/protocol';
import { X509Certificate } from 'node:crypto';
import type { URI, UserAgent } from 'sip.js';
import { uriSans } from '../identity/certificate.js';

/**
 * The key directory (the seed's terminal 12): fetches another member's current certificates and public
 * keys through our own authenticated signalling — a fetch-only SUBSCRIBE (Expires: 0, RFC 6665 §4.4.3)
 * to their AOR for the `tsunagu-keys` event, answered by one NOTIFY. The server applies the same policy
 * as to an INVITE: someone hidden from us and someone who does not exist both answer 404.
 */
const MAX_KEYS = 256;
const KEY_FIELDS = ['device', 'name', 'fingerprint', 'notAfter', 'certificate', 'publicKey'] as const;

export class KeysError extends Error {
  override readonly name = 'KeysError';
  constructor(
    readonly code: 'not-found' | 'failed',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Parses a `tsunagu-keys` body and checks each certificate: it must be the one its fingerprint names,
 * be issued by the CA, and name `aor`; its public key must be the one listed. Entries that fail are
 * dropped (a server bug must not hand us a key for someone else).
 *
 * The CA is `caPem` (ours) for a member of our domain. For a peer domain's member pass undefined: the
 * list must carry that domain's CA certificate (`ca`), which our server relays only when it is the CA
 * its admin configured for the peer; it is returned as the view's `ca`.
 */
export function parseKeys(body: string, aor: string, caPem: string | undefined): KeysView | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null) return undefined;
  const d = doc as Record<string, unknown>;
  if (d.version !== 1 || d.aor !== aor || !Array.isArray(d.keys) || d.keys.length > MAX_KEYS)
    return undefined;
  const ca = caPem === undefined ? peerCa(d.ca) : new X509Certificate(caPem);
  if (!ca) return undefined;
  const keys: KeyEntry[] = [];
  for (const k of d.keys as unknown[]) {
    if (typeof k !== 'object' || k === null) return undefined;
    const e = k as Record<string, unknown>;
    if (!KEY_FIELDS.every((f) => typeof e[f] === 'string')) return undefined;
    const key = Object.fromEntries(KEY_FIELDS.map((f) => [f, e[f]])) as unknown as KeyEntry;
    try {
      const cert = new X509Certificate(key.certificate);
      const spki = cert.publicKey.export({ type: 'spki', format: 'pem' }).toString();

      if (
        `sha256:${cert.fingerprint256}` === key.fingerprint &&
        cert.checkIssued(ca) &&
        cert.verify(ca.publicKey) &&
        uriSans(cert).includes(aor) &&
        spki.trim() === key.publicKey.trim()
      )
        keys.push(key);
    } catch {
      // not a certificate: dropped
    }
  }
  return { aor, keys, ...(caPem === undefined ? { ca: ca.toString() } : {}) };
}

/** A peer domain's CA certificate as a key list carries it: a CA certificate, signed by itself. */
function peerCa(pem: unknown): X509Certificate | undefined {
  if (typeof pem !== 'string' || pem.length > 16_384) return undefined;
  try {
    const ca = new X509Certificate(pem);
    return ca.ca && ca.checkIssued(ca) && ca.verify(ca.publicKey) ? ca : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Fetches `target`'s keys, checked against `caPem` (ours) or, when undefined, against the CA of
 * `target`'s domain that the list carries (see parseKeys). Rejects with KeysError('not-found') for
 * unknown and hidden alike.
 */
export function fetchKeys(
  ua: UserAgent,
  from: URI,
  target: URI,
  caPem: string | undefined,
  timeoutMs = 10_000,
): Promise<KeysView> {
  const aor = `sip:${target.user}@${target.host}`;
  const request = ua.userAgentCore.makeOutgoingRequestMessage('SUBSCRIBE', target, from, target, {}, [
    `Event: ${KEYS_EVENT}`,
    `Accept: ${KEYS_TYPE}`,
    'Expires: 0',
    `Contact: ${ua.contact.toString()}`,
  ]);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      outgoing.waitNotifyStop();
      outgoing.dispose();
      reject(new KeysError('failed', `no answer from the server for ${aor}'s keys`));
    }, timeoutMs);
    const outgoing = ua.userAgentCore.subscribe(request, {
      onNotify: ({ request: notify }) => {
        clearTimeout(timer);
        notify.accept();
        const entry = parseKeys(notify.message.body ?? '', aor, caPem);
        if (entry) resolve(entry);
        else
          reject(
            new KeysError(
              'failed',
              caPem === undefined
                ? `the key list for ${aor} came without a valid CA certificate of ${target.host}`
                : `the server sent an unreadable key list for ${aor}`,
            ),
          );
      },
      onNotifyTimeout: () => {
        clearTimeout(timer);
        reject(new KeysError('failed', `no key list for ${aor} arrived`));
      },
      onReject: (res) => {
        clearTimeout(timer);
        const status = res.message.statusCode ?? 500;
        reject(
          status === 404
            ? new KeysError('not-found', `${aor} is not a contact you can reach`)
            : new KeysError(
                'failed',
                `the server refused: ${status} ${res.message.reasonPhrase ?? ''}`.trim(),
              ),
        );
      },
    });
  });
}
