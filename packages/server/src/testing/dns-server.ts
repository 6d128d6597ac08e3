import dgram from 'node:dgram';
import { AUTHORITATIVE_ANSWER, decode, encode, type Answer } from 'dns-packet';

/** What the test zone holds for one name. */
export interface TestDnsRecords {
  SRV?: { priority: number; weight: number; port: number; target: string }[];
  A?: string[];
  AAAA?: string[];
}

/**
 * Names (lower-case, no trailing dot) and what a query for them gets: their records, or `SERVFAIL`, or
 * `silent` (no answer at all, for timeouts). A name not in the zone gets NXDOMAIN (Node: ENOTFOUND);
 * a name without records of the asked type an empty answer (ENODATA).
 */
export type TestDnsZone = Record<string, TestDnsRecords | 'SERVFAIL' | 'silent'>;

export interface TestDnsServer {
  /** `127.0.0.1:PORT`, the form `ServerOptions.dnsServers` (and `Resolver.setServers`) take. */
  address: string;
  /** The zone it answers from; replace or change it between queries. */
  zone: TestDnsZone;
  /** Every question it was asked, as `TYPE name` (`SRV _sips._tcp.b.example`). */
  queries: string[];
  close(): Promise<void>;
}

const NXDOMAIN = 3;
const SERVFAIL = 2;
const TTL = 5;

/**
 * A tiny authoritative DNS responder on 127.0.0.1 (UDP, an ephemeral port) answering SRV, A and AAAA
 * questions from a table: a real DNS server for the federation tests to point the server's resolver
 * at, so that SRV lookups run through Node's resolver and the network exactly as in production.
 */
export async function startTestDnsServer(zone: TestDnsZone = {}): Promise<TestDnsServer> {
  const socket = dgram.createSocket('udp4');
  const server: TestDnsServer = {
    address: '',
    zone,
    queries: [],
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (msg, from) => {
    let query;
    try {
      query = decode(msg);
    } catch {
      return; // not DNS: a real server would drop it too
    }
    const question = query.questions?.[0];
    if (!question) return;
    const name = question.name.toLowerCase().replace(/\.$/, '');
    server.queries.push(`${question.type} ${name}`);
    const entry = server.zone[name];
    if (entry === 'silent') return;
    let rcode = 0;
    const answers: Answer[] = [];
    if (entry === undefined) rcode = NXDOMAIN;
    else if (entry === 'SERVFAIL') rcode = SERVFAIL;
    else if (question.type === 'SRV')
      for (const data of entry.SRV ?? []) answers.push({ type: 'SRV', name, ttl: TTL, data });
    else if (question.type === 'A' || question.type === 'AAAA')
      for (const data of entry[question.type] ?? [])
        answers.push({ type: question.type, name, ttl: TTL, data });
    const reply = encode({
      type: 'response',
      id: query.id ?? 0,
      flags: AUTHORITATIVE_ANSWER | rcode,
      questions: [question],
      answers,
    });
    socket.send(reply, from.port, from.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  server.address = `127.0.0.1:${socket.address().port}`;
  return server;
}
