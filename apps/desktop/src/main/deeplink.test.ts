// @vitest-environment node
import { formatJoinLink } from '@tsunagu/protocol';
import { describe, expect, it } from 'vitest';
import { JoinLinkInbox, joinLinkFrom, joinLinkFromArgv } from './deeplink.js';

const LINK = formatJoinLink({
  domain: 'example.org',
  user: 'alice',
  server: 'sip.example.org:5061',
  https: 'sip.example.org:5443',
  caFingerprint: `sha256:${Array(32).fill('AB').join(':')}`,
  token: 'abcdefghijklmnopqrstuvwxyz012345',
});

describe('joinLinkFrom', () => {
  it('keeps a valid join link in canonical form', () => {
    expect(joinLinkFrom(LINK)).toBe(LINK);
    expect(joinLinkFrom(`  ${LINK.replace('ca=sha256:AB', 'ca=sha256:ab')}\n`)).toBe(LINK);
  });

  it('drops everything else', () => {
    for (const text of [
      '',
      'tsunagu://',
      'tsunagu://join',
      'tsunagu://join?v=2&user=alice',
      LINK.replace('tsunagu://join', 'tsunagu://delete'),
      LINK.replace('user=alice', 'user=../../x'),
      LINK.replace('tsunagu:', 'https:'),
      `${LINK}&user=mallory`,
      `${LINK}&pad=${'x'.repeat(5000)}`,
    ]) {
      expect(joinLinkFrom(text), text.slice(0, 60)).toBeUndefined();
    }
  });
});

describe('joinLinkFromArgv', () => {
  it('finds the link among executable paths and Chromium switches (Windows, Linux, second instance)', () => {
    expect(joinLinkFromArgv(['/opt/Tsunagu/tsunagu', '--no-sandbox', '--', LINK])).toBe(LINK);
    expect(
      joinLinkFromArgv([
        'C:\\Tsunagu\\Tsunagu.exe',
        '--allow-file-access-from-files',
        LINK.toUpperCase().replace(/^TSUNAGU/, 'tsunagu'),
        LINK,
      ]),
    ).toBe(LINK);
  });

  it('ignores argv without a valid join link', () => {
    expect(joinLinkFromArgv([])).toBeUndefined();
    expect(joinLinkFromArgv(['/usr/bin/tsunagu', '.', 'out/main/index.js'])).toBeUndefined();
    expect(
      joinLinkFromArgv(['tsunagu', 'tsunagu://join?v=1', 'tsunagu://evil?x=1', '--tsunagu://join']),
    ).toBeUndefined();
  });
});

describe('JoinLinkInbox', () => {
  it('holds the latest link until the page is ready, then delivers directly', () => {
    const inbox = new JoinLinkInbox();
    const got: string[] = [];
    inbox.push('first');
    inbox.push('second');
    inbox.open((l) => got.push(l));
    inbox.push('third');
    inbox.close();
    inbox.push('fourth');
    expect(got).toEqual(['second', 'third']);
    inbox.open((l) => got.push(`again:${l}`));
    expect(got).toEqual(['second', 'third', 'again:fourth']);
  });
});
