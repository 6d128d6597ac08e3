import { header, headerValues, type Header, type SipRequest, type SipResponse } from '../sip/message.js';
import { createResponse } from '../sip/response.js';
import { formatNameAddr, parseNameAddr, parseUri } from '../sip/uri.js';
import type { Connection, Identity } from '../transport/connection.js';
import type { ServerContext } from '../proxy/context.js';
import type { Binding } from './location.js';
import { normaliseInstance } from '../store/names.js';

/** How long a terminal may stay silent: it must send a CRLF keepalive at least this often (RFC 5626 §4.4.1). */
export const FLOW_TIMER_SECONDS = 120;

interface ContactChange {
  key: string;
  contact: string;
  instance: string | undefined;
  expires: number;
}

/**
 * REGISTER (RFC 3261 §10.3 with RFC 5626 flows): authenticates the device, then binds each Contact to
 * the connection the REGISTER came on. Returns the response to send.
 */
export function handleRegister(ctx: ServerContext, conn: Connection, req: SipRequest): SipResponse {
  const ruri = parseUri(req.uri);
  if (!ruri || ruri.user || !ctx.localHosts.has(ruri.host)) {
    return createResponse(req, 404, [], { reason: 'Not Our Domain' });
  }
  const to = parseNameAddr(header(req, 'To') ?? '');
  const toUri = to && parseUri(to.uri);
  if (!toUri?.user || toUri.host !== ctx.domain) {
    return createResponse(req, 404, [], { reason: 'Not Our Domain' });
  }
  const user = toUri.user.toLowerCase();

  let identity: Identity;
  if (conn.identity?.certificate) {
    // The connection's client certificate already proved who it is: no digest round trip.
    identity = conn.identity;
    if (identity.user !== user)
      return createResponse(req, 403, [], { reason: 'Certificate Names Another User' });
  } else {
    const auth = ctx.auth.check(conn, req, 'www', user);
    if ('response' in auth) return auth.response;
    identity = auth.identity;
  }
  if (conn.identity && conn.identity.user !== identity.user) {
    // One connection speaks for one user: a flow cannot be shared by two identities.
    return createResponse(req, 403, [], { reason: 'Connection Belongs To Another User' });
  }
  conn.identity = identity;

  const changes = parseContacts(ctx, req);
  if ('response' in changes) return changes.response;
  const devices = ctx.directory.devices(user);
  for (const c of changes.wildcard ? [] : changes.list) {
    if (!c.instance) continue;
    const instance = storedInstance(c.instance);
    if (devices.some((d) => d.revoked && d.instance === instance))
      return createResponse(req, 403, [], { reason: 'Device Revoked' });
    if (identity.instance && instance !== identity.instance)
      return createResponse(req, 403, [], { reason: 'Instance Does Not Match Certificate' });
  }

  const now = Date.now();
  // A client that promised RFC 5626 keepalives is held to the idle timeout; one that did not keeps
  // its flow open as long as its registration lasts.
  const outbound = headerValues(req, 'Supported').some((v) => v.toLowerCase() === 'outbound');
  const callId = header(req, 'Call-ID') ?? '';
  const seq = Number((header(req, 'CSeq') ?? '0').trim().split(/\s+/)[0]);
  if (changes.wildcard) {
    ctx.location.removeUser(user);
  } else {
    for (const c of changes.list) {
      if (c.expires === 0) {
        ctx.location.remove(user, c.key);
        continue;
      }
      // A refresh on the same flow changes nothing worth a database write.
      const prior = ctx.location.get(user, c.key);
      const deviceId =
        prior && prior.conn === conn
          ? prior.deviceId
          : ctx.directory.deviceSeen(user, identity.deviceId, c.instance, conn.remote.address);
      const binding: Binding = {
        key: c.key,
        user,
        deviceId,
        instance: c.instance,
        contact: c.contact,
        expiresAt: now + c.expires * 1000,
        conn,
        observed: conn.remote,
        callId,
        cseq: seq,
      };
      ctx.location.put(binding);
      if (!outbound) conn.allowSilence(c.expires * 1000 + 30_000);
    }
  }

  // The 200 lists every current binding of the AOR with its remaining time (§10.3 step 8).
  const extra: Header[] = ctx.location.bindings(user).map((b) => ({
    name: 'Contact',
    value: formatNameAddr({
      uri: b.contact,
      params: {
        expires: String(Math.max(0, Math.round((b.expiresAt - now) / 1000))),
        ...(b.instance ? { '+sip.instance': `"${b.instance}"` } : {}),
      },
    }),
  }));
  extra.push({ name: 'Date', value: new Date(now).toUTCString() });
  if (outbound) {
    extra.push({ name: 'Flow-Timer', value: String(FLOW_TIMER_SECONDS) });
  }
  ctx.log.debug(
    { user, device: identity.deviceId, contacts: changes.wildcard ? '*' : changes.list.length },
    'registered',
  );
  return createResponse(req, 200, extra);
}

function parseContacts(
  ctx: ServerContext,
  req: SipRequest,
): { wildcard: boolean; list: ContactChange[] } | { response: SipResponse } {
  const { minExpires, maxExpires, defaultExpires } = ctx.limits.registration;
  const expiresHeader = header(req, 'Expires');
  const headerExpires = expiresHeader === undefined ? undefined : Number(expiresHeader);
  if (headerExpires !== undefined && (!Number.isInteger(headerExpires) || headerExpires < 0)) {
    return { response: createResponse(req, 400, [], { reason: 'Bad Expires' }) };
  }
  const values = headerValues(req, 'Contact');
  if (values.length === 1 && values[0] === '*') {
    if (headerExpires !== 0)
      return { response: createResponse(req, 400, [], { reason: 'Wildcard Needs Expires 0' }) };
    return { wildcard: true, list: [] };
  }
  if (values.length > ctx.limits.maxContactsPerRegister) {
    return { response: createResponse(req, 403, [], { reason: 'Too Many Contacts' }) };
  }
  const list: ContactChange[] = [];
  for (const v of values) {
    const na = parseNameAddr(v);
    const uri = na && parseUri(na.uri);
    if (!na || !uri) return { response: createResponse(req, 400, [], { reason: 'Bad Contact' }) };
    const raw = na.params.expires ?? undefined;
    let expires = raw === undefined || raw === null ? (headerExpires ?? defaultExpires) : Number(raw);
    if (!Number.isInteger(expires) || expires < 0) {
      return { response: createResponse(req, 400, [], { reason: 'Bad Expires' }) };
    }
    if (expires > 0 && expires < minExpires) {
      return {
        response: createResponse(req, 423, [{ name: 'Min-Expires', value: String(minExpires) }]),
      };
    }
    expires = Math.min(expires, maxExpires);
    const instanceParam = na.params['+sip.instance'];
    const instance = instanceParam ? instanceParam.replace(/^"|"$/g, '') : undefined;
    if (instance && instance.length > 200) {
      return { response: createResponse(req, 400, [], { reason: 'Bad Instance' }) };
    }
    // A device is its instance id; a client without one is its Contact URI (RFC 5626 §6).
    const key = instance ? `instance:${instance}` : `contact:${na.uri}`;
    list.push({ key, contact: na.uri, instance, expires });
  }
  return { wildcard: false, list };
}

/** `<urn:uuid:…>` as the store keeps it (normaliseInstance), or undefined when it could not be one. */
function storedInstance(instance: string): string | undefined {
  try {
    return normaliseInstance(instance);
  } catch {
    return undefined;
  }
}
