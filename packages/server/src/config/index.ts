export * from './address.js';
export * from './config.js';
export * from './duration.js';
export * from './errors.js';
export * from './paths.js';
export { formatIssues, issueMessages, describeValue, formatPath } from './zod-issues.js';
