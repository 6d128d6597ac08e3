import fs from 'node:fs';
import { z } from 'zod';
import { isHostname, ipVersion, parseHostPort } from './address.js';
import { parseDuration } from './duration.js';
import { ConfigError } from './errors.js';
import { dataPaths } from './paths.js';
import { formatIssues, issueMessages } from './zod-issues.js';

export const DEFAULT_SIP_PORT = 5061;
export const DEFAULT_WSS_PORT = 5443;
export const DEFAULT_ADMIN_PORT = 9461;
export const DEFAULT_ADMIN_HOST = '127.0.0.1';
/** All IPv4 interfaces. Use `::` in config.json for dual-stack where IPv6 is available. */
export const DEFAULT_LISTEN_HOST = '0.0.0.0';

export type PolicyDefault = 'allow-all' | 'deny-all';
export const POLICY_DEFAULTS: readonly PolicyDefault[] = ['allow-all', 'deny-all'];

const hostField = z
  .string()
  .refine((s) => ipVersion(s) !== 0 || isHostname(s), {
    error: (iss) =>
      `must be a host name or an IP address without brackets (got ${JSON.stringify(iss.input)})`,
  })
  .transform((s) => s.toLowerCase());

const portMessage = (min: number) => ({ error: `must be an integer from ${min} to 65535` });
const portField = (min: number) =>
  z.number(portMessage(min)).int(portMessage(min)).min(min, portMessage(min)).max(65535, portMessage(min));

const listener = (defaultHost: string, defaultPort: number) =>
  z
    .strictObject({
      /** Address to bind. `0.0.0.0` = every IPv4 interface, `::` = every interface (dual stack). */
      listen: hostField.default(defaultHost),
      port: portField(0).default(defaultPort),
    })
    .prefault({});

const seconds = (min: number, max: number) => {
  const m = { error: `must be an integer number of seconds from ${min} to ${max}` };
  return z.number(m).int(m).min(min, m).max(max, m);
};

/** A DNS server as `Resolver.setServers` takes it: an IP address, optionally with a port. */
const dnsServerField = z.string().refine(
  (s) => {
    if (ipVersion(s) !== 0) return true;
    try {
      return ipVersion(parseHostPort(s, { allowPortZero: false }).host) !== 0;
    } catch {
      return false;
    }
  },
  {
    error: (iss) =>
      `must be an IP address, optionally with a port: 192.0.2.53, 192.0.2.53:5353, [2001:db8::53]:53 (got ${JSON.stringify(iss.input)})`,
  },
);

const domainField = z
  .string()
  .refine(isHostname, {
    error: (iss) => `must be a DNS name such as example.org (got ${JSON.stringify(iss.input)})`,
  })
  .transform((s) => s.toLowerCase());

/**
 * `DATA/config.json`. Every field but `version`, `domain` and `hosts` has a default.
 *
 * - `realm`: the digest realm; defaults to `domain`. Changing it invalidates every stored HA1
 *   (passwords and enrolled devices must be set again), because HA1 = H(user:realm:password).
 * - `hosts`: names and IP addresses in the server certificate; `hosts[0]` (with `sip.port` and
 *   `wss.port`) is the address advertised in invite links.
 * - `policyDefault`: the connection policy default written into the database by `init`. The database
 *   is authoritative afterwards (`tsunagu-server policy default …`); this value is only used when the
 *   database holds none.
 */
