// @vitest-environment node
import type { ConnectionView } from '@tsunagu/protocol';
import { describe, expect, it } from 'vitest';
import { dotBitmap, trayMenu, trayView } from './tray.js';

describe('trayView', () => {
  it('says the connection state in words and colour', () => {
    const cases: Array<[ConnectionView, string, string]> = [
      [
        { state: 'registered', aor: 'sip:alice@example.org' },
        'Connected',
        'Tsunagu — Connected as sip:alice@example.org',
      ],
      [{ state: 'connecting' }, 'Connecting…', 'Tsunagu — Connecting…'],
      [
        { state: 'reconnecting', reason: 'network changed' },
        'Reconnecting…',
        'Tsunagu — Reconnecting… (network changed)',
      ],
      [
        { state: 'failed', reason: 'the server certificate does not match the pinned CA' },
        'Not connected',
        'Tsunagu — Not connected (the server certificate does not match the pinned CA)',
      ],
      [
        { state: 'unenrolled' },
        'Not set up: join with an invite link',
        'Tsunagu — Not set up: join with an invite link',
      ],
    ];
    for (const [connection, status, tooltip] of cases) {
      expect(trayView(connection)).toMatchObject({ status, tooltip });
    }
    const colours = cases.map(([c]) => trayView(c).colour.join());
    expect(new Set(colours).size).toBe(4); // connecting and reconnecting share amber
  });

  it('keeps a long or multi-line reason to one short line', () => {
    const { tooltip } = trayView({ state: 'failed', reason: `line one\nline two ${'x'.repeat(200)}` });
    expect(tooltip).not.toContain('\n');
    expect(tooltip.length).toBeLessThan(120);
    expect(tooltip).toContain('…');
  });
});

describe('trayMenu', () => {
  it('shows the state, then Show and Quit', () => {
    const calls: string[] = [];
    const menu = trayMenu(trayView({ state: 'unenrolled' }), {
      show: () => calls.push('show'),
      quit: () => calls.push('quit'),
    });
    expect(menu.map((i) => i.label ?? i.type)).toEqual([
      'Not set up: join with an invite link',
      'separator',
      'Show Tsunagu',
      'Quit',
    ]);
    expect(menu[0]?.enabled).toBe(false);
    (menu[2]?.click as () => void)();
    (menu[3]?.click as () => void)();
    expect(calls).toEqual(['show', 'quit']);
  });
});

describe('dotBitmap', () => {
  it('draws an opaque dot on a transparent square, as premultiplied BGRA', () => {
    const size = 32;
    const px = dotBitmap(size, [200, 100, 50]);
    expect(px.length).toBe(size * size * 4);
    const at = (x: number, y: number) => [...px.subarray((y * size + x) * 4, (y * size + x) * 4 + 4)];
    expect(at(16, 16)).toEqual([50, 100, 200, 255]);
    expect(at(0, 0)).toEqual([0, 0, 0, 0]);
  });
});
