import { randomFillSync } from 'node:crypto';

/**
 * Tags, branches and connection ids need fresh randomness on every message. Drawing it from a pool
 * refilled 4 KiB at a time costs one system call per few hundred ids instead of one each.
 */
const pool = Buffer.alloc(4096);
let offset = pool.length;

export function randomId(bytes: number, encoding: 'hex' | 'base64url'): string {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString(encoding, offset, offset + bytes);
  offset += bytes;
  return id;
}
