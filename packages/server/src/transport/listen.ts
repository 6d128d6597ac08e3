import type { Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Endpoint } from './connection.js';

/** Binds a server (TLS, HTTPS or HTTP) and resolves with the address it actually got (port 0 → a free port). */
export async function bind(server: Server, host: string, port: number): Promise<Endpoint> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  return { address: addr.address, port: addr.port };
}
