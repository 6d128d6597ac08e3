import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one server instance (own registry: several servers may share a process in tests). */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'tsunagu_sip_requests_total',
    help: 'SIP requests received, by method',
    labelNames: ['method'] as const,
    registers: [this.registry],
  });
  readonly responses = new Counter({
    name: 'tsunagu_sip_responses_sent_total',
    help: 'Final SIP responses this server generated, by status class',
    labelNames: ['class'] as const,
    registers: [this.registry],
  });
  readonly badMessages = new Counter({
    name: 'tsunagu_sip_bad_messages_total',
    help: 'Messages refused as malformed or oversized',
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: 'tsunagu_auth_failures_total',
    help: 'Failed digest authentications, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly throttled = new Counter({
    name: 'tsunagu_auth_throttled_total',
    help: 'Requests refused because their user or source address failed too often',
    registers: [this.registry],
  });
  readonly routeSecurityDropped = new Counter({
    name: 'tsunagu_route_security_dropped_total',
    help: 'Messages whose Route-Security values this server could not vouch for (not forwarded)',
    registers: [this.registry],
  });
  readonly peerRefused = new Counter({
    name: 'tsunagu_peer_refused_total',
    help: 'Federation connections refused (certificate not from the configured CA, or not naming the domain)',
    registers: [this.registry],
  });

  constructor(sources: { connections(): number; bindings(): number; transactions(): number }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'tsunagu_' });
    new Gauge({
      name: 'tsunagu_connections',
      help: 'Open SIP connections (TLS and WSS)',
      registers: [this.registry],
      collect() {
        this.set(sources.connections());
      },
    });
    new Gauge({
      name: 'tsunagu_registered_bindings',
      help: 'Registered contacts (devices online)',
      registers: [this.registry],
      collect() {
        this.set(sources.bindings());
      },
    });
    new Gauge({
      name: 'tsunagu_transactions',
      help: 'Transactions in progress',
      registers: [this.registry],
      collect() {
        this.set(sources.transactions());
      },
    });
  }
}
