#!/usr/bin/env node
// `npm start`: a session server with its embedded database in ./tsunagu-data (created on first run),
// built first so it runs as it will in production. The desktop app joins this in a later release.
import { spawnSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const data = process.env.TSUNAGU_DATA ?? join(root, 'tsunagu-data');
const cli = join(root, 'packages/server/bin/tsunagu-server.js');

const build = spawnSync('npx', ['tsc', '-b'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

if (!existsSync(join(data, 'config.json'))) {
  const domain =
    process.env.TSUNAGU_DOMAIN ?? `${hostname().split('.')[0].toLowerCase() || 'tsunagu'}.tsunagu.test`;
  const init = spawnSync(process.execPath, [cli, 'init', '--data', data, '--domain', domain], {
    stdio: 'inherit',
  });
  if (init.status !== 0) process.exit(init.status ?? 1);
}

console.log(`\nStarting the session server (data: ${data}). Invite someone from another terminal:`);
console.log(`  node packages/server/bin/tsunagu-server.js invite alice --data ${data}\n`);
const server = spawn(process.execPath, [cli, 'start', '--data', data], { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.kill('SIGTERM'));
server.on('exit', (code) => process.exit(code ?? 0));
