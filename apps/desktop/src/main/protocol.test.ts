// @vitest-environment node
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY, hasOrigin, registerAppScheme, resolveAppRequest } from './protocol.js';

let base: string;
let root: string;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'tsunagu-protocol-'));
  root = join(base, 'renderer');
  mkdirSync(join(root, 'assets'), { recursive: true });
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>Tsunagu</title>');
  writeFileSync(join(root, 'assets', 'app-1a2b.js'), 'console.log(1)');
  writeFileSync(join(root, 'assets', 'app.css'), 'body{}');
  writeFileSync(join(root, 'assets', 'logo.svg'), '<svg/>');
  writeFileSync(join(root, 'assets', 'font.woff2'), 'x');
  writeFileSync(join(base, 'secret.txt'), 'do not serve');
  symlinkSync(join(base, 'secret.txt'), join(root, 'assets', 'escape.txt'));
  symlinkSync(join(root, 'assets', 'app.css'), join(root, 'assets', 'inside.css'));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

const get = (url: string, method = 'GET') => resolveAppRequest(root, { method, url });

describe('resolveAppRequest', () => {
  it('maps / to index.html, with the CSP and nosniff headers', async () => {
    for (const url of ['app://tsunagu/', 'app://tsunagu', 'app://tsunagu/?x=1#top']) {
      const res = await get(url);
      expect(res.status, url).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await res.text()).toContain('<title>Tsunagu</title>');
    }
  });

  it('serves assets with their content types', async () => {
    const types: Record<string, string> = {
      'assets/app-1a2b.js': 'text/javascript; charset=utf-8',
      'assets/app.css': 'text/css; charset=utf-8',
      'assets/logo.svg': 'image/svg+xml',
      'assets/font.woff2': 'font/woff2',
      'assets/inside.css': 'text/css; charset=utf-8',
    };
    for (const [path, type] of Object.entries(types)) {
      const res = await get(`app://tsunagu/${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe(type);
    }
    expect(await (await get('app://tsunagu/assets/app-1a2b.js')).text()).toBe('console.log(1)');
  });

  it('answers 404 for missing files and folders, still with the CSP', async () => {
    for (const url of ['app://tsunagu/nope.js', 'app://tsunagu/assets']) {
      const res = await get(url);
      expect(res.status, url).toBe(404);
      expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    }
  });

  it('never serves anything outside the root', async () => {
    for (const url of [
      'app://tsunagu/../secret.txt',
      'app://tsunagu/%2e%2e/secret.txt',
      'app://tsunagu/assets/%2E%2E/%2E%2E/secret.txt',
      'app://tsunagu/..%2fsecret.txt',
      'app://tsunagu/assets/..%5c..%5csecret.txt',
      'app://tsunagu//etc/passwd',
      `app://tsunagu/${encodeURIComponent(join(base, 'secret.txt'))}`,
      'app://tsunagu/C:/Windows/win.ini',
      'app://tsunagu/assets/escape.txt',
      'app://tsunagu/index.html%00.js',
      'app://tsunagu/%E0%A4%A',
    ]) {
      const res = await get(url);
      expect(res.status, url).toBeGreaterThanOrEqual(400);
      expect(await res.text(), url).not.toContain('do not serve');
    }
  });

  it('refuses other hosts, credentials and other schemes', async () => {
    for (const url of [
      'app://evil/index.html',
      'app://tsunagu@evil/index.html',
      'app://u:p@tsunagu/index.html',
      'file:///index.html',
      'app://tsunagu:8080/',
    ]) {
      expect((await get(url)).status, url).toBe(403);
    }
  });

  it('refuses every method but GET', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS']) {
      const res = await get('app://tsunagu/index.html', method);
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow')).toBe('GET');
    }
  });
});

describe('the app scheme', () => {
  it('is registered standard, secure and fetch-capable', () => {
    const registered: unknown[] = [];
    registerAppScheme({ registerSchemesAsPrivileged: (schemes) => void registered.push(...schemes) });
    expect(registered).toEqual([
      { scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } },
    ]);
  });

  it('compares origins by scheme and host, not by the opaque URL.origin', () => {
    expect(hasOrigin('app://tsunagu/x', 'app://tsunagu')).toBe(true);
    expect(hasOrigin('app://evil/x', 'app://tsunagu')).toBe(false);
    expect(hasOrigin('other://tsunagu/x', 'app://tsunagu')).toBe(false);
  });
});
