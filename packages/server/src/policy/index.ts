export * from './admin.js';
export * from './errors.js';
export * from './file.js';
export * from './policy.js';
export * from './selector.js';
