/** @tsunagu/terminal: everything a terminal does, without a UI. */
export { Terminal, type TerminalOptions } from './core/terminal.js';
export { TerminalHost, type HostOptions } from './core/host.js';
export { credentialsOf, enrolProfile, loginProfile, saveCredentials } from './core/account.js';
export { SecureChannel } from './session/secure-channel.js';
export * from './identity/index.js';
export * from './channel/index.js';
export * from './sip/index.js';
export * from './enroll/index.js';
export * from './transfer/index.js';
