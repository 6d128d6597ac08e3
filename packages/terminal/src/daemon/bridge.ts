import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import {
  CommandError,
  parseCommand,
  type CommandName,
  type CommandReply,
  type CommandRequest,
  type Commands,
  type TerminalApi,
} from '@tsunagu/protocol';

/**
 * The terminal's API over one authenticated WebSocket, the same for the CLI's control endpoint and the
 * web GUI: `{id, command, params}` in, `{id, ok, result | error}` and `{event}` out. Every command is
 * validated by `parseCommand` before it reaches the terminal.
 */
export function serveApi(
  ws: WebSocket,
  api: TerminalApi,
  o: { onCommand?: (request: CommandRequest, result: unknown) => void } = {},
): void {
  const off = api.subscribe((event) => send(ws, { event }));
  ws.on('close', off);
  ws.on('message', (data) => {
    let id = -1;
    void (async () => {
      const input = JSON.parse(data.toString()) as unknown;
      // Answer a malformed command under its own id when it has one, so the caller is not left waiting.
      const given = (input as { id?: unknown } | null)?.id;
      if (typeof given === 'number' && Number.isSafeInteger(given) && given >= 0) id = given;
      const request = parseCommand(input);
      const result = await api.call(request.command, request.params as Commands[CommandName]['params']);
      o.onCommand?.(request, result);
      send(ws, { id, ok: true, result } satisfies CommandReply);
    })().catch((err: Error) => {
      const code =
        err instanceof CommandError ? err.code : err instanceof SyntaxError ? 'bad-request' : 'failed';
      send(ws, { id, ok: false, error: { code, message: err.message } } satisfies CommandReply);
    });
  });
}

export function send(ws: WebSocket, message: unknown): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

/** Constant-time comparison of a presented secret with the per-run token. */
export function sameSecret(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** True when the request carries `Authorization: Bearer TOKEN`. */
export function bearerMatches(req: IncomingMessage, token: string): boolean {
  return sameSecret(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '', token);
}
