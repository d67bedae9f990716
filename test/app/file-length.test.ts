/**
 * Files in src/ stay short enough to read whole: one above 450 lines says why in its header
 * comment ("Longer than 450 lines: ..."), as registry/routes.ts does for its route schemas.
 */
import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../../src/', import.meta.url);
const MAX_LINES = 450;

/** The comments a file opens with, up to its first line of code. */
function header(text: string): string {
  const lines: string[] = [];
  let inComment = false;
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (!inComment && !trimmed.startsWith('/*') && !trimmed.startsWith('//')) break;
    lines.push(line);
    if (trimmed.startsWith('/*')) inComment = true;
    if (trimmed.endsWith('*/')) inComment = false;
  }
  return lines.join('\n');
}

describe('file length', () => {
  it('gives every file in src/ above 450 lines a reason in its header', async () => {
    const files = (await readdir(SRC, { recursive: true })).filter((f) => /\.(ts|tsx|css|html)$/.test(f));
    expect(files.length).toBeGreaterThan(100);
    const unexplained: string[] = [];
    for (const file of files) {
      const text = await readFile(new URL(file, SRC), 'utf8');
      const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
      if (lines > MAX_LINES && !/Longer than 450 lines: \S/.test(header(text))) {
        unexplained.push(`${file} (${lines} lines)`);
      }
    }
    expect(unexplained, 'split them, or say in the header why not').toEqual([]);
  });
});
