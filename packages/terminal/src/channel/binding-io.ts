import type { TLSSocket } from 'node:tls';
import {
  BindingError,
  MAX_BINDING_LINE,
  formatBindingMessage,
  parseBindingMessage,
  type BindingMessage,
} from '@tsunagu/protocol';
import { ChannelError } from './errors.js';

/**
 * Reads one binding line (packages/protocol `sdp/binding.ts`) from a TLS socket, without consuming
 * anything after it: bytes that arrived in the same record are put back (`unshift`), so the data
 * channel finds them. Uses the 'readable' event, whose removal leaves the stream in its initial state:
 * whoever attaches 'data', pipes or iterates next starts it flowing as usual.
 */
export function readBindingMessage(
  socket: TLSSocket,
  timeoutMs: number,
  remote: string,
): Promise<BindingMessage> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed || socket.readableEnded)
      return reject(
        new ChannelError('protocol', `${remote} closed the connection during the channel binding`, {
          remote,
        }),
      );
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(
      () =>
        finish(
          new ChannelError('timeout', `no channel binding from ${remote} within ${timeoutMs} ms`, { remote }),
        ),
      timeoutMs,
    );
    const onReadable = () => {
      for (
        let chunk = socket.read() as Buffer | null;
        chunk !== null;
        chunk = socket.read() as Buffer | null
      ) {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        const nl = buf.indexOf(10);
        if (nl >= 0 && nl < MAX_BINDING_LINE) {
          finish(undefined, buf.subarray(0, nl).toString('latin1'), buf.subarray(nl + 1));
          return;
        }
        if (nl >= MAX_BINDING_LINE || (nl < 0 && buf.length >= MAX_BINDING_LINE)) {
          finish(new ChannelError('protocol', `${remote} did not send a channel binding line`, { remote }));
          return;
        }
      }
    };
    const onEnd = () =>
      finish(
        new ChannelError('protocol', `${remote} closed the connection during the channel binding`, {
          remote,
        }),
      );
    const onError = (e: Error) =>
      finish(
        new ChannelError('unreachable', `connection to ${remote} failed: ${describe(e)}`, {
          remote,
          cause: e,
        }),
      );
    const finish = (err: Error | undefined, line?: string, rest?: Buffer) => {
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      if (rest && rest.length > 0) socket.unshift(rest);
      if (err) return reject(err);
      try {
        resolve(parseBindingMessage(line!));
      } catch (e) {
        const why = e instanceof BindingError ? e.message : String(e);
        reject(new ChannelError('protocol', `${remote}: ${why}`, { remote }));
      }
    };
    socket.on('readable', onReadable);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
  });
}

export function sendBindingMessage(socket: TLSSocket, msg: BindingMessage): void {
  socket.write(formatBindingMessage(msg));
}

/** Sends a refusal and closes: TLS close_notify after the line, then a hard close if the peer lingers. */
export function refuseAndClose(socket: TLSSocket, reason: string): void {
  if (socket.destroyed) return;
  socket.on('error', () => undefined);
  socket.end(formatBindingMessage({ type: 'refuse', reason }));
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** `host:port` with IPv6 in brackets. */
export function formatEndpoint(address: string | undefined, port: number | undefined): string {
  const a = address ?? '?';
  return a.includes(':') ? `[${a}]:${port ?? '?'}` : `${a}:${port ?? '?'}`;
}

/** A short description of a socket error: its code when it has one. */
export function describe(e: unknown): string {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string') return e.code;
  return e instanceof Error ? e.message : String(e);
}
