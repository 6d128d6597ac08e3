import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HistoryEntry } from '@tsunagu/protocol';

export type { HistoryEntry };

export const HISTORY_FILE = 'history.jsonl';
/** The newest entries a reader returns; older ones stay in the file. */
const MAX_READ = 1000;

export async function appendHistory(profileDir: string, entry: HistoryEntry): Promise<void> {
  await appendFile(join(profileDir, HISTORY_FILE), `${JSON.stringify(entry)}\n`, { mode: 0o600 });
}

/** The newest entries first; a damaged line is skipped rather than failing the whole history. */
export async function readHistory(profileDir: string, limit = MAX_READ): Promise<HistoryEntry[]> {
  let text: string;
  try {
    text = await readFile(join(profileDir, HISTORY_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: HistoryEntry[] = [];
  for (const line of text.split('\n').reverse()) {
    if (out.length >= limit) break;
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as HistoryEntry);
    } catch {
      /* a line cut by a crash: skip it */
    }
  }
  return out;
}
