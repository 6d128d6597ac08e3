import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { formatChannelSdp, hostCandidates, newChannelSessionId } from '@tsunagu/protocol';
import type { TestServer } from '@tsunagu/server/testing';
import type { Negotiator } from './calls.js';
import { certificateFingerprint } from './pinned-tls.js';
import { Signalling, type SignallingOptions } from './signalling.js';

/**
 * Helpers for tests that run terminals against the real server harness (`@tsunagu/server/testing`):
 * here, and for the channel and transfer tests.
 */

/** The harness's password for `user` (TEST_PASSWORD). */
export const testPassword = (user: string): string => `pw-${user}-correct horse`;

/** A Signalling for `user` on the harness `t`, with fast timings for tests; not started. */
export function signallingFor(t: TestServer, user: string, o: Partial<SignallingOptions> = {}): Signalling {
  return new Signalling({
    server: { host: t.sip.host, port: t.sip.port },
    ca: t.ca,
    caFingerprint: certificateFingerprint(t.ca),
    domain: t.domain,
    user,
    password: testPassword(user),
    instanceId: randomUUID(),
    reconnect: { initialDelayMs: 100, maxDelayMs: 1_000 },
    networkWatch: false,
    ...o,
  });
}

/** Resolves with the arguments of the next `event` for which `accept` holds; rejects after `timeoutMs`. */
export function waitFor<A extends unknown[]>(
  emitter: EventEmitter,
  event: string,
  accept: (...args: A) => boolean = () => true,
  timeoutMs = 5_000,
): Promise<A> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no matching '${event}' within ${timeoutMs} ms`));
    }, timeoutMs);
    function listener(...args: unknown[]): void {
      if (!accept(...(args as A))) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(args as A);
    }
    emitter.on(event, listener);
  });
}

/**
 * A negotiator whose offers and answers are well-formed channel descriptions (the callee reads the
 * caller's addresses from the offer) recognisable by their origin user name, recording what it got.
 * Nobody listens on the port they name.
 */
export function dummyNegotiator(name: string): Negotiator & { offers: string[]; answers: string[] } {
  const sdp = (kind: 'offer' | 'answer') =>
    formatChannelSdp({
      setup: kind === 'offer' ? 'actpass' : 'active',
      fingerprints: [{ algorithm: 'sha-256', value: Array(32).fill('AB').join(':') }],
      candidates: hostCandidates(
        [{ address: '127.0.0.1', port: 9 }],
        kind === 'offer' ? 'passive' : 'active',
      ),
      session: newChannelSessionId(),
      origin: { username: name },
    });
  const self = {
    offers: [] as string[],
    answers: [] as string[],
    createOffer: () => Promise.resolve(sdp('offer')),
    acceptAnswer: (answer: string) => {
      self.answers.push(answer);
      return Promise.resolve();
    },
    acceptOffer: (offer: string) => {
      self.offers.push(offer);
      return Promise.resolve(sdp('answer'));
    },
  };
  return self;
}
