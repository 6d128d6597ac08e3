import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, formatRate, percent } from './format';

describe('formats', () => {
  it('writes sizes, speeds, times left and percentages', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(250 * 1024 * 1024)).toBe('250 MB');
    expect(formatRate(2 * 1024 * 1024)).toBe('2.0 MB/s');
    expect(formatRate(0)).toBe('—');
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(4.2)).toBe('5 s');
    expect(formatDuration(125)).toBe('2 min 05 s');
    expect(formatDuration(3 * 3600 + 60 * 7)).toBe('3 h 07 min');
    expect(percent(50, 200)).toBe(25);
    expect(percent(0, 0)).toBe(0);
  });
});
