// Minimal SIP-over-TLS user agent used to check the Kamailio baseline where
// SIPp 3.6 cannot: SHA-256 digest (SIPp only does MD5) and sip.js-style
// unreachable contacts (sip:user@<random>.invalid;transport=tls). Also holds N
// idle registered TLS connections for memory measurements.
//
//   node --import tsx bench/kamailio/sip-tls-client.ts register --port P --ca CA.crt \
//        [--host 127.0.0.1] [--domain bench.test] [--users 1] [--first 0] \
//        [--concurrency 100] [--hold SECONDS]   (--hold -1: until SIGINT/SIGTERM)
//   node --import tsx bench/kamailio/sip-tls-client.ts call --port P --ca CA.crt \
//        [--caller user0000] [--callee user0001]
//
// Users/passwords follow bench/kamailio/start.sh: user0000.., password "pw-<user>".
// Exit code 0 = everything succeeded. Prints "READY <n>" once --hold starts.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';

interface SipMessage {
  first: string;
  status: number; // 0 for requests
  method: string; // request method, or CSeq method for responses
  headers: [string, string][];
  body: string;
}

const args = process.argv.slice(2);
const mode = args[0];
function opt(name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : def;
}
const host = opt('host', '127.0.0.1');
const port = Number(opt('port', '5061'));
const domain = opt('domain', 'bench.test');
const ca = readFileSync(opt('ca', 'ca.crt'));
const verbose = args.includes('--verbose');

const tok = (n = 8) => randomBytes(n).toString('hex');
const userName = (i: number) => `user${String(i).padStart(4, '0')}`;

function hdr(m: SipMessage, name: string): string | undefined {
  const n = name.toLowerCase();
  return m.headers.find(([k]) => k.toLowerCase() === n)?.[1];
}
function hdrAll(m: SipMessage, name: string): string[] {
  const n = name.toLowerCase();
  return m.headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}

function parse(raw: string, body: string): SipMessage {
  const lines = raw.split('\r\n');
  const first = lines.shift() ?? '';
  const headers: [string, string][] = [];
  for (const l of lines) {
    if (/^[ \t]/.test(l) && headers.length) headers[headers.length - 1]![1] += ' ' + l.trim();
    else {
      const c = l.indexOf(':');
      if (c > 0) headers.push([l.slice(0, c).trim(), l.slice(c + 1).trim()]);
    }
  }
  const st = /^SIP\/2\.0 (\d{3})/.exec(first);
  const m: SipMessage = { first, status: st ? Number(st[1]) : 0, method: '', headers, body };
  m.method = st ? ((hdr(m, 'CSeq') ?? '').split(/\s+/)[1] ?? '') : first.split(' ')[0]!;
  return m;
}

