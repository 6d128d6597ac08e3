/**
 * The Electron main process: wiring only. Each decision lives in a module that takes Electron objects
 * as arguments and is tested in Node with fakes; this file alone imports `electron` and the terminal
 * as values.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BrowserWindow,
  Menu,
  Notification,
  Tray,
  app,
  dialog,
  ipcMain,
  nativeImage,
  protocol,
  shell,
} from 'electron';
import { TerminalHost } from '@tsunagu/terminal';
import { IPC } from '../preload/contract.js';
import { DEEP_LINK_SCHEME, JoinLinkInbox, joinLinkFrom, joinLinkFromArgv } from './deeplink.js';
import { appSender, registerTerminalIpc } from './ipc.js';
import { createMainLogger } from './log.js';
import { Notifier } from './notifications.js';
import { APP_ORIGIN, registerAppScheme, serveApp } from './protocol.js';
import { mountTray } from './tray.js';
import { createWindowOptions, hardenWebContents } from './window.js';

const built = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const RENDERER_DIR = built('../renderer');
const PRELOAD = built('../preload/index.cjs');
const STOP_TIMEOUT_MS = 5000;

// The package is named @tsunagu/desktop; the app and its data folder are called Tsunagu.
// TSUNAGU_PROFILE gives a run its own terminal profile and its own Chromium data (and so its own
// single-instance lock): tests and a second identity on one machine do not meet the everyday app.
app.setName('Tsunagu');
const profileOverride = process.env.TSUNAGU_PROFILE;
app.setPath(
  'userData',
  profileOverride ? join(profileOverride, 'electron') : join(app.getPath('appData'), 'Tsunagu'),
);
// Windows shows notifications only for the AppUserModelID the installer gave the shortcut (the appId).
if (process.platform === 'win32') app.setAppUserModelId('org.tsunagu.desktop');
const profileDir = profileOverride || join(app.getPath('userData'), 'profile');

const log = createMainLogger(join(app.getPath('userData'), 'logs', 'main.log'));
const links = new JoinLinkInbox();
let window: BrowserWindow | undefined;
let quitting = false;
const sendToApp = appSender(() => window?.webContents);

function showWindow(): void {
  if (!window) return;
  if (window.isMinimized()) window.restore();
  window.show();
  window.focus();
}

function receiveLink(link: string | undefined): void {
  if (link === undefined) return;
  log.info('join link received'); // never the link: it carries the invite token
  links.push(link);
  showWindow();
}

function createWindow(): BrowserWindow {
  const win = new BrowserWindow(createWindowOptions(PRELOAD));
  win.once('ready-to-show', () => win.show());
  // Closing hides: the app stays in the tray to take channel requests. Quit is in the tray menu.
  win.on('close', (event) => {
    if (quitting) return;
    event.preventDefault();
    win.hide();
  });
  win.webContents.on('did-start-loading', () => links.close());
  win.webContents.on('did-finish-load', () => links.open((link) => sendToApp(IPC.joinLink, link)));
  void win.loadURL(`${APP_ORIGIN}/`);
  return win;
}

async function start(): Promise<void> {
  await app.whenReady();
  serveApp(protocol, RENDERER_DIR);

  const host = await TerminalHost.open({ profileDir, log: log.child({ module: 'terminal' }) });
  log.info({ profileDir }, 'terminal started');

  window = createWindow();
  const stopIpc = registerTerminalIpc({
    ipcMain,
    host,
    send: sendToApp,
    shell,
    dialog: {
      showOpenDialog: (options) =>
        window ? dialog.showOpenDialog(window, options) : dialog.showOpenDialog(options),
    },
  });

  const { connection } = await host.call('snapshot', {});
  const tray = mountTray(
    { Tray, Menu, nativeImage },
    { show: showWindow, quit: () => app.quit() },
    connection,
  );
  const notifier = new Notifier({
    create: (text) => new Notification(text),
    isWindowFocused: () => window?.isFocused() ?? false,
    focusWindow: showWindow,
  });
  const unsubscribe = host.subscribe((event) => {
    if (event.type === 'connection') tray.update(event.data);
    if (Notification.isSupported()) notifier.handle(event);
  });

  let stopped = false;
  app.on('will-quit', (event) => {
    if (stopped) return;
    event.preventDefault();
    unsubscribe();
    notifier.dispose();
    stopIpc();
    tray.destroy();
    const timeout = new Promise((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS));
    void Promise.race([host.stop(), timeout])
      .catch((e: unknown) => log.error({ err: e }, 'terminal stop failed'))
      .finally(() => {
        stopped = true;
        app.quit();
      });
  });
}

app.enableSandbox();
registerAppScheme(protocol);

if (!app.requestSingleInstanceLock()) {
  // Another instance runs: it got our argv (and any link in it) through 'second-instance'.
  app.quit();
} else {
  // Development runs must not take over the OS handler for tsunagu:// (the installers register it).
  if (app.isPackaged) app.setAsDefaultProtocolClient(DEEP_LINK_SCHEME);
  app.on('web-contents-created', (_event, contents) =>
    hardenWebContents(contents, APP_ORIGIN, (url) => shell.openExternal(url)),
  );
  app.on('second-instance', (_event, argv) => {
    showWindow();
    receiveLink(joinLinkFromArgv(argv));
  });
  app.on('open-url', (event, url) => {
    event.preventDefault();
    receiveLink(joinLinkFrom(url));
  });
  app.on('before-quit', () => {
    quitting = true;
  });
  app.on('activate', showWindow);
  // Keep running in the tray when the window is gone.
  app.on('window-all-closed', () => undefined);
  receiveLink(joinLinkFromArgv(process.argv));

  start().catch((e: unknown) => {
    log.fatal({ err: e }, 'start failed');
    dialog.showErrorBox('Tsunagu could not start', e instanceof Error ? e.message : String(e));
    app.exit(1);
  });
}
