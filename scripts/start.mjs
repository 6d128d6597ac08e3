#!/usr/bin/env node
// `npm start`: a session server with its embedded database in ./tsunagu-data (created on first run) and
// the desktop app. Where no Electron binary is present (it cannot be downloaded everywhere), it says so
// and opens the same UI through the terminal daemon's web GUI instead. Everything is built first, so
// it runs as it will in production.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const data = process.env.TSUNAGU_DATA ?? join(root, 'tsunagu-data');
const profile = process.env.TSUNAGU_PROFILE ?? join(data, 'profile');
const serverCli = join(root, 'packages/server/bin/tsunagu-server.js');
const terminalCli = join(root, 'packages/terminal/bin/tsunagu.js');
const children = [];

function must(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function quit(code) {
  for (const c of children) c.kill('SIGTERM');
  process.exit(code);
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => quit(0));

must('npx', ['tsc', '-b']);
must('npm', ['run', 'build', '--silent', '-w', '@tsunagu/desktop']);

if (!existsSync(join(data, 'config.json'))) {
  // The host name's first label as a DNS label (a name like `my_box` would make `init` refuse it).
  const label = hostname()
    .split('.')[0]
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '')
    .replace(/^-+|-+$/g, '');
  const domain = process.env.TSUNAGU_DOMAIN ?? `${label || 'tsunagu'}.tsunagu.test`;
  must(process.execPath, [serverCli, 'init', '--data', data, '--domain', domain]);
}

/** Starts a CLI and resolves when its standard output has printed `ready`. */
function start(cli, args, ready) {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  child.on('exit', (code) => quit(code ?? 0));
  return new Promise((resolve) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c.toString();
      if (ready.test(out)) resolve(out);
    });
  });
}

await start(serverCli, ['start', '--data', data, '--log-level', 'warn'], /listening/);
console.log(`Session server running (data: ${data}).`);

const joined = (() => {
  try {
    return Boolean(JSON.parse(readFileSync(join(profile, 'profile.json'), 'utf8')).user);
  } catch {
    return false;
  }
})();
if (!joined) {
  const me = (userInfo().username || 'me').toLowerCase().replace(/[^a-z0-9._-]/g, '') || 'me';
  const r = spawnSync(process.execPath, [serverCli, 'invite', me, '--json', '--data', data], {
    encoding: 'utf8',
  });
  if (r.status === 0) {
    console.log(
      `\nTo join as ${me}, paste this invite link into the app:\n\n  ${JSON.parse(r.stdout).link}\n`,
    );
  }
}
console.log(`Invite others with: node packages/server/bin/tsunagu-server.js invite NAME --data ${data}\n`);

const electronDist =
  process.env.ELECTRON_OVERRIDE_DIST_PATH ??
  (() => {
    try {
      const pathTxt = join(root, 'node_modules/electron/path.txt');
      return join(root, 'node_modules/electron/dist', readFileSync(pathTxt, 'utf8').trim(), '..');
    } catch {
      return undefined;
    }
  })();
const electronExe =
  electronDist && join(electronDist, process.platform === 'win32' ? 'electron.exe' : 'electron');

if (electronExe && existsSync(electronExe)) {
  const app = spawn(electronExe, [join(root, 'apps/desktop')], {
    stdio: 'inherit',
    env: { ...process.env, TSUNAGU_PROFILE: profile },
  });
  children.push(app);
  app.on('exit', () => quit(0));
} else {
  console.log(
    'No Electron binary here (it is downloaded from GitHub, which this machine cannot reach): opening the same UI through the web GUI.',
  );
  await start(
    terminalCli,
    ['daemon', '--profile', profile, '--gui', `127.0.0.1:${process.env.TSUNAGU_GUI_PORT ?? 0}`],
    /web GUI at/,
  );
  const link = JSON.parse(readFileSync(join(profile, 'daemon.json'), 'utf8')).gui;
  console.log(`\nOpen the app: ${link}\n(the link carries this run's access token; keep it to yourself)\n`);
  const opener =
    process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  if (process.platform !== 'linux' || process.env.DISPLAY || process.env.WAYLAND_DISPLAY) {
    spawn(opener, [link], { stdio: 'ignore', detached: true })
      .on('error', () => undefined)
      .unref();
  }
}