function serialize(first: string, headers: [string, string][], body = ''): string {
  const h = headers.map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return `${first}\r\n${h}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** One TLS connection = one UA instance (like a sip.js tab). */
class Conn {
  readonly sock: TLSSocket;
  readonly viaHost = `${tok(6)}.invalid`;
  private buf = Buffer.alloc(0);
  private waiters = new Map<string, (m: SipMessage) => void>(); // key: Call-ID + CSeq
  onRequest: (m: SipMessage) => void = () => {};
  readonly ready: Promise<void>;

  constructor() {
    this.sock = connect({ host, port, ca, servername: isIP(host) ? undefined : host, minVersion: 'TLSv1.2' });
    this.ready = new Promise((res, rej) => {
      this.sock.once('secureConnect', () => res());
      this.sock.once('error', rej);
    });
    this.sock.on('error', (e) => verbose && console.error('socket error', e.message));
    this.sock.on('data', (d: Buffer) => this.onData(d));
  }

  private onData(d: Buffer) {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      while (this.buf.length >= 2 && this.buf[0] === 13 && this.buf[1] === 10)
        this.buf = this.buf.subarray(2); // keepalive CRLF
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.subarray(0, end).toString();
      const cl = Number(/^(?:content-length|l)\s*:\s*(\d+)/im.exec(head)?.[1] ?? 0);
      if (this.buf.length < end + 4 + cl) return;
      const body = this.buf.subarray(end + 4, end + 4 + cl).toString();
      this.buf = this.buf.subarray(end + 4 + cl);
      const m = parse(head, body);
      if (verbose) console.error(`<<< ${m.first}`);
      if (m.status) {
        const key = `${hdr(m, 'Call-ID')} ${hdr(m, 'CSeq')}`;
        if (m.status >= 200) {
          const w = this.waiters.get(key);
          this.waiters.delete(key);
          w?.(m);
        }
      } else this.onRequest(m);
    }
  }

  send(s: string) {
    if (verbose) console.error(`>>> ${s.split('\r\n')[0]}`);
    this.sock.write(s);
  }

  /** Send a request, resolve with its final response. */
  request(first: string, headers: [string, string][], body = '', timeoutMs = 10000): Promise<SipMessage> {
    const callId = headers.find(([k]) => k === 'Call-ID')![1];
    const cseq = headers.find(([k]) => k === 'CSeq')![1];
    return new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error(`timeout waiting for reply to ${first}`)), timeoutMs);
      this.waiters.set(`${callId} ${cseq}`, (m) => {
        clearTimeout(t);
        res(m);
      });
      this.send(serialize(first, headers, body));
    });
  }

  via(): [string, string] {
    return ['Via', `SIP/2.0/TLS ${this.viaHost};branch=z9hG4bK${tok()};rport`];
  }
}

/** RFC 7616/8760 digest (qop=auth or none), MD5 or SHA-256 per the challenge. */
function digest(chal: string, user: string, pw: string, method: string, uri: string, nc: number): string {
  const p: Record<string, string> = {};
  for (const m of chal.replace(/^Digest\s+/i, '').matchAll(/(\w+)=(?:"([^"]*)"|([^\s,]+))/g))
    p[m[1]!.toLowerCase()] = m[2] ?? m[3] ?? '';
  const alg = (p.algorithm ?? 'MD5').toUpperCase();
  const hname = alg === 'SHA-256' ? 'sha256' : alg === 'MD5' ? 'md5' : null;
  if (!hname) throw new Error(`unsupported algorithm ${alg}`);
  const H = (s: string) => createHash(hname).update(s).digest('hex');
  const ha1 = H(`${user}:${p.realm}:${pw}`);
  const ha2 = H(`${method}:${uri}`);
  const qop = p.qop
    ?.split(',')
    .map((s) => s.trim())
    .includes('auth')
    ? 'auth'
    : undefined;
  const cnonce = tok();
  const ncs = nc.toString(16).padStart(8, '0');
  const resp = qop ? H(`${ha1}:${p.nonce}:${ncs}:${cnonce}:${qop}:${ha2}`) : H(`${ha1}:${p.nonce}:${ha2}`);
  return (
    `Digest username="${user}", realm="${p.realm}", nonce="${p.nonce}", uri="${uri}", response="${resp}", algorithm=${alg}` +
    (p.opaque !== undefined ? `, opaque="${p.opaque}"` : '') +
    (qop ? `, qop=${qop}, nc=${ncs}, cnonce="${cnonce}"` : '')
  );
}

class UA {
  readonly conn = new Conn();
  readonly contact: string;
  readonly algorithms = new Set<string>();
  constructor(readonly user: string) {
    this.contact = `<sip:${user}@${this.conn.viaHost};transport=tls>`;
  }
  get aor() {
    return `sip:${this.user}@${domain}`;
  }

  /** Send, and answer one 401/407 challenge with digest credentials. */
  async authed(
    method: string,
    ruri: string,
    hs: (cseq: number) => [string, string][],
    body = '',
    ackOn407 = false,
  ) {
    let r = await this.conn.request(`${method} ${ruri} SIP/2.0`, [this.conn.via(), ...hs(1)], body);
    if (r.status !== 401 && r.status !== 407) return r;
    if (ackOn407) {
      // ACK for the non-2xx final response: same Via/branch as the INVITE.
      this.conn.send(
        serialize(`ACK ${ruri} SIP/2.0`, [
          [
            'Via',
            hdr(r, 'Via')!
              .replace(/;received=[^;]*/, '')
              .replace(/;rport=\d+/, ';rport'),
          ],
          ['Max-Forwards', '70'],
          ['From', hdr(r, 'From')!],
          ['To', hdr(r, 'To')!],
          ['Call-ID', hdr(r, 'Call-ID')!],
          ['CSeq', '1 ACK'],
        ]),
      );
    }
    const chal = hdr(r, r.status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate')!;
    this.algorithms.add(/algorithm=("?)([\w-]+)\1/i.exec(chal)?.[2] ?? 'MD5');
    const auth = digest(chal, this.user, `pw-${this.user}`, method, ruri, 1);
    r = await this.conn.request(
      `${method} ${ruri} SIP/2.0`,
      [this.conn.via(), ...hs(2), [r.status === 401 ? 'Authorization' : 'Proxy-Authorization', auth]],
      body,
    );
    return r;
  }

  async register(expires = 3600) {
    await this.conn.ready;
    const callId = tok(12);
    const tag = tok(4);
    const r = await this.authed('REGISTER', `sip:${domain}`, (cseq) => [
      ['Max-Forwards', '70'],
      ['From', `<${this.aor}>;tag=${tag}`],
      ['To', `<${this.aor}>`],
      ['Call-ID', callId],
      ['CSeq', `${cseq} REGISTER`],
      ['Contact', `${this.contact};expires=${expires}`],
    ]);
    if (r.status !== 200) throw new Error(`${this.user}: REGISTER -> ${r.first}`);
  }
}

const SDP = 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n';

async function runCall() {
  const a = new UA(opt('caller', 'user0000'));
  const b = new UA(opt('callee', 'user0001'));
  await Promise.all([a.register(), b.register()]);
  const seen: string[] = [];
  const done = new Promise<void>((res) => {
    b.conn.onRequest = (m) => {
      seen.push(m.method);
      const toTag = m.method === 'INVITE' ? `;tag=${tok(4)}` : '';
      const base: [string, string][] = [
        ...hdrAll(m, 'Via').map((v): [string, string] => ['Via', v]),
        ['From', hdr(m, 'From')!],
        ['To', hdr(m, 'To')! + (hdr(m, 'To')!.includes(';tag=') ? '' : toTag)],
        ['Call-ID', hdr(m, 'Call-ID')!],
        ['CSeq', hdr(m, 'CSeq')!],
      ];
      if (m.method === 'INVITE') {
        const rr = hdrAll(m, 'Record-Route').map((v): [string, string] => ['Record-Route', v]);
        b.conn.send(serialize('SIP/2.0 180 Ringing', [...base, ...rr, ['Contact', b.contact]]));
        b.conn.send(
          serialize(
            'SIP/2.0 200 OK',
            [...base, ...rr, ['Contact', b.contact], ['Content-Type', 'application/sdp']],
            SDP,
          ),
        );
      } else if (m.method === 'BYE') {
        b.conn.send(serialize('SIP/2.0 200 OK', base));
        res();
      }
    };
  });
  const callId = tok(12);
  const tag = tok(4);
  const ruri = `sip:${b.user}@${domain}`;
  const from = `<${a.aor}>;tag=${tag}`;
  const ok = await a.authed(
    'INVITE',
    ruri,
    (cseq) => [
      ['Max-Forwards', '70'],
      ['From', from],
      ['To', `<${ruri}>`],
      ['Call-ID', callId],
      ['CSeq', `${cseq} INVITE`],
      ['Contact', a.contact],
      ['Content-Type', 'application/sdp'],
    ],
    SDP,
    true,
  );
  if (ok.status !== 200) throw new Error(`INVITE -> ${ok.first}`);
  const target = /<([^>]+)>/.exec(hdr(ok, 'Contact')!)![1]!;
  const routes = hdrAll(ok, 'Record-Route')
    .flatMap((v) => v.split(/,(?=\s*<)/))
    .reverse()
    .map((v): [string, string] => ['Route', v.trim()]);
  const dlg = (cseq: string): [string, string][] => [
    a.conn.via(),
    ...routes,
    ['Max-Forwards', '70'],
    ['From', from],
    ['To', hdr(ok, 'To')!],
    ['Call-ID', callId],
    ['CSeq', cseq],
  ];
  a.conn.send(serialize(`ACK ${target} SIP/2.0`, dlg('2 ACK')));
  const bye = await a.conn.request(`BYE ${target} SIP/2.0`, dlg('3 BYE'));
  await Promise.race([
    done,
    new Promise((_, rej) => setTimeout(() => rej(new Error('callee saw no BYE')), 5000)),
  ]);
  if (bye.status !== 200) throw new Error(`BYE -> ${bye.first}`);
  if (seen.join(',') !== 'INVITE,ACK,BYE') throw new Error(`callee saw ${seen.join(',')}`);
  console.log(
    `CALL OK ${a.user} -> ${b.user}: callee got ${seen.join(',')} on its own TLS connection; ` +
      `digest algorithm(s): ${[...new Set([...a.algorithms, ...b.algorithms])].join(',')}`,
  );
  a.conn.sock.end();
  b.conn.sock.end();
}

async function runRegister() {
  const n = Number(opt('users', '1'));
  const first = Number(opt('first', '0'));
  const conc = Number(opt('concurrency', '100'));
  const hold = Number(opt('hold', '0'));
  const uas: UA[] = [];
  let next = 0;
  let failed = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: Math.min(conc, n) }, async () => {
      while (next < n) {
        const ua = new UA(userName(first + next++));
        uas.push(ua);
        try {
          await ua.register();
        } catch (e) {
          failed++;
          if (failed <= 5) console.error(String(e));
        }
      }
    }),
  );
  const algs = [...new Set(uas.flatMap((u) => [...u.algorithms]))].join(',');
  console.log(`REGISTER ${n - failed}/${n} OK in ${Date.now() - t0} ms; digest algorithm(s): ${algs}`);
  if (hold !== 0) {
    console.log(`READY ${n - failed}`);
    await new Promise<void>((res) => {
      process.once('SIGINT', res);
      process.once('SIGTERM', res);
      if (hold > 0) setTimeout(res, hold * 1000);
    });
  }
  for (const u of uas) u.conn.sock.destroy();
  process.exitCode = failed ? 1 : 0;
}

(mode === 'call'
  ? runCall()
  : mode === 'register'
    ? runRegister()
    : Promise.reject(new Error('mode: register|call'))
)
  .then(() => process.exit(process.exitCode ?? 0))
  .catch((e: unknown) => {
    console.error(`FAIL: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
