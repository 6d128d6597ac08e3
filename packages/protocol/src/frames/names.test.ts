import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MAX_NAME_BYTES,
  UnsafeNameError,
  numberedName,
  safeRelativePath,
  safeSegment,
  splitExtension,
} from './names.js';

const bytes = (s: string): number => new TextEncoder().encode(s).length;

describe('names: one segment', () => {
  const cases: [string, string, string][] = [
    ['a normal name', 'report 2024.pdf', 'report 2024.pdf'],
    ['non-ASCII', 'こんにちは.txt', 'こんにちは.txt'],
    ['dot-dot', '..', '_'],
    ['dot', '.', '_'],
    ['only dots', '....', '_'],
    ['dot-dot with trailing space', '.. ', '_'],
    ['slash (traversal inside a segment)', '../../etc/passwd', '.._.._etc_passwd'],
    ['absolute POSIX path', '/etc/passwd', '_etc_passwd'],
    ['backslashes', '..\\..\\windows\\system32', '.._.._windows_system32'],
    ['drive letter', 'C:', 'C_'],
    ['drive-absolute path', 'C:\\Users\\x', 'C__Users_x'],
    ['UNC path', '\\\\server\\share', '__server_share'],
    ['alternate data stream', 'file.txt:secret', 'file.txt_secret'],
    ['NUL byte', 'a\u0000b.txt', 'a_b.txt'],
    ['newline and escape', 'a\nb\u001b[31m', 'a_b_[31m'],
    ['DEL and C1 controls', 'a\u007fb\u0085c', 'a_b_c'],
    ['Windows-forbidden characters', 'a<b>c:"d|e?f*g', 'a_b_c__d_e_f_g'],
    ['trailing dots and spaces', 'name. . ', 'name'],
    ['trailing dot after extension', 'a.txt.', 'a.txt'],
    ['right-to-left override (extension spoofing)', 'invoice\u202efdp.exe', 'invoice_fdp.exe'],
    ['unpaired surrogate', 'a\ud800b', 'a_b'],
    ['device name', 'CON', '_CON'],
    ['device name, lower case', 'nul', '_nul'],
    ['device name with extension', 'com1.txt', '_com1.txt'],
    ['device name with double extension', 'LPT9.tar.gz', '_LPT9.tar.gz'],
    ['device name with superscript digit', 'COM\u00b9', '_COM\u00b9'],
    ['console device', 'CONOUT$', '_CONOUT$'],
    ['device name with space before the dot', 'AUX .txt', '_AUX .txt'],
    ['not a device name', 'CONSOLE.txt', 'CONSOLE.txt'],
    ['not a device name either', 'com10', 'com10'],
    ['NFD is normalised to NFC', 'e\u0301.txt', '\u00e9.txt'],
  ];
  for (const [what, input, expected] of cases) {
    it(`${what}: ${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => {
      assert.equal(safeSegment(input), expected);
    });
  }

  it('cuts names over 255 UTF-8 bytes, keeping the extension and whole characters', () => {
    const long = 'あ'.repeat(200) + '.jpeg'; // 600 + 5 bytes
    const out = safeSegment(long);
    assert.ok(bytes(out) <= MAX_NAME_BYTES, String(bytes(out)));
    assert.ok(out.endsWith('.jpeg'));
    assert.ok(/^あ+\.jpeg$/.test(out));
    const ascii = safeSegment('x'.repeat(300));
    assert.equal(ascii, 'x'.repeat(255));
    // Emoji are 4 bytes and 2 UTF-16 units: never split.
    const emoji = safeSegment('😀'.repeat(100));
    assert.equal(emoji, '😀'.repeat(63));
  });
});

describe('names: paths', () => {
  it('keeps a safe folder path as it is', () => {
    assert.deepEqual(safeRelativePath(['photos', '2024', 'a.jpg']), {
      segments: ['photos', '2024', 'a.jpg'],
      changed: false,
    });
  });

  it('neutralises every segment, so the path stays under the folder', () => {
    const r = safeRelativePath(['..', '..', 'etc', 'passwd']);
    assert.deepEqual(r.segments, ['_', '_', 'etc', 'passwd']);
    assert.equal(r.changed, true);
    for (const s of safeRelativePath(['/', 'C:', '\\\\?\\x', '.', 'a\u0000']).segments) {
      assert.doesNotMatch(s, /[/\\:\u0000]|^\.{1,2}$/);
    }
  });

  it("renames a top-level segment that is the receiver's own folder", () => {
    assert.deepEqual(safeRelativePath(['.TSUNAGU-partial', 'x'], ['.tsunagu-partial']).segments, [
      '_.TSUNAGU-partial',
      'x',
    ]);
    assert.deepEqual(safeRelativePath(['a', '.tsunagu-partial'], ['.tsunagu-partial']).segments, [
      'a',
      '.tsunagu-partial',
    ]);
  });

  it('refuses paths too deep or too long to keep', () => {
    assert.throws(() => safeRelativePath([]), UnsafeNameError);
    assert.throws(() => safeRelativePath(Array(65).fill('a')), UnsafeNameError);
    assert.throws(() => safeRelativePath(Array(20).fill('b'.repeat(250))), UnsafeNameError);
  });
});

describe('names: numbering', () => {
  it('numbers before the extension, treating .tar.gz as one', () => {
    assert.equal(numberedName('a.txt', 0), 'a.txt');
    assert.equal(numberedName('a.txt', 1), 'a (1).txt');
    assert.equal(numberedName('archive.tar.gz', 2), 'archive (2).tar.gz');
    assert.equal(numberedName('README', 3), 'README (3)');
    assert.equal(numberedName('.bashrc', 1), '.bashrc (1)');
    assert.deepEqual(splitExtension('a.verylongextensionthatisnotone'), [
      'a.verylongextensionthatisnotone',
      '',
    ]);
  });

  it('stays within 255 bytes', () => {
    const n = numberedName('y'.repeat(251) + '.txt', 12);
    assert.ok(bytes(n) <= 255);
    assert.ok(n.endsWith(' (12).txt'));
  });
});
