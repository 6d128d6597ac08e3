#!/usr/bin/env node
// The one test command (README, CI): typecheck, lint, formatting, then every package's tests.
// Ends with one line "N passed, N failed[, N skipped]" summing every runner, and exits non-zero on any failure.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'tsunagu-test-'));
const totals = { passed: 0, failed: 0, skipped: 0 };

function step(name, cmd, args, opts = {}) {
  console.log(`\n=== ${name}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  return r.status === 0;
}

/** A step that counts as one test: passed when it exits 0. */
function check(name, cmd, args) {
  if (step(name, cmd, args)) totals.passed += 1;
  else totals.failed += 1;
}

/** Node 20's runner takes no globs: list the test files beside the code ourselves. */
const testFiles = (dir) =>
  readdirSync(join(root, dir), { recursive: true })
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => join(dir, f))
    .sort();

function nodeTests(pkg, concurrency) {
  const files = testFiles(`${pkg}/src`);
  // Without files Node's runner would go looking for tests on its own (and find built copies in dist/).
  if (files.length === 0) return;
  const tap = join(tmp, `${pkg.replace(/\W/g, '_')}.tap`);
  const ok = step(`tests: ${pkg}`, process.execPath, [
    '--conditions=tsunagu-source',
    '--import',
    'tsx',
    '--test',
    `--test-concurrency=${concurrency}`,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...files,
  ]);
  let text = '';
  try {
    text = readFileSync(tap, 'utf8');
  } catch {
    /* runner died before writing: counted as a failure below */
  }
  const count = (key) => Number(text.match(new RegExp(`^# ${key} (\\d+)$`, 'm'))?.[1] ?? 0);
  totals.passed += count('pass');
  totals.failed += count('fail') + count('cancelled');
  totals.skipped += count('skipped');
  if (!ok && count('fail') + count('cancelled') === 0) totals.failed += 1;
}

check('typecheck', 'npx', ['tsc', '-b']);
check('lint', 'npx', ['eslint', '.']);
check('format', 'npx', ['prettier', '--check', '.']);
nodeTests('packages/protocol', 2);
nodeTests('packages/server', 2);
nodeTests('packages/terminal', 2);

/** Runs a reporter-to-JSON test runner and adds its counts (a run that wrote nothing counts as failed). */
function jsonTests(name, cmd, args, opts, counts) {
  const ok = step(name, cmd, args, opts);
  let c = { passed: 0, failed: ok ? 0 : 1, skipped: 0 };
  try {
    c = counts(JSON.parse(readFileSync(opts.report, 'utf8')));
    if (!ok && c.failed === 0) c.failed = 1;
  } catch {
    /* no report: the failure above stands */
  }
  totals.passed += c.passed;
  totals.failed += c.failed;
  totals.skipped += c.skipped;
}

// The desktop app: shell and renderer built (the daemon's web GUI serves this renderer), then Vitest.
check('build: apps/desktop', 'npm', ['run', 'build', '-w', '@tsunagu/desktop']);
const vitestReport = join(tmp, 'vitest.json');
jsonTests(
  'tests: apps/desktop (Vitest)',
  'npx',
  ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${vitestReport}`],
  { cwd: join(root, 'apps/desktop'), report: vitestReport },
  (r) => ({
    passed: r.numPassedTests,
    failed: r.numFailedTests,
    skipped: r.numPendingTests + r.numTodoTests,
  }),
);
// End to end: real server and daemons, Debian's Chromium; the Electron project skips without a binary.
const e2eReport = join(tmp, 'e2e.json');
jsonTests(
  'tests: e2e (Playwright)',
  'npx',
  ['playwright', 'test'],
  { cwd: join(root, 'e2e'), report: e2eReport, env: { ...process.env, E2E_JSON: e2eReport } },
  (r) => ({ passed: r.stats.expected + r.stats.flaky, failed: r.stats.unexpected, skipped: r.stats.skipped }),
);

rmSync(tmp, { recursive: true, force: true });
const skipped = totals.skipped ? `, ${totals.skipped} skipped` : '';
console.log(`\n${totals.passed} passed, ${totals.failed} failed${skipped}`);
process.exit(totals.failed === 0 ? 0 : 1);
