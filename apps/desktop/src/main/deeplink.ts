/**
 * `tsunagu://join?…` links handed over by the OS: in argv on Windows and Linux (first launch, or a
 * second instance), through `open-url` on macOS. Only a valid join link reaches the renderer, in the
 * canonical form the protocol package writes; anything else is dropped.
 */
import { formatJoinLink, parseJoinLink } from '@tsunagu/protocol';

export const DEEP_LINK_SCHEME = 'tsunagu';

/** The canonical join link in `text`, or undefined when it is not one. */
export function joinLinkFrom(text: string): string | undefined {
  try {
    return formatJoinLink(parseJoinLink(text));
  } catch {
    return undefined;
  }
}

/** The first valid join link among the arguments (Chromium switches and paths are skipped). */
export function joinLinkFromArgv(argv: readonly string[]): string | undefined {
  for (const arg of argv) {
    if (!arg.toLowerCase().startsWith(`${DEEP_LINK_SCHEME}:`)) continue;
    const link = joinLinkFrom(arg);
    if (link !== undefined) return link;
  }
  return undefined;
}

/**
 * Holds the latest link until the page can take it: a link that arrives with the launch comes before
 * the window has loaded, and a message sent then would be lost.
 */
export class JoinLinkInbox {
  #pending: string | undefined;
  #deliver: ((link: string) => void) | undefined;

  push(link: string): void {
    if (this.#deliver) this.#deliver(link);
    else this.#pending = link;
  }

  /** The page is ready: hand over what waited, and deliver directly from now on. */
  open(deliver: (link: string) => void): void {
    this.#deliver = deliver;
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending !== undefined) deliver(pending);
  }

  /** The page is (re)loading: hold links again. */
  close(): void {
    this.#deliver = undefined;
  }
}
