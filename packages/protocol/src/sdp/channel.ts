/**
 * The channel offer and answer (DESIGN.md "The channel offer"): a complete SDP session description
 * (RFC 4566) with exactly one media section for TLS over TCP:
 *
 * ```
 * v=0
 * o=- 3962519841 1 IN IP6 2001:db8::10
 * s=-
 * t=0 0
 * m=application 50123 TCP/TLS tsunagu
 * c=IN IP6 2001:db8::10
 * a=setup:actpass                                        RFC 4145 §4
 * a=connection:new                                       RFC 4145 §5
 * a=fingerprint:sha-256 4A:AD:…:1F                       RFC 8122 §5 (one or more)
 * a=candidate:1 1 TCP 2128609279 2001:db8::10 50123 typ host tcptype passive    RFC 6544 §4.5
 * a=tsunagu-session:Zq3v6y0m2bX1sH0kq9wJ2A               binds the TLS connection to this session
 * ```
 *
 * The session server appends an `srflx` candidate with the address it observed (./observed.ts); it
 * may come after `a=tsunagu-session`, so attributes are accepted in any order within a level.
 *
 * The parser is strict (every error names the line and what is wrong) and bounded (length, lines,
 * candidates, fingerprints). Pure TypeScript, no Node APIs.
 */
import { canonicalIp, ipFamily } from './address.js';
import { candidatePriority } from './observed.js';

export const CHANNEL_MEDIA = 'application';
export const CHANNEL_PROTO = 'TCP/TLS';
export const CHANNEL_FORMAT = 'tsunagu';
/** The port of an endpoint that will not listen: its m= line and its active candidates (RFC 4145 §4, RFC 6544 §4.5). */
export const DISCARD_PORT = 9;

/** RFC 4145 §4: which end opens the TCP connection. */
export type SetupAttribute = 'active' | 'passive' | 'actpass' | 'holdconn';
/** RFC 4145 §5: `existing` keeps the connection already open (a re-offer). */
export type ConnectionAttribute = 'new' | 'existing';
export type CandidateType = 'host' | 'srflx' | 'prflx' | 'relay';
/** RFC 6544 §4.5. */
export type TcpType = 'active' | 'passive' | 'so';

/** One `a=fingerprint` (RFC 8122 §5): `algorithm` lower case (`sha-256`), `value` upper-case hex pairs with colons. */
export interface ChannelFingerprint {
  readonly algorithm: string;
  readonly value: string;
}

/** One `a=candidate` (RFC 8839 §5.1 syntax with RFC 6544's `tcptype`); transport is always TCP. */
export interface ChannelCandidate {
  readonly foundation: string;
  readonly component: number;
  readonly priority: number;
  readonly address: string;
  readonly port: number;
  readonly type: CandidateType;
  readonly tcpType: TcpType;
  readonly relatedAddress?: string;
  readonly relatedPort?: number;
}

/** The `o=` line's fields other than network and address types. */
export interface ChannelOrigin {
  readonly username: string;
  readonly sessionId: string;
  readonly sessionVersion: string;
  readonly address: string;
}

/** A parsed channel offer or answer. */
export interface ChannelDescription {
  readonly origin: ChannelOrigin;
  /** The m= line's port: the default candidate's port, or 9 for an endpoint that will not listen. */
  readonly port: number;
  /** The effective `c=` address (media level, else session level). */
  readonly address: string;
  readonly setup: SetupAttribute;
  readonly connection: ConnectionAttribute;
  readonly fingerprints: readonly ChannelFingerprint[];
  readonly candidates: readonly ChannelCandidate[];
  /** `a=tsunagu-session`: the random id both ends check after the TLS handshake. */
  readonly session: string;
}

/** What {@link formatChannelSdp} needs; the rest is derived. */
export interface ChannelSdpInput {
  readonly setup: SetupAttribute;
  readonly connection?: ConnectionAttribute;
  readonly fingerprints: readonly ChannelFingerprint[];
  readonly candidates: readonly ChannelCandidate[];
  readonly session: string;
  /** Default: the first passive candidate's port, else 9. */
  readonly port?: number;
  /** Default: the first candidate's address. Required when there are no candidates. */
  readonly address?: string;
  /** Default: username `-`, a random session id, version 1, the c= address. */
  readonly origin?: Partial<ChannelOrigin>;
}

