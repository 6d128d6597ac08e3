import { Command, CommanderError } from 'commander';
import fs from 'node:fs';
import { registerCa } from './ca.js';
import { CliError, PROGRAM, isExpectedError } from './common.js';
import { registerDevice } from './device.js';
import { registerGroup } from './group.js';
import { registerInit } from './init.js';
import { registerInvite } from './invite.js';
import { registerPeer } from './peer.js';
import { registerPolicy } from './policy.js';
import { registerStart } from './start.js';
import { registerUser } from './user.js';

function version(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The whole command line. Errors surface as exceptions (exitOverride); `run` turns them into exit codes. */
export function buildProgram(): Command {
  const program = new Command(PROGRAM)
    .description('Tsunagu session server: SIP registrar and proxy over TLS, connection policy, deployment CA')
    .version(version(), '-V, --version')
    .exitOverride()
    .configureOutput({
      outputError: (message, write) => write(`${PROGRAM}: ${message.replace(/^error: /, '').trimEnd()}\n`),
    })
    .showSuggestionAfterError(true);
  registerInit(program);
  registerStart(program);
  registerUser(program);
  registerDevice(program);
  registerInvite(program);
  registerGroup(program);
  registerPolicy(program);
  registerPeer(program);
  registerCa(program);
  return program;
}

/** Runs the CLI; returns the exit code: 0 ok, 1 failure, 2 usage error. Never prints a stack trace (unless TSUNAGU_DEBUG=1). */
export async function run(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander already printed its message through outputError (or the help).
      return e.exitCode === 0 ? 0 : 2;
    }
    const message = isExpectedError(e) ? e.message : `internal error: ${(e as Error)?.message ?? String(e)}`;
    process.stderr.write(`${PROGRAM}: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    if (process.env.TSUNAGU_DEBUG === '1' && e instanceof Error && e.stack)
      process.stderr.write(`${e.stack}\n`);
    return e instanceof CliError ? e.exitCode : 1;
  }
}
