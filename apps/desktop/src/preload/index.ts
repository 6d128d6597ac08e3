/**
 * The preload: exposes `window.tsunagu` (a `DesktopBridge`) and nothing else. Built to CommonJS
 * (`out/preload/index.cjs`): a sandboxed preload runs as a plain script, without ESM.
 */
import { contextBridge, ipcRenderer, webUtils } from 'electron';
import { createDesktopBridge } from './bridge.js';

contextBridge.exposeInMainWorld('tsunagu', createDesktopBridge(ipcRenderer, webUtils));