export const configSchema = z
  .strictObject({
    version: z.literal(1, {
      error: (iss) =>
        `must be 1 (got ${JSON.stringify(iss.input)}); this tsunagu-server understands config version 1`,
    }),
    domain: domainField,
    realm: z
      .string()
      .min(1)
      .max(253)
      .refine((s) => !/["\\\x00-\x1f\x7f]/.test(s), {
        error: 'must not contain quotes, backslashes or control characters',
      })
      .optional(),
    hosts: z.array(hostField).min(1).max(64),
    sip: listener(DEFAULT_LISTEN_HOST, DEFAULT_SIP_PORT),
    wss: listener(DEFAULT_LISTEN_HOST, DEFAULT_WSS_PORT),
    admin: listener(DEFAULT_ADMIN_HOST, DEFAULT_ADMIN_PORT),
    policyDefault: z.enum(['allow-all', 'deny-all']).default('allow-all'),
    digest: z.strictObject({ nonceTtlSeconds: seconds(10, 86_400).default(300) }).prefault({}),
    registration: z
      .strictObject({
        minExpires: seconds(10, 86_400).default(60),
        maxExpires: seconds(10, 86_400).default(3600),
        defaultExpires: seconds(10, 86_400).default(600),
      })
      .prefault({})
      .superRefine((r, ctx) => {
        if (r.minExpires > r.maxExpires)
          ctx.addIssue({
            code: 'custom',
            path: ['minExpires'],
            message: `must not exceed maxExpires (${r.maxExpires})`,
          });
        else if (r.defaultExpires < r.minExpires || r.defaultExpires > r.maxExpires)
          ctx.addIssue({
            code: 'custom',
            path: ['defaultExpires'],
            message: `must be between minExpires (${r.minExpires}) and maxExpires (${r.maxExpires})`,
          });
      }),
    ca: z
      .strictObject({
        /** Validity of the certificates issued to terminals; renewed at two thirds of it. */
        validityDays: z
          .number({ error: 'must be an integer number of days from 1 to 397' })
          .int({ error: 'must be an integer number of days from 1 to 397' })
          .min(1, { error: 'must be an integer number of days from 1 to 397' })
          .max(397, { error: 'must be an integer number of days from 1 to 397' })
          .default(30),
        /** Certificates one device may obtain per hour. */
        perDevicePerHour: z.number().int().min(1).max(3600).default(10),
        /**
         * A CA in its own process (`tsunagu-server ca --data DIR`) that alone holds the CA key, reached
         * over mutual TLS. Absent: the CA runs inside the server with DATA/ca/ca.key.
         */
        remote: z.strictObject({ host: hostField, port: portField(1) }).optional(),
      })
      .prefault({}),
    federation: z
      .strictObject({
        /**
         * A plain-TCP SIP listener for peers configured as insecure (`peer add --insecure-tcp`) and
         * nobody else. Absent (the default): federation is TLS only.
         */
        tcp: z.strictObject({ listen: hostField, port: portField(0) }).optional(),
        /**
         * The DNS servers asked for peers added without an address (`_sips._tcp` SRV, then A and
         * AAAA). Absent (the default): the system's, from /etc/resolv.conf.
         */
        dns: z.strictObject({ servers: z.array(dnsServerField).min(1).max(8) }).optional(),
      })
      .prefault({}),
    invites: z
      .strictObject({
        defaultTtl: z
          .string()
          .default('24h')
          .superRefine((s, ctx) => {
            try {
              const ms = parseDuration(s);
              if (ms < 60_000 || ms > 365 * 86_400_000)
                ctx.addIssue({
                  code: 'custom',
                  message: `must be between 1m and 365d (got ${JSON.stringify(s)})`,
                });
            } catch {
              ctx.addIssue({
                code: 'custom',
                message: `must be a duration such as 30m, 24h or 7d (got ${JSON.stringify(s)})`,
              });
            }
          }),
      })
      .prefault({}),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.hosts.forEach((h, i) => {
      if (seen.has(h)) ctx.addIssue({ code: 'custom', path: ['hosts', i], message: `repeats '${h}'` });
      seen.add(h);
    });
  })
  .transform((c) => ({ ...c, realm: c.realm ?? c.domain }));

export type Config = z.output<typeof configSchema>;
/** What a person may write in config.json (defaults omitted). */
export type ConfigInput = z.input<typeof configSchema>;

/** Validates a config object; throws a ConfigError with one precise line per problem. */
export function parseConfig(value: unknown, label = 'config.json'): Config {
  const r = configSchema.safeParse(value, { error: issueMessages });
  if (!r.success) throw new ConfigError(formatIssues(label, r.error));
  return r.data;
}

/** Reads and validates `DATA/config.json`. */
export function loadConfig(dataDir: string): Config {
  const file = dataPaths(dataDir).config;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new ConfigError(
        `no config.json in ${dataPaths(dataDir).root}: create the data folder with \`tsunagu-server init --data ${dataPaths(dataDir).root} --domain DOMAIN\` first`,
      );
    }
    throw new ConfigError(`cannot read ${file}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config.json: not valid JSON: ${(e as Error).message}`);
  }
  return parseConfig(json);
}

export interface NewConfigOptions {
  domain: string;
  hosts: readonly string[];
  policyDefault?: PolicyDefault;
  sipPort?: number;
  wssPort?: number;
}

/** A complete, validated config for a new data folder. */
export function createConfig(o: NewConfigOptions): Config {
  const input: ConfigInput = {
    version: 1,
    domain: o.domain,
    hosts: [...o.hosts],
    sip: { port: o.sipPort ?? DEFAULT_SIP_PORT },
    wss: { port: o.wssPort ?? DEFAULT_WSS_PORT },
    policyDefault: o.policyDefault ?? 'allow-all',
  };
  return parseConfig(input, 'config');
}

/** The config as written to config.json (every default spelled out, so a person sees what can be changed). */
export function serialiseConfig(config: Config): string {
  const { version, domain, realm, hosts, ...rest } = config;
  return `${JSON.stringify({ version, domain, realm, hosts, ...rest }, null, 2)}\n`;
}
