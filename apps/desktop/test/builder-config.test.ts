// @vitest-environment node
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const config = parse(readFileSync(`${root}electron-builder.yml`, 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('electron-builder.yml', () => {
  it('names the product and packages apps/desktop into dist/desktop', () => {
    expect(config).toMatchObject({
      appId: 'org.tsunagu.desktop',
      productName: 'Tsunagu',
      directories: { app: 'apps/desktop', output: 'dist/desktop', buildResources: 'apps/desktop/build' },
      publish: null,
    });
    expect(existsSync(`${root}apps/desktop/build/icon.png`)).toBe(true);
  });

  it('ships the built app only, in an asar with native modules unpacked', () => {
    const files: string[] = config.files;
    const included = files.filter((f) => !f.startsWith('!'));
    expect(included.sort()).toEqual(['out/**', 'package.json']);
    for (const pattern of included) expect(pattern).not.toMatch(/src|test|\.ts$|config/);
    expect(files).toContain('!out/**/*.map');
    expect(config.asar).toBe(true);
    expect(config.asarUnpack).toContain('**/*.node');
    expect(config.npmRebuild).toBe(true);
  });

  it('registers the tsunagu: scheme for invite links', () => {
    expect(config.protocols).toEqual([{ name: expect.any(String), schemes: ['tsunagu'] }]);
  });

  it('flips the Electron fuses that close Node-level backdoors', () => {
    expect(config.electronFuses).toEqual({
      runAsNode: false,
      enableCookieEncryption: true,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
      grantFileProtocolExtraPrivileges: false,
    });
  });

  it('builds AppImage and deb for Linux', () => {
    expect(config.linux).toMatchObject({
      target: ['AppImage', 'deb'],
      category: 'Network',
      executableName: 'tsunagu',
    });
    expect(config.linux.maintainer).toMatch(/<.+@.+>/);
    expect(config.deb.depends).toEqual(
      expect.arrayContaining(['libgtk-3-0', 'libnss3', 'xdg-utils', 'libnotify4']),
    );
  });

  it('signs, hardens and notarises for macOS, with entitlements that ask for JIT only', () => {
    expect(config.mac).toMatchObject({
      target: ['dmg', 'zip'],
      hardenedRuntime: true,
      notarize: true,
      entitlements: 'apps/desktop/build/entitlements.mac.plist',
    });
    const plist = readFileSync(`${root}${config.mac.entitlements}`, 'utf8');
    const keys = [...plist.matchAll(/<key>([^<]+)<\/key>/g)].map((m) => m[1]);
    expect(keys).toEqual(['com.apple.security.cs.allow-jit']);
    // Credentials never live in the file.
    expect(JSON.stringify(config)).not.toMatch(/APPLE_|password|cscLink|cscKeyPassword/i);
  });

  it('offers a per-user NSIS installer with a choice of folder on Windows', () => {
    expect(config.win.target).toBe('nsis');
    expect(config.nsis).toEqual({
      oneClick: false,
      perMachine: false,
      allowToChangeInstallationDirectory: true,
    });
  });
});
