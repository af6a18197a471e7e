import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseIAllocRequest } from '../../src/alloc/iallocator/request.js';
import { answerRequest } from '../../src/alloc/iallocator/respond.js';
import { writeIAllocMessage } from '../../src/alloc/iallocator/write.js';

const HAIL = '/usr/lib/ganeti/iallocators/hail';
const run = promisify(execFile);
const fixtures = [
  'hail-alloc-drbd',
  'hail-change-group',
  'hail-multialloc-dedicated',
  'hail-node-evac',
  'hail-reloc-drbd',
];
const read = (name: string) => readFileSync(new URL(`fixtures/${name}.request`, import.meta.url), 'utf8');
/** The snapshot leaves out the hypervisors; hail accounts memory by the first one, so they are kept. */
const meta = (name: string) => ({
  clusterName: 'test',
  enabledHypervisors: JSON.parse(read(name)).enabled_hypervisors as string[],
});

describe('writing a snapshot as Ganeti iallocator input', () => {
  it.each(fixtures)('%s: reading what was written gives the same cluster and request', (name) => {
    const first = parseIAllocRequest(read(name), name);
    const text = JSON.stringify(writeIAllocMessage(first.cluster, first.request, meta(name)));
    const again = parseIAllocRequest(text, `${name} (written)`);
    expect(again.cluster).toEqual(first.cluster);
    expect(again.request).toEqual(first.request);
  });

  it.skipIf(!existsSync(HAIL))('hail answers the written message as Corral answers it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'corral-ialloc-write-'));
    for (const name of fixtures) {
      const parsed = parseIAllocRequest(read(name), name);
      const file = join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(writeIAllocMessage(parsed.cluster, parsed.request, meta(name))));
      const hail = JSON.parse((await run(HAIL, [file])).stdout);
      const ours = answerRequest(parsed);
      expect({ name, success: hail.success, result: hail.result }).toEqual({
        name,
        success: ours.success,
        result: JSON.parse(JSON.stringify(ours.result)),
      });
    }
  });
});
