/**
 * Channel setup time: how long from "open a channel" to a verified channel on both ends, beside the
 * floor a bare TLS 1.3 handshake sets, measured the same way, in one run.
 *
 *   node --conditions=tsunagu-source --import tsx bench/channel-setup.ts [--opens 100] [--warmup 10]
 *
 * - **verified channel** (`channelSetupOnce`): createChannelOffer (listen on an ephemeral port, SDP
 *   offer) → answerChannelOffer (parse, choose the role, SDP answer) → setAnswer → both ends'
 *   establish(): TCP connect, mutual TLS 1.3 with RSA-2048 certificates, both fingerprint checks,
 *   HELLO/ACCEPT session binding. Stops when both ends hold their Channel.
 * - **bare TLS 1.3** (`bareTlsOnce`): listen on an ephemeral port, TCP connect, mutual TLS 1.3 with the
 *   same certificates (client certificate requested), no checks. Stops when both ends are 'secure'.
 *
 * Both on 127.0.0.1, interleaved one of each per round so that drift hits both alike. The issue's
 * floor also has one SIP round trip through the server: both functions take hooks (`carryOffer`,
 * `carryAnswer`, `before`) so the integration can add it to both sides.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { TLSSocket, connect } from 'node:tls';
import { pathToFileURL } from 'node:url';
import { CHANNEL_ALPN } from '../packages/protocol/src/index.js';
import {
  answerChannelOffer,
  createChannelOffer,
  type Channel,
  type ChannelCredentials,
  type ChannelSetupOptions,
} from '../packages/terminal/src/channel/index.js';
import { testDevices } from '../packages/terminal/src/channel/testing.js';
import { numberOption, stats } from './stats.js';

export interface ChannelSetupRun {
  offerer: ChannelSetupOptions;
  answerer: ChannelSetupOptions;
  /** Carries the offer to the answerer (e.g. an INVITE through the server). Default: as is. */
  carryOffer?: (sdp: string) => Promise<string>;
  /** Carries the answer back (the 200). Default: as is. */
  carryAnswer?: (sdp: string) => Promise<string>;
}

/** One verified channel, start to finish; returns its setup time in ms and both channels (to close). */
export async function channelSetupOnce(
  run: ChannelSetupRun,
): Promise<{ ms: number; channels: [Channel, Channel] }> {
  const t0 = performance.now();
  const offer = await createChannelOffer(run.offerer);
  const offerSdp = run.carryOffer ? await run.carryOffer(offer.sdp) : offer.sdp;
  const answer = await answerChannelOffer(offerSdp, run.answerer);
  const answerSide = answer.establish();
  const answerSdp = run.carryAnswer ? await run.carryAnswer(answer.sdp) : answer.sdp;
  offer.setAnswer(answerSdp);
  const [o, a] = await Promise.all([offer.establish(), answerSide]);
  return { ms: performance.now() - t0, channels: [o, a] };
}

export interface BareTlsRun {
  server: ChannelCredentials;
  client: ChannelCredentials;
  host?: string;
  /** Runs first, inside the timing (e.g. one SIP round trip). */
  before?: () => Promise<void>;
}

/** One bare mutual TLS 1.3 handshake including listen and connect; returns ms. */
export async function bareTlsOnce(run: BareTlsRun): Promise<number> {
  const host = run.host ?? '127.0.0.1';
  const t0 = performance.now();
  await run.before?.();
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const serverSecure = new Promise<TLSSocket>((resolve, reject) => {
    server.once('connection', (raw) => {
      const s = new TLSSocket(raw, {
        isServer: true,
        secureContext: run.server.secureContext,
        requestCert: true,
        rejectUnauthorized: false,
        ALPNProtocols: [CHANNEL_ALPN],
      });
      s.once('secure', () => resolve(s));
      s.once('error', reject);
    });
  });
  const client = connect({
    host,
    port: (server.address() as AddressInfo).port,
    secureContext: run.client.secureContext,
    rejectUnauthorized: false,
    checkServerIdentity: () => undefined,
    ALPNProtocols: [CHANNEL_ALPN],
  });
  const [s] = await Promise.all([serverSecure, once(client, 'secureConnect')]);
  const ms = performance.now() - t0;
  server.close();
  s.destroy();
  client.destroy();
  return ms;
}

async function main(): Promise<void> {
  const opens = numberOption('opens', 100);
  const warmup = numberOption('warmup', 10);
  const { devices, cleanup } = await testDevices('offerer', 'answerer');
  const [a, b] = devices as [(typeof devices)[0], (typeof devices)[0]];
  const common = { addresses: ['127.0.0.1'], localAddresses: ['127.0.0.1'] };
  const run: ChannelSetupRun = {
    offerer: { credentials: a.credentials, ...common },
    answerer: { credentials: b.credentials, ...common },
  };
  const bare: BareTlsRun = { server: a.credentials, client: b.credentials };
  const channel: number[] = [];
  const tls: number[] = [];
  for (let i = 0; i < warmup + opens; i++) {
    const c = await channelSetupOnce(run);
    for (const ch of c.channels) ch.destroy();
    const t = await bareTlsOnce(bare);
    if (i >= warmup) {
      channel.push(c.ms);
      tls.push(t);
    }
  }
  await cleanup();
  const sc = stats(channel);
  const st = stats(tls);
  const f = (x: number) => x.toFixed(2).padStart(7);
  console.log(
    `channel setup on 127.0.0.1, ${opens} opens each (after ${warmup} warm-up), Node ${process.version}`,
  );
  console.log('                                   p50 ms  p95 ms  mean ms  min ms  max ms');
  console.log(
    `verified channel (offer→channel) ${f(sc.p50)} ${f(sc.p95)} ${f(sc.mean)}  ${f(sc.min)} ${f(sc.max)}`,
  );
  console.log(
    `bare mutual TLS 1.3 handshake    ${f(st.p50)} ${f(st.p95)} ${f(st.mean)}  ${f(st.min)} ${f(st.max)}`,
  );
  console.log(
    `ratio verified / bare            ${f(sc.p50 / st.p50)} ${f(sc.p95 / st.p95)} ${f(sc.mean / st.mean)}`,
  );
  console.log(
    JSON.stringify({ bench: 'channel-setup', opens, node: process.version, channel: sc, bareTls: st }),
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
