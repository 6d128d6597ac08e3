import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { JoinLinkError, formatJoinLink, parseJoinLink } from './join-link.js';
import type { JoinLink } from './join-link.js';

const FP = `sha256:${Array.from({ length: 32 }, (_, i) => ((i * 37 + 11) % 256).toString(16).padStart(2, '0').toUpperCase()).join(':')}`;
const TOKEN = 'q3dZk0h3o1eJb0ZKQzdm9c0cS9q2m6pX1w7yJvQ2bLk';

const link: JoinLink = {
  server: 'sip.example.org:5061',
  https: 'sip.example.org:5443',
  caFingerprint: FP,
  user: 'alice',
  token: TOKEN,
  domain: 'example.org',
};

function rejects(text: string, message: string | RegExp): void {
  assert.throws(
    () => parseJoinLink(text),
    (e: unknown) =>
      e instanceof JoinLinkError &&
      (typeof message === 'string' ? e.message === message : message.test(e.message)),
    text,
  );
}

function withParam(name: string, value: string | undefined): string {
  const u = new URL(formatJoinLink(link));
  if (value === undefined) u.searchParams.delete(name);
  else u.searchParams.set(name, value);
  return u.toString();
}

describe('join link', () => {
  it('formats a readable, versioned link and parses it back', () => {
    const s = formatJoinLink(link);
    assert.equal(
      s,
      `tsunagu://join?v=1&domain=example.org&user=alice&server=sip.example.org:5061&https=sip.example.org:5443&ca=${FP}&token=${TOKEN}`,
    );
    assert.deepEqual(parseJoinLink(s), link);
    assert.deepEqual(parseJoinLink(`  ${s}\n`), link, 'surrounding whitespace');
  });
  it('refuses an over-long link before parsing it', () => {
    const long = `${formatJoinLink(link)}&pad=${'x'.repeat(5000)}`;
    assert.throws(
      () => parseJoinLink(long),
      (e: Error) => e instanceof JoinLinkError && /longer than 4096/.test(e.message),
    );
  });
  it('handles IPv6 addresses and encodes what must be encoded', () => {
    const v6 = { ...link, server: '[2001:DB8::10]:5061', https: '[::1]:5443' };
    const s = formatJoinLink(v6);
    assert.ok(s.includes('server=%5B2001:db8::10%5D:5061'), s);
    assert.deepEqual(parseJoinLink(s), { ...v6, server: '[2001:db8::10]:5061' });
    const ip4 = { ...link, server: '192.0.2.1:5061', https: '192.0.2.1:443' };
    assert.deepEqual(parseJoinLink(formatJoinLink(ip4)), ip4);
  });
  it('accepts a lower-case fingerprint, a trailing slash and percent-encoded colons', () => {
    const u = withParam('ca', FP.toLowerCase());
    assert.equal(parseJoinLink(u).caFingerprint, FP);
    assert.deepEqual(
      parseJoinLink(formatJoinLink(link).replace('tsunagu://join?', 'tsunagu://join/?')),
      link,
    );
    assert.deepEqual(
      parseJoinLink(
        new URL(formatJoinLink(link)).toString().replaceAll(':', '%3A').replace('tsunagu%3A', 'tsunagu:'),
      ),
      link,
    );
  });
  it('ignores unknown fields', () => {
    assert.deepEqual(parseJoinLink(`${formatJoinLink(link)}&future=1`), link);
  });
  it('rejects a wrong scheme or link type', () => {
    rejects(
      formatJoinLink(link).replace('tsunagu:', 'https:'),
      'not a Tsunagu join link: the scheme must be tsunagu: (got https:)',
    );
    rejects(
      formatJoinLink(link).replace('//join', '//invite'),
      'not a join link: expected tsunagu://join?… (got tsunagu://invite)',
    );
    rejects('tsunagu:join?v=1', /^not a join link: expected tsunagu:\/\/join/);
    rejects('not a url at all', 'not a join link: expected tsunagu://join?v=1&…');
    rejects('   ', 'join link: empty');
  });
  it('rejects a missing or unknown version', () => {
    rejects(withParam('v', undefined), "join link: missing field 'v' (version)");
    rejects(
      withParam('v', '2'),
      'join link version "2" is not supported: this app understands version 1; update the app',
    );
  });
  it('rejects each missing field by name', () => {
    for (const f of ['domain', 'user', 'server', 'https', 'ca', 'token'])
      rejects(withParam(f, undefined), `join link: missing field '${f}'`);
    rejects(withParam('user', ''), "join link: missing field 'user'");
  });
  it('rejects repeated fields', () => {
    rejects(`${formatJoinLink(link)}&user=mallory`, "join link: field 'user' appears 2 times");
  });
  it('rejects malformed fields precisely', () => {
    rejects(
      withParam('ca', 'sha1:AB:CD'),
      /^join link: invalid 'ca' \("sha1:AB:CD"\): expected sha256: followed by 32 hex bytes separated by colons$/,
    );
    rejects(withParam('ca', FP.slice(0, -3)), /invalid 'ca'/);
    rejects(withParam('ca', FP.replaceAll(':', '').replace('sha256', 'sha256:')), /invalid 'ca'/);
    rejects(
      withParam('server', 'sip.example.org'),
      /^join link: invalid 'server' \("sip\.example\.org"\): expected HOST:PORT/,
    );
    rejects(withParam('server', '2001:db8::1:5061'), /invalid 'server'/);
    rejects(withParam('server', '[2001:db8::zz]:5061'), /invalid 'server'/);
    rejects(withParam('https', 'h:0'), /invalid 'https'/);
    rejects(withParam('https', 'h:65536'), /invalid 'https'/);
    rejects(withParam('user', 'Alice'), /invalid 'user'/);
    rejects(withParam('user', '../x'), /invalid 'user'/);
    rejects(withParam('domain', 'exa mple.org'), /invalid 'domain'/);
    // The token is a secret: the message says how long it was, never what it was.
    rejects(
      withParam('token', 'short'),
      /invalid 'token' \(5 characters\): expected 22 to 128 base64url characters/,
    );
    rejects(withParam('token', `${TOKEN.slice(0, 40)}+/=`), /invalid 'token'/);
    assert.throws(
      () => parseJoinLink(withParam('token', `${TOKEN}>`)),
      (e: unknown) => e instanceof JoinLinkError && !e.message.includes(TOKEN),
    );
  });
  it('refuses to format an invalid link', () => {
    assert.throws(() => formatJoinLink({ ...link, caFingerprint: 'sha256:XYZ' }), /invalid 'ca'/);
    assert.throws(() => formatJoinLink({ ...link, server: '::1:5061' }), /invalid 'server'/);
  });
  it('uses no Node APIs (it runs in browsers too)', () => {
    const src = readFileSync(new URL('./join-link.ts', import.meta.url), 'utf8');
    assert.doesNotMatch(src, /from ['"]node:|require\(|\bBuffer\b|process\./);
  });
});
