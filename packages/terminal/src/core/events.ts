import type { TerminalApi, TerminalEvent } from '@tsunagu/protocol';

/** The next event from `api` for which `pred` holds; rejects after `timeoutMs`. */
export function nextEvent<E extends TerminalEvent>(
  api: TerminalApi,
  pred: (e: TerminalEvent) => e is E,
  timeoutMs?: number,
): Promise<E>;
export function nextEvent(
  api: TerminalApi,
  pred: (e: TerminalEvent) => boolean,
  timeoutMs?: number,
): Promise<TerminalEvent>;
export function nextEvent(
  api: TerminalApi,
  pred: (e: TerminalEvent) => boolean,
  timeoutMs = 5000,
): Promise<TerminalEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`the expected event did not come within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = api.subscribe((e) => {
      if (!pred(e)) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}
