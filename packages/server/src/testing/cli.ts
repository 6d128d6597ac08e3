import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The server package's folder: the working directory of a CLI run from its sources. */
export const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Node's arguments that run `tsunagu-server ARGS` from the sources (cwd {@link PACKAGE_DIR}). */
export function cliArgs(args: readonly string[]): string[] {
  return ['--conditions=tsunagu-source', '--import', 'tsx', path.join('src', 'cli', 'main.ts'), ...args];
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real `tsunagu-server ARGS` as a child process, `input` on its standard input; TSUNAGU_DATA is
 * cleared unless `env` sets it.
 */
export function runCli(
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, cliArgs(args), {
      cwd: PACKAGE_DIR,
      env: { ...process.env, TSUNAGU_DATA: '', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(options.input ?? '');
  });
}

/** A TCP port free on 127.0.0.1 just now (for a process that must be told its port in advance). */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
