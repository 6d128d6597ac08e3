// @vitest-environment node
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { LOG_OPTIONS } from './log.js';

describe('LOG_OPTIONS', () => {
  it('redacts secrets that slip into a log object', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const log = pino({ ...LOG_OPTIONS, level: 'info' }, sink);
    log.info(
      {
        token: 'T0KEN',
        link: 'tsunagu://join?token=T0KEN',
        account: { password: 'pw', aor: 'sip:alice@example.org' },
      },
      'joined',
    );
    const text = lines.join('');
    expect(text).not.toContain('T0KEN');
    expect(text).not.toContain('"pw"');
    expect(text).toContain('sip:alice@example.org');
    expect(JSON.parse(text)).toMatchObject({
      service: 'tsunagu-desktop',
      token: '[redacted]',
      msg: 'joined',
    });
  });
});
