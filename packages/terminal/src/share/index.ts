/** `tsunagu share`: one file over HTTPS, verifiable by any host that holds the deployment CA certificate. */
export {
  DEFAULT_SHARE_PORT,
  contentDisposition,
  dnsNames,
  parseListen,
  parseRange,
  requireCaCertificate,
  serveShare,
} from './share.js';
export type { ShareDownload, ShareLog, ShareOptions, ShareServer } from './share.js';
