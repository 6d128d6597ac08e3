export * from './ca.js';
export * from './files.js';
