import { readFileSync, writeFileSync } from 'node:fs';
import { expect } from 'vitest';

/**
 * Traces in the manner of etcd's datadriven tests: a file is a run of blocks, each a command line, a `----`
 * line and the exact output expected, blocks separated by a blank line; `#` lines are comments. The commands
 * run in order through `run`. With REWRITE=1 the file is rewritten with what the code does now (comments
 * kept): read the diff before committing it.
 */
export async function checkTrace(
  path: string,
  run: (command: string) => Promise<readonly string[]>,
): Promise<void> {
  const blocks = parseTrace(readFileSync(path, 'utf8'));
  const actual: string[] = [];
  for (const block of blocks) actual.push((await run(block.command)).join('\n'));
  if (process.env.REWRITE === '1') {
    const text = blocks
      .map((block, i) => [...block.comments, block.command, '----', actual[i]].join('\n'))
      .join('\n\n');
    writeFileSync(path, `${text}\n`);
    return;
  }
  for (const [i, block] of blocks.entries())
    expect(`${block.command}\n${actual[i]}`).toBe(`${block.command}\n${block.expected}`);
}

interface Block {
  /** The comment lines just before the command, kept when the file is rewritten. */
  readonly comments: readonly string[];
  readonly command: string;
  readonly expected: string;
}

function parseTrace(text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split('\n');
  let comments: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '' || line.startsWith('#')) {
      if (line.startsWith('#')) comments.push(line);
      i++;
      continue;
    }
    if (lines[i + 1] !== '----') throw new Error(`expected ---- after "${line}"`);
    const expected: string[] = [];
    i += 2;
    while (i < lines.length && lines[i] !== '') expected.push(lines[i++]!);
    blocks.push({ comments, command: line, expected: expected.join('\n') });
    comments = [];
  }
  return blocks;
}
