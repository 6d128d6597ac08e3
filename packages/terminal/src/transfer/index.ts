/** File transfer over a data channel (docs/protocol.md, "Data channel"). */
export { TransferSession, newTransferId } from './session.js';
export type { SendOptions, SessionEnd, TransferSessionEvents, TransferSessionOptions } from './session.js';
export { IncomingTransfer, OutgoingTransfer, Transfer, FINAL_STATES } from './transfer.js';
export type {
  TransferDirection,
  TransferEvents,
  TransferOutcome,
  TransferProblem,
  TransferState,
} from './transfer.js';
export type { TransferProgress } from './progress.js';
export { DownloadStore, PARTIAL_DIR } from './store.js';
export { walkFolder, folderTransferId, MAX_FOLDER_FILES } from './folder.js';
