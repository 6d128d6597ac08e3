/**
 * The tray icon: a dot in the colour of the connection state, a tooltip saying it in words, and a menu
 * (the state, Show, Quit). The app keeps running here when its window is closed, so channel requests
 * still arrive. What to show is decided by pure functions; `mountTray` only draws it.
 */
import type { ConnectionView } from '@tsunagu/protocol';
import type { Menu, MenuItemConstructorOptions, NativeImage, Tray, nativeImage } from 'electron';

export interface TrayView {
  /** One line for the menu. */
  status: string;
  tooltip: string;
  /** RGB of the dot. */
  colour: readonly [number, number, number];
}

const GREEN = [46, 160, 67] as const;
const AMBER = [219, 154, 4] as const;
const RED = [207, 34, 46] as const;
const GREY = [140, 149, 159] as const;
const MAX_DETAIL = 80;

// A server's reason or an address is shown as is; a tooltip line must stay a line.
const clip = (s: string) => {
  const line = s.replace(/\s+/g, ' ').trim();
  return line.length > MAX_DETAIL ? `${line.slice(0, MAX_DETAIL - 1)}…` : line;
};

export function trayView(connection: ConnectionView): TrayView {
  const why = connection.reason ? ` (${clip(connection.reason)})` : '';
  const view = (status: string, colour: TrayView['colour'], detail = '') => ({
    status,
    tooltip: `Tsunagu — ${status}${detail}`,
    colour,
  });
  switch (connection.state) {
    case 'registered':
      return view('Connected', GREEN, connection.aor ? ` as ${clip(connection.aor)}` : '');
    case 'connecting':
      return view('Connecting…', AMBER);
    case 'reconnecting':
      return view('Reconnecting…', AMBER, why);
    case 'failed':
      return view('Not connected', RED, why);
    case 'unenrolled':
      return view('Not set up: join with an invite link', GREY);
  }
}

/**
 * A filled, anti-aliased dot as raw BGRA pixels (`nativeImage.createFromBitmap`), so the tray needs no
 * image files in the package.
 */
export function dotBitmap(size: number, [r, g, b]: TrayView['colour']): Buffer {
  const pixels = Buffer.alloc(size * size * 4);
  const centre = size / 2;
  const radius = size * 0.4;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const distance = Math.hypot(x + 0.5 - centre, y + 0.5 - centre);
      const coverage = Math.min(1, Math.max(0, radius - distance + 0.5));
      const i = (y * size + x) * 4;
      // Premultiplied, as Skia's N32 format expects.
      pixels[i] = Math.round(b * coverage);
      pixels[i + 1] = Math.round(g * coverage);
      pixels[i + 2] = Math.round(r * coverage);
      pixels[i + 3] = Math.round(255 * coverage);
    }
  }
  return pixels;
}

export function trayMenu(view: TrayView, actions: TrayActions): MenuItemConstructorOptions[] {
  return [
    { label: view.status, enabled: false },
    { type: 'separator' },
    { label: 'Show Tsunagu', click: actions.show },
    { label: 'Quit', click: actions.quit },
  ];
}

export interface TrayActions {
  show(): void;
  quit(): void;
}

export interface TrayElectron {
  Tray: new (image: NativeImage) => Tray;
  Menu: Pick<typeof Menu, 'buildFromTemplate'>;
  nativeImage: Pick<typeof nativeImage, 'createFromBitmap'>;
}

const ICON_SIZE = 32;

export function mountTray(electron: TrayElectron, actions: TrayActions, initial: ConnectionView) {
  const image = (view: TrayView) =>
    electron.nativeImage.createFromBitmap(dotBitmap(ICON_SIZE, view.colour), {
      width: ICON_SIZE,
      height: ICON_SIZE,
      scaleFactor: 2,
    });
  const first = trayView(initial);
  const tray = new electron.Tray(image(first));
  tray.on('click', actions.show);
  const show = (view: TrayView) => {
    tray.setToolTip(view.tooltip);
    tray.setContextMenu(electron.Menu.buildFromTemplate(trayMenu(view, actions)));
  };
  show(first);
  return {
    update(connection: ConnectionView): void {
      const view = trayView(connection);
      tray.setImage(image(view));
      show(view);
    },
    destroy: () => tray.destroy(),
  };
}
