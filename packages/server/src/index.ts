/** @tsunagu/server: the session server, for embedding (the desktop app's "start a server here") and tests. */
export { startServer, type RunningServer, type ServerOptions } from './server.js';
export { initDataDir, type InitOptions, type InitResult } from './cli/init.js';
export { openStore, type Store } from './store/index.js';
export { addGroupMembers, addRule, loadPolicy, setPolicyDefault } from './policy/index.js';
export { createInvite, createJoinLink, type CreatedJoinLink } from './cli/invite.js';
export { createLogger } from './log/logger.js';
