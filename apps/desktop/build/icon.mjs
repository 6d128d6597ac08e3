#!/usr/bin/env node
// Draws the app icon (build/icon.png, 512×512, which electron-builder turns into .icns/.ico/hicolor
// sizes): two linked rings ("tsunagu", to connect) on an indigo rounded square. No image tools needed;
// run it again after changing the drawing: `node apps/desktop/build/icon.mjs`.
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const SIZE = 512;
const SAMPLES = 4; // per axis, for anti-aliasing
const BACKGROUND = [59, 91, 219];
const RING = [255, 255, 255];

/** Signed distance to a rounded square centred on (0.5, 0.5), in units of the icon's width. */
function roundedSquare(x, y, half = 0.42, radius = 0.1) {
  const qx = Math.abs(x - 0.5) - half + radius;
  const qy = Math.abs(y - 0.5) - half + radius;
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - radius;
}

const ring = (x, y, cx) => Math.abs(Math.hypot(x - cx, y - 0.5) - 0.15) - 0.035;
const GAP = 0.018;

/** Linked, not just overlapping: at the upper crossing the right ring passes over, at the lower one under. */
const CROSSING = Math.sqrt(0.15 ** 2 - 0.1 ** 2);
function onRing(x, y) {
  const [left, right] = [ring(x, y, 0.4), ring(x, y, 0.6)];
  if (Math.hypot(x - 0.5, y - (0.5 - CROSSING)) < 0.08) return right <= 0 || (left <= 0 && right > GAP);
  if (Math.hypot(x - 0.5, y - (0.5 + CROSSING)) < 0.08) return left <= 0 || (right <= 0 && left > GAP);
  return left <= 0 || right <= 0;
}

function pixel(px, py) {
  let bg = 0;
  let fg = 0;
  for (let sy = 0; sy < SAMPLES; sy++) {
    for (let sx = 0; sx < SAMPLES; sx++) {
      const x = (px + (sx + 0.5) / SAMPLES) / SIZE;
      const y = (py + (sy + 0.5) / SAMPLES) / SIZE;
      if (roundedSquare(x, y) > 0) continue;
      bg++;
      if (onRing(x, y)) fg++;
    }
  }
  const n = SAMPLES * SAMPLES;
  const alpha = bg / n;
  const mix = bg === 0 ? 0 : fg / bg;
  const rgb = BACKGROUND.map((b, i) => Math.round(b + (RING[i] - b) * mix));
  return [...rgb, Math.round(alpha * 255)];
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

const raw = Buffer.alloc(SIZE * (SIZE * 4 + 1));
for (let y = 0; y < SIZE; y++) {
  raw[y * (SIZE * 4 + 1)] = 0; // filter: none
  for (let x = 0; x < SIZE; x++) raw.set(pixel(x, y), y * (SIZE * 4 + 1) + 1 + x * 4);
}
const header = Buffer.alloc(13);
header.writeUInt32BE(SIZE, 0);
header.writeUInt32BE(SIZE, 4);
header.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, no interlace

const png = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  chunk('IHDR', header),
  chunk('IDAT', deflateSync(raw, { level: 9 })),
  chunk('IEND', Buffer.alloc(0)),
]);
writeFileSync(new URL('./icon.png', import.meta.url), png);
console.log(`icon.png: ${SIZE}×${SIZE}, ${png.length} bytes`);
