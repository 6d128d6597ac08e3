export * from './format.js';
export * from './decoder.js';
export * from './names.js';
