/**
 * Making an offered relative path safe to create under a download folder, on any of the systems a
 * terminal runs on (Linux, macOS, Windows). Pure: the receiver still resolves the result under its
 * folder and checks the outcome (packages/terminal/src/transfer/store.ts).
 *
 * Each segment is neutralised rather than refused, so a file with an odd name still arrives under a
 * recognisable name:
 * - NFC; control characters (C0, DEL, C1), bidirectional-override characters, unpaired surrogates and
 *   the characters Windows forbids or treats as separators (`/ \ : * ? " < > |`) become `_` — so no
 *   segment can hold a separator, a drive letter (`C:`), an alternate data stream or a NUL;
 * - trailing dots and spaces are removed (Windows drops them silently, which would let `a.` and `a`
 *   collide); a segment left empty, or made only of dots (`.`, `..`), becomes `_`;
 * - Windows device names (CON, PRN, AUX, NUL, COM0–9, LPT0–9, their superscript-digit forms, CONIN$,
 *   CONOUT$), with or without an extension, get a `_` prefix;
 * - a segment longer than 255 UTF-8 bytes is cut to 255, keeping a short extension;
 * - a top-level segment in `reserved` (compared case-insensitively; the receiver's own bookkeeping
 *   folder) gets a `_` prefix.
 *
 * What cannot be neutralised sensibly throws UnsafeNameError: more segments than allowed, or a path of
 * more than 4096 UTF-8 bytes.
 */

export const MAX_NAME_BYTES = 255;
export const MAX_PATH_BYTES = 4096;
export const MAX_PATH_DEPTH = 64;

export class UnsafeNameError extends Error {
  override readonly name = 'UnsafeNameError';
}

export interface SafePath {
  /** Safe segments; the last is the file name. */
  segments: string[];
  /** Whether anything had to be changed. */
  changed: boolean;
}

const encoder = new TextEncoder();
const utf8Length = (s: string): number => encoder.encode(s).length;

const FORBIDDEN =
  /[\u0000-\u001f\u007f-\u009f/\\:*?"<>|\u200e\u200f\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const DEVICE =
  /^(?:con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3]|conin\$|conout\$)$/i;
const MULTI_EXT = /\.tar\.(?:gz|bz2|xz|zst|lz|lzma|z)$/i;

/** The extension kept when a name is cut or numbered: `.tar.gz`-like pairs, else the last `.xxx`. */
export function splitExtension(name: string): [base: string, ext: string] {
  const multi = MULTI_EXT.exec(name);
  if (multi && multi.index > 0) return [name.slice(0, multi.index), name.slice(multi.index)];
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || name.length - dot > 16) return [name, ''];
  return [name.slice(0, dot), name.slice(dot)];
}

/** Cuts `s` to at most `max` UTF-8 bytes without splitting a character. */
function cutBytes(s: string, max: number): string {
  let bytes = 0;
  let out = '';
  for (const ch of s) {
    const n = utf8Length(ch);
    if (bytes + n > max) break;
    bytes += n;
    out += ch;
  }
  return out;
}

const stripTrailing = (s: string): string => s.replace(/[. ]+$/u, '');

/** Fits `name` into `max` UTF-8 bytes, keeping its extension when that is short. */
export function fitName(name: string, max = MAX_NAME_BYTES): string {
  if (utf8Length(name) <= max) return name;
  const [base, ext] = splitExtension(name);
  const extBytes = utf8Length(ext);
  if (ext !== '' && extBytes <= 32) return stripTrailing(cutBytes(base, max - extBytes)) + ext;
  return stripTrailing(cutBytes(name, max));
}

/** One segment made safe (see the module comment). */
export function safeSegment(raw: string): string {
  let s = raw.normalize('NFC').replace(FORBIDDEN, '_');
  s = stripTrailing(s);
  if (s === '' || /^\.+$/.test(s)) s = '_';
  const [base] = s.split('.');
  if (DEVICE.test((base ?? '').trimEnd())) s = `_${s}`;
  s = fitName(s);
  if (s === '' || /^\.+$/.test(s)) s = '_';
  return s;
}

/**
 * The safe form of an offered relative path (segments as sent in OFFER). Throws UnsafeNameError when
 * it is too deep or too long to be kept.
 */
export function safeRelativePath(raw: readonly string[], reserved: readonly string[] = []): SafePath {
  if (raw.length === 0) throw new UnsafeNameError('empty path');
  if (raw.length > MAX_PATH_DEPTH) throw new UnsafeNameError(`path deeper than ${MAX_PATH_DEPTH} folders`);
  const segments = raw.map(safeSegment);
  const top = segments[0] as string;
  if (reserved.some((r) => r.toLowerCase() === top.toLowerCase())) segments[0] = `_${top}`;
  const total = utf8Length(segments.join('/'));
  if (total > MAX_PATH_BYTES) throw new UnsafeNameError(`path of ${total} bytes (at most ${MAX_PATH_BYTES})`);
  return { segments, changed: segments.some((s, i) => s !== raw[i]) };
}

/** `name (n).ext` — the n-th alternative when `name` is taken; still at most 255 bytes. */
export function numberedName(name: string, n: number): string {
  if (n === 0) return name;
  const [base, ext] = splitExtension(name);
  const suffix = ` (${n})${ext}`;
  return stripTrailing(cutBytes(base, MAX_NAME_BYTES - utf8Length(suffix))) + suffix;
}
