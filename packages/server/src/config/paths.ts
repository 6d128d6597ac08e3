import path from 'node:path';

/** Every file of a Tsunagu data folder. Keys (ca.key, server.key) and the database are readable by the owner only. */
export interface DataPaths {
  root: string;
  config: string;
  db: string;
  caDir: string;
  caKey: string;
  caCert: string;
  tlsDir: string;
  serverKey: string;
  serverCert: string;
}

export function dataPaths(dataDir: string): DataPaths {
  const root = path.resolve(dataDir);
  const caDir = path.join(root, 'ca');
  const tlsDir = path.join(root, 'tls');
  return {
    root,
    config: path.join(root, 'config.json'),
    db: path.join(root, 'tsunagu.db'),
    caDir,
    caKey: path.join(caDir, 'ca.key'),
    caCert: path.join(caDir, 'ca.pem'),
    tlsDir,
    serverKey: path.join(tlsDir, 'server.key'),
    serverCert: path.join(tlsDir, 'server.pem'),
  };
}

export const DEFAULT_DATA_DIR = './tsunagu-data';

/** The data folder: the option if given, else `$TSUNAGU_DATA`, else `./tsunagu-data`; always absolute. */
export function resolveDataDir(option?: string, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = option !== undefined && option !== '' ? option : env.TSUNAGU_DATA || DEFAULT_DATA_DIR;
  return path.resolve(chosen);
}