export interface ChannelSdpLimits {
  /** Characters in the whole description. */
  readonly maxLength: number;
  readonly maxLines: number;
  readonly maxLineLength: number;
  readonly maxCandidates: number;
  readonly maxFingerprints: number;
}

export const CHANNEL_SDP_LIMITS: ChannelSdpLimits = Object.freeze({
  maxLength: 16_384,
  maxLines: 128,
  maxLineLength: 1024,
  maxCandidates: 32,
  maxFingerprints: 8,
});

export class ChannelSdpError extends Error {
  override readonly name = 'ChannelSdpError';
  constructor(
    message: string,
    /** 1-based line number in the description, when the error is about one line. */
    readonly line?: number,
  ) {
    super(message);
  }
}

/** A session id: 16 to 128 base64url characters (we make 22: 128 random bits). */
export const CHANNEL_SESSION_ID = /^[A-Za-z0-9_-]{16,128}$/;

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** A fresh `a=tsunagu-session` value: 128 random bits, base64url (Web Crypto, so browsers too). */
export function newChannelSessionId(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += BASE64URL[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += BASE64URL[(acc << (6 - bits)) & 63];
  return out;
}

/** RFC 8122 §5 hash lengths (bytes) of the hash functions it names. */
const HASH_LENGTHS: Readonly<Record<string, number>> = {
  'sha-1': 20,
  'sha-224': 28,
  'sha-256': 32,
  'sha-384': 48,
  'sha-512': 64,
  md5: 16,
  md2: 16,
};

const TOKEN = /^[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+$/;
const FINGERPRINT_VALUE = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*$/;
const FOUNDATION = /^[A-Za-z0-9+/]{1,32}$/;
const DIGITS = /^\d+$/;
const MAX_PRIORITY = 2 ** 31 - 1;
const MAX_EXTENSIONS = 8;

/**
 * RFC 6544 §4.2 direction preferences for host candidates (active 6 > passive 4 > so 2), shifted into
 * the top 3 bits of the 16-bit local preference.
 */
const HOST_DIRECTION_PREFERENCE: Readonly<Record<TcpType, number>> = { active: 6, passive: 4, so: 2 };
const HOST_TYPE_PREFERENCE = 126;

/**
 * Host candidates for `endpoints`, in the given order of preference, with RFC 8445 / RFC 6544
 * priorities. Active candidates get port 9 (RFC 6544 §4.5); give each address once.
 */
export function hostCandidates(
  endpoints: readonly { address: string; port: number }[],
  tcpType: TcpType,
): ChannelCandidate[] {
  return endpoints.map((e, i) => ({
    foundation: String(i + 1),
    component: 1,
    priority: candidatePriority(
      HOST_TYPE_PREFERENCE,
      (HOST_DIRECTION_PREFERENCE[tcpType] << 13) | Math.max(0, 8191 - i),
    ),
    address: e.address,
    port: tcpType === 'active' ? DISCARD_PORT : e.port,
    type: 'host',
    tcpType,
  }));
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** Builds a complete channel offer or answer (CRLF line endings). Throws ChannelSdpError on bad input. */
export function formatChannelSdp(
  input: ChannelSdpInput,
  limits: ChannelSdpLimits = CHANNEL_SDP_LIMITS,
): string {
  const { setup, fingerprints, candidates, session } = input;
  const connection = input.connection ?? 'new';
  if (!['active', 'passive', 'actpass', 'holdconn'].includes(setup))
    throw new ChannelSdpError(`setup must be active, passive, actpass or holdconn (got ${String(setup)})`);
  if (connection !== 'new' && connection !== 'existing')
    throw new ChannelSdpError(`connection must be new or existing (got ${String(connection)})`);
  if (!CHANNEL_SESSION_ID.test(session))
    throw new ChannelSdpError('session id must be 16 to 128 base64url characters');
  if (fingerprints.length === 0) throw new ChannelSdpError('at least one fingerprint is required');
  if (fingerprints.length > limits.maxFingerprints)
    throw new ChannelSdpError(`too many fingerprints (${fingerprints.length} > ${limits.maxFingerprints})`);
  if (candidates.length > limits.maxCandidates)
    throw new ChannelSdpError(`too many candidates (${candidates.length} > ${limits.maxCandidates})`);
  const fpLines = fingerprints.map((f) => {
    const checked = checkFingerprint(f.algorithm, f.value);
    if (typeof checked === 'string') throw new ChannelSdpError(`fingerprint: ${checked}`);
    return `a=fingerprint:${checked.algorithm} ${checked.value}`;
  });
  const candLines = candidates.map((c) => {
    const line = formatCandidate(c);
    // Round-trip through the parser: what we send is exactly what we accept.
    const parsed = parseCandidate(line.slice('a=candidate:'.length));
    if (typeof parsed === 'string') throw new ChannelSdpError(`candidate ${line}: ${parsed}`);
    return line;
  });
  const address = input.address ?? candidates[0]?.address;
  if (address === undefined) throw new ChannelSdpError('an address is required when there are no candidates');
  const family = ipFamily(address);
  if (family === 0)
    throw new ChannelSdpError(`address must be an IP address (got ${JSON.stringify(address)})`);
  const port =
    input.port ?? candidates.find((c) => c.tcpType === 'passive' || c.tcpType === 'so')?.port ?? DISCARD_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new ChannelSdpError(`port must be 1 to 65535 (got ${port})`);
  const origin = {
    username: input.origin?.username ?? '-',
    sessionId: input.origin?.sessionId ?? randomOriginId(),
    sessionVersion: input.origin?.sessionVersion ?? '1',
    address: input.origin?.address ?? address,
  };
  if (!/^[\x21-\x7e]+$/.test(origin.username)) throw new ChannelSdpError('origin username must be a token');
  if (!DIGITS.test(origin.sessionId) || !DIGITS.test(origin.sessionVersion))
    throw new ChannelSdpError('origin session id and version must be decimal numbers');
  const originFamily = ipFamily(origin.address);
  if (originFamily === 0) throw new ChannelSdpError('origin address must be an IP address');
  const lines = [
    'v=0',
    `o=${origin.username} ${origin.sessionId} ${origin.sessionVersion} IN IP${originFamily} ${origin.address}`,
    's=-',
    't=0 0',
    `m=${CHANNEL_MEDIA} ${port} ${CHANNEL_PROTO} ${CHANNEL_FORMAT}`,
    `c=IN IP${family} ${address}`,
    `a=setup:${setup}`,
    `a=connection:${connection}`,
    ...fpLines,
    ...candLines,
    `a=tsunagu-session:${session}`,
  ];
  return lines.join('\r\n') + '\r\n';
}

function formatCandidate(c: ChannelCandidate): string {
  let s = `a=candidate:${c.foundation} ${c.component} TCP ${c.priority} ${c.address} ${c.port} typ ${c.type}`;
  if (c.relatedAddress !== undefined || c.relatedPort !== undefined)
    s += ` raddr ${c.relatedAddress ?? ''} rport ${c.relatedPort ?? ''}`;
  return `${s} tcptype ${c.tcpType}`;
}

function randomOriginId(): string {
  // RFC 4566 §5.2 suggests an NTP timestamp; any unique number will do. 53 random bits.
  const [hi, lo] = globalThis.crypto.getRandomValues(new Uint32Array(2)) as unknown as [number, number];
  return String((hi & 0x1fffff) * 2 ** 32 + lo);
}

// ---------------------------------------------------------------------------------------------
// Parsing

export type ChannelSdpKind = 'offer' | 'answer';

/**
 * Parses a channel offer or answer. `kind` matters only for a missing `a=setup` (RFC 4145 §4.1:
 * `active` in an offer, `passive` in an answer) and for what an answer may say (`active` or
 * `passive`). Throws ChannelSdpError naming the line and the problem.
 */
export function parseChannelSdp(
  sdp: string,
  kind: ChannelSdpKind,
  limits: ChannelSdpLimits = CHANNEL_SDP_LIMITS,
): ChannelDescription {
  if (typeof sdp !== 'string' || sdp.length === 0) throw new ChannelSdpError('empty session description');
  if (sdp.length > limits.maxLength)
    throw new ChannelSdpError(
      `session description too long (${sdp.length} > ${limits.maxLength} characters)`,
    );
  const lines = sdp.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  if (lines.length > limits.maxLines)
    throw new ChannelSdpError(`too many lines (${lines.length} > ${limits.maxLines})`);

  interface Level {
    c?: string;
    setup?: SetupAttribute;
    connection?: ConnectionAttribute;
    fingerprints: ChannelFingerprint[];
    session?: string;
    seen: Set<string>;
  }
  const newLevel = (): Level => ({ fingerprints: [], seen: new Set() });
  const sessionLevel = newLevel();
  let media: (Level & { port: number; candidates: ChannelCandidate[] }) | undefined;
  let origin: ChannelOrigin | undefined;
  let sawTime = false;
  let mediaCount = 0;
  let candidateCount = 0;

  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const line = lines[i]!;
    const fail = (msg: string): never => {
      throw new ChannelSdpError(`line ${n} (${preview(line)}): ${msg}`, n);
    };
    if (line.length > limits.maxLineLength) fail(`line longer than ${limits.maxLineLength} characters`);
    if (/[\x00-\x1f\x7f]/.test(line)) fail('control character');
    const m = /^([a-z])=(.*)$/.exec(line);
    if (!m) fail(line === '' ? 'empty line' : 'expected <type>=<value>');
    const type = m![1]!;
    const value = m![2]!;

    // RFC 4566 §5: v, o, s come first and in that order.
    if (i < 3) {
      const want = 'vos'[i]!;
      if (type !== want) fail(`expected an ${want}= line here (RFC 4566 §5 order v=, o=, s=)`);
    }
    switch (type) {
      case 'v':
        if (i !== 0) fail('v= may appear only once, first');
        if (value !== '0') fail(`unsupported SDP version ${JSON.stringify(value)} (expected 0)`);
        continue;
      case 'o': {
        if (i !== 1) fail('o= may appear only once, second');
        const f = value.split(' ');
        if (f.length !== 6) fail('expected o=<username> <sess-id> <sess-version> IN <IP4|IP6> <address>');
        const [username, sessionId, sessionVersion, net, addrType, address] = f as [
          string,
          string,
          string,
          string,
          string,
          string,
        ];
        if (!/^[\x21-\x7e]+$/.test(username)) fail('origin username must be a non-empty token');
        if (!DIGITS.test(sessionId) || sessionId.length > 20) fail('origin session id must be a number');
        if (!DIGITS.test(sessionVersion) || sessionVersion.length > 20)
          fail('origin session version must be a number');
        if (net !== 'IN') fail(`network type must be IN (got ${net})`);
        if (addrType !== 'IP4' && addrType !== 'IP6')
          fail(`address type must be IP4 or IP6 (got ${addrType})`);
        // The origin address may be a host name (RFC 4566 §5.2); only its shape is checked.
        if (!/^[\x21-\x7e]+$/.test(address)) fail('origin address must not be empty');
        origin = { username, sessionId, sessionVersion, address };
        continue;
      }
      case 's':
        if (i !== 2) fail('s= may appear only once, third');
        if (value === '') fail('s= must not be empty (use s=-)');
        continue;
      case 't':
        if (media) fail('t= belongs to the session level, before m=');
        if (!/^\d+ \d+$/.test(value)) fail('expected t=<start> <stop>');
        sawTime = true;
        continue;
      case 'r':
      case 'z':
      case 'u':
      case 'e':
      case 'p':
        if (media) fail(`${type}= belongs to the session level, before m=`);
        continue;
      case 'i':
      case 'b':
      case 'k':
        continue;
      case 'm': {
        if (!sawTime) fail('t= must come before the first m= (RFC 4566 §5)');
        mediaCount++;
        if (mediaCount > 1) fail('a channel description has exactly one m= section');
        const f = value.split(' ');
        if (f.length < 4) fail('expected m=<media> <port> <proto> <fmt>');
        const [mediaType, portText, proto, ...fmts] = f as [string, string, string, ...string[]];
        if (mediaType !== CHANNEL_MEDIA) fail(`media must be ${CHANNEL_MEDIA} (got ${mediaType})`);
        if (proto.toUpperCase() !== CHANNEL_PROTO) fail(`proto must be ${CHANNEL_PROTO} (got ${proto})`);
        if (fmts.length !== 1 || fmts[0] !== CHANNEL_FORMAT) fail(`format must be ${CHANNEL_FORMAT}`);
        const port = parsePort(portText);
        if (port === undefined) fail(`invalid port ${JSON.stringify(portText)}`);
        if (port === 0) fail('the channel stream is rejected (port 0, RFC 3264 §6)');
        media = { ...newLevel(), port: port!, candidates: [] };
        continue;
      }
      case 'c': {
        const level = media ?? sessionLevel;
        if (level.c !== undefined) fail('c= appears twice at this level');
        const f = value.split(' ');
        if (f.length !== 3 || f[0] !== 'IN') fail('expected c=IN <IP4|IP6> <address>');
        const [, addrType, address] = f as [string, string, string];
        if (addrType !== 'IP4' && addrType !== 'IP6')
          fail(`address type must be IP4 or IP6 (got ${addrType})`);
        if (address.includes('/')) fail('multicast addresses (TTL / count) are not allowed');
        const family = ipFamily(address);
        if (family === 0) fail(`connection address must be an IP address (got ${JSON.stringify(address)})`);
        if (`IP${family}` !== addrType) fail(`address ${address} is not an ${addrType} address`);
        level.c = address;
        continue;
      }
      case 'a': {
        const level = media ?? sessionLevel;
        const colon = value.indexOf(':');
        const name = colon < 0 ? value : value.slice(0, colon);
        const arg = colon < 0 ? undefined : value.slice(colon + 1);
        if (!TOKEN.test(name)) fail('attribute name must be a token');
        const single = (what: string) => {
          if (level.seen.has(what)) fail(`a=${what} appears twice at this level`);
          level.seen.add(what);
        };
        switch (name.toLowerCase()) {
          case 'setup': {
            single('setup');
            const v = arg?.toLowerCase();
            if (v !== 'active' && v !== 'passive' && v !== 'actpass' && v !== 'holdconn')
              fail('expected a=setup:active|passive|actpass|holdconn (RFC 4145 §4)');
            level.setup = v as SetupAttribute;
            break;
          }
          case 'connection': {
            single('connection');
            const v = arg?.toLowerCase();
            if (v !== 'new' && v !== 'existing') fail('expected a=connection:new|existing (RFC 4145 §5)');
            level.connection = v as ConnectionAttribute;
            break;
          }
          case 'fingerprint': {
            if (arg === undefined) fail('expected a=fingerprint:<hash-func> <fingerprint>');
            const parts = arg!.split(' ');
            if (parts.length !== 2) fail('expected a=fingerprint:<hash-func> <fingerprint> (RFC 8122 §5)');
            const checked = checkFingerprint(parts[0]!, parts[1]!);
            if (typeof checked === 'string') fail(checked);
            if (
              sessionLevel.fingerprints.length + (media?.fingerprints.length ?? 0) >=
              limits.maxFingerprints
            )
              fail(`too many fingerprints (more than ${limits.maxFingerprints})`);
            level.fingerprints.push(checked as ChannelFingerprint);
            break;
          }
          case 'candidate': {
            if (!media) fail('a=candidate belongs to the m= section');
            if (++candidateCount > limits.maxCandidates)
              fail(`too many candidates (more than ${limits.maxCandidates})`);
            const parsed = parseCandidate(arg ?? '');
            if (typeof parsed === 'string') fail(parsed);
            media!.candidates.push(parsed as ChannelCandidate);
            break;
          }
          case 'tsunagu-session': {
            single('tsunagu-session');
            if (arg === undefined || !CHANNEL_SESSION_ID.test(arg))
              fail('expected a=tsunagu-session:<16 to 128 base64url characters>');
            level.session = arg;
            break;
          }
          default:
          // RFC 4566 §5.13: unknown attributes are ignored.
        }
        continue;
      }
      default:
        fail(`unknown line type ${type}=`);
    }
  }

  if (lines.length < 3 || !origin) throw new ChannelSdpError('incomplete: v=, o= and s= are required');
  if (!sawTime) throw new ChannelSdpError('missing t= line');
  if (!media)
    throw new ChannelSdpError(`missing m=${CHANNEL_MEDIA} <port> ${CHANNEL_PROTO} ${CHANNEL_FORMAT}`);
  const address = media.c ?? sessionLevel.c;
  if (address === undefined) throw new ChannelSdpError('missing c= line (session or media level)');
  const fingerprints = media.fingerprints.length > 0 ? media.fingerprints : sessionLevel.fingerprints;
  if (fingerprints.length === 0) throw new ChannelSdpError('missing a=fingerprint (RFC 8122)');
  if (
    media.session !== undefined &&
    sessionLevel.session !== undefined &&
    media.session !== sessionLevel.session
  )
    throw new ChannelSdpError('a=tsunagu-session differs between session and media level');
  const session = media.session ?? sessionLevel.session;
  if (session === undefined) throw new ChannelSdpError('missing a=tsunagu-session');
  const setup = media.setup ?? sessionLevel.setup ?? (kind === 'offer' ? 'active' : 'passive');
  if (kind === 'answer' && setup !== 'active' && setup !== 'passive')
    throw new ChannelSdpError(`an answer must say a=setup:active or passive (got ${setup}, RFC 4145 §4.1)`);
  return {
    origin,
    port: media.port,
    address,
    setup,
    connection: media.connection ?? sessionLevel.connection ?? 'new',
    fingerprints,
    candidates: media.candidates,
    session,
  };
}

function preview(line: string): string {
  const clean = line.replace(/[\x00-\x1f\x7f]/g, '?');
  return clean.length > 60 ? `${clean.slice(0, 57)}...` : clean;
}

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function checkFingerprint(algorithm: string, value: string): ChannelFingerprint | string {
  const alg = algorithm.toLowerCase();
  if (!TOKEN.test(alg)) return 'hash function must be a token';
  if (!FINGERPRINT_VALUE.test(value)) return 'fingerprint must be hex byte pairs separated by colons';
  const bytes = (value.length + 1) / 3;
  const want = HASH_LENGTHS[alg];
  if (want !== undefined && bytes !== want) return `a ${alg} fingerprint has ${want} bytes (got ${bytes})`;
  if (bytes > 64) return 'fingerprint longer than 64 bytes';
  return { algorithm: alg, value: value.toUpperCase() };
}

/** Parses the value of an `a=candidate:` attribute; a string is the error. */
function parseCandidate(text: string): ChannelCandidate | string {
  const f = text.split(' ');
  if (f.length < 8)
    return 'expected <foundation> <component> TCP <priority> <address> <port> typ <type> … tcptype <active|passive|so>';
  const [foundation, componentText, transport, priorityText, address, portText, typ, type] = f as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (!FOUNDATION.test(foundation)) return 'foundation must be 1 to 32 characters of ALPHA / DIGIT / + / /';
  if (!/^\d{1,3}$/.test(componentText) || Number(componentText) !== 1)
    return 'component must be 1 (the channel has one component)';
  if (transport.toUpperCase() !== 'TCP') return `transport must be TCP (got ${transport})`;
  if (!/^\d{1,10}$/.test(priorityText) || Number(priorityText) < 1 || Number(priorityText) > MAX_PRIORITY)
    return `priority must be 1 to ${MAX_PRIORITY}`;
  if (ipFamily(address) === 0)
    return `candidate address must be an IP address (got ${JSON.stringify(address)})`;
  const port = parsePort(portText);
  if (port === undefined) return `invalid port ${JSON.stringify(portText)}`;
  if (typ !== 'typ') return 'expected "typ" after the port';
  if (type !== 'host' && type !== 'srflx' && type !== 'prflx' && type !== 'relay')
    return `candidate type must be host, srflx, prflx or relay (got ${type})`;
  let rest = f.slice(8);
  let relatedAddress: string | undefined;
  let relatedPort: number | undefined;
  if (rest[0] === 'raddr') {
    if (rest.length < 4 || rest[2] !== 'rport') return 'raddr must be followed by rport';
    if (ipFamily(rest[1]!) === 0) return 'raddr must be an IP address';
    relatedAddress = rest[1]!;
    relatedPort = parsePort(rest[3]!);
    if (relatedPort === undefined) return 'invalid rport';
    rest = rest.slice(4);
  } else if (rest[0] === 'rport') return 'rport without raddr';
  if (rest.length % 2 !== 0) return 'extension attributes come in name/value pairs';
  if (rest.length / 2 > MAX_EXTENSIONS) return `more than ${MAX_EXTENSIONS} extension attributes`;
  let tcpType: TcpType | undefined;
  for (let i = 0; i < rest.length; i += 2) {
    const name = rest[i]!;
    const value = rest[i + 1]!;
    if (!TOKEN.test(name) || !/^[\x21-\x7e]+$/.test(value)) return 'malformed extension attribute';
    if (name === 'raddr' || name === 'rport') return `${name} out of place`;
    if (name === 'tcptype') {
      if (tcpType !== undefined) return 'tcptype appears twice';
      if (value !== 'active' && value !== 'passive' && value !== 'so')
        return `tcptype must be active, passive or so (got ${value})`;
      tcpType = value;
    }
  }
  if (tcpType === undefined) return 'a TCP candidate needs tcptype (RFC 6544 §4.5)';
  if (tcpType !== 'active' && port === 0) return `a ${tcpType} candidate needs a port`;
  return {
    foundation,
    component: 1,
    priority: Number(priorityText),
    address,
    port,
    type,
    tcpType,
    ...(relatedAddress !== undefined ? { relatedAddress, relatedPort: relatedPort! } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Offer/answer rules

/** The two connection roles: `active` opens the TCP connection (and is the TLS client). */
export type ConnectionRole = 'active' | 'passive';

/**
 * RFC 4145 §4.1: the roles that an offer's and an answer's `a=setup` give each end. Throws
 * ChannelSdpError for combinations RFC 4145 does not allow (an answer of `actpass`, `active` to
 * `active`, and so on) and for `holdconn`, which a channel does not use.
 */
export function negotiatedRoles(
  offer: SetupAttribute,
  answer: SetupAttribute,
): { offerer: ConnectionRole; answerer: ConnectionRole } {
  if (offer === 'holdconn' || answer === 'holdconn')
    throw new ChannelSdpError('a=setup:holdconn is not supported for a channel');
  const ok =
    (offer === 'actpass' && (answer === 'active' || answer === 'passive')) ||
    (offer === 'active' && answer === 'passive') ||
    (offer === 'passive' && answer === 'active');
  if (!ok)
    throw new ChannelSdpError(`a=setup:${answer} is not a valid answer to a=setup:${offer} (RFC 4145 §4.1)`);
  const answerer = answer as ConnectionRole;
  return { offerer: answerer === 'active' ? 'passive' : 'active', answerer };
}

/** Candidates the other end can connect to (passive, with a port), highest priority first. */
export function passiveCandidates(desc: Pick<ChannelDescription, 'candidates'>): ChannelCandidate[] {
  return desc.candidates
    .filter((c) => c.tcpType === 'passive' && c.port > 0)
    .sort((a, b) => b.priority - a.priority);
}

/** Two addresses are the same host address (IPv6 spelling and IPv4-mapped forms ignored). */
export function sameAddress(a: string, b: string): boolean {
  const ca = canonicalIp(a);
  return ca !== undefined && ca === canonicalIp(b);
}
