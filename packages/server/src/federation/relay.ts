import { CONTACTS_EVENT, KEYS_EVENT } from '@tsunagu/protocol';
import { fingerprint } from '../ca/index.js';
import { eventPackage, type SipRequest } from '../sip/message.js';
import type { ServerContext } from '../proxy/context.js';
import type { Identity, PeerIdentity } from '../transport/connection.js';

/**
 * What this server checks in a peer's NOTIFY before relaying it to one of its own users: a contact
 * list keeps only the people *our* policy also lets the user reach (both policies must allow, DESIGN.md
 * "Several servers"); a key list's CA certificate is kept only when it is the CA the admin configured
 * for that peer — that is how a terminal gets the other domain's CA through the path, vouched for by
 * its own server.
 */
export function screenPeerNotify(
  ctx: ServerContext,
  req: SipRequest,
  peer: PeerIdentity,
  /** Our user the NOTIFY goes to, as their own connection proved it (never the peer's To). */
  subscriber: Identity | undefined,
): void {
  const event = eventPackage(req);
  if (event !== CONTACTS_EVENT && event !== KEYS_EVENT) return;
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(req.body.toString('utf8')) as Record<string, unknown>;
    if (typeof doc !== 'object' || doc === null) return;
  } catch {
    return; // the terminal refuses an unreadable body itself
  }
  if (event === CONTACTS_EVENT) {
    delete doc.domains; // which domains to ask is ours to say, never a peer's
    const src = subscriber?.aor.replace(/^sips?:/i, '');
    const policy = ctx.policy();
    // Each entry is the peer's to fill: a null or a number among them is dropped, not dereferenced.
    const contacts = Array.isArray(doc.contacts) ? (doc.contacts as unknown[]) : [];
    doc.contacts = contacts.filter(
      (c) =>
        typeof c === 'object' &&
        c !== null &&
        'aor' in c &&
        typeof c.aor === 'string' &&
        c.aor.toLowerCase().endsWith(`@${peer.domain}`) &&
        src !== undefined &&
        policy.canReach(src, c.aor.replace(/^sips?:/i, '')),
    );
  } else if (doc.ca !== undefined) {
    const configured = ctx.peers.get(peer.domain)?.caFingerprint;
    let actual: string | undefined;
    try {
      actual = fingerprint(String(doc.ca));
    } catch {
      actual = undefined; // not a certificate
    }
    if (!configured || actual !== configured) {
      ctx.log.warn(
        { peer: peer.domain },
        'peer sent a CA certificate that is not its configured one: removed',
      );
      delete doc.ca;
    }
  }
  req.body = Buffer.from(JSON.stringify(doc), 'utf8');
}
