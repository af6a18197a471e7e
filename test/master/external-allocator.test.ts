import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runExternalAllocator } from '../../src/master/external-allocator.js';

const request = (name: string): string =>
  readFileSync(new URL(`../alloc/fixtures/${name}.request`, import.meta.url), 'utf8');

describe('external allocators', () => {
  const program = (body: string): string => {
    const dir = mkdtempSync(join(tmpdir(), 'corral-test-'));
    const path = join(dir, 'allocator');
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  };
  const message = JSON.parse(request('hail-reloc-drbd'));

  it('passes the request file and validates the answer', async () => {
    const echo = program(
      `grep -q '"relocate"' "$1" && echo '{"success":true,"info":"ok","result":["node1"]}'`,
    );
    expect(await runExternalAllocator(echo, message)).toEqual({
      success: true,
      info: 'ok',
      result: ['node1'],
    });
  });

  it('refuses answers of the wrong shape and failing programs', async () => {
    const wrong = program(`echo '{"success":true,"info":"ok","result":["a","b"]}'`);
    await expect(runExternalAllocator(wrong, message)).rejects.toThrow('result must list one node name');
    const crash = program('echo "no cluster" >&2; exit 3');
    await expect(runExternalAllocator(crash, message)).rejects.toThrow('failed: no cluster');
  });
});
