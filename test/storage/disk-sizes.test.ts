import { mkdtemp, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDisklessTemplate } from '../../src/storage/diskless.js';
import { createFileTemplate } from '../../src/storage/file-template.js';
import { createMemoryTemplate, MemoryStorage } from '../../src/storage/memory-template.js';
import { disk } from './template-compliance.js';

const MIB = 1024 * 1024;

/** What each template reports of a disk's size on its node: what cluster repair-disk-sizes compares. */
describe('disk sizes as the node sees them', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'corral-sizes-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('file: the size the guest sees, raw or qcow2, in whole MiB; undefined for a missing disk', async () => {
    const template = createFileTemplate({ name: 'file', dir: join(dir, 'storage') });
    const raw = disk('raw', { sizeMiB: 2 });
    const qcow2 = disk('qcow2', { sizeMiB: 3, diskUuid: 'disk-qcow2-0' });
    expect(await template.sizeMiB(raw)).toBeUndefined();
    await template.create(raw);
    await template.create(qcow2);
    expect(await template.sizeMiB(raw)).toBe(2);
    expect(await template.sizeMiB(qcow2)).toBe(3);
    // Grown behind the cluster's back, and by less than a MiB: rounded down.
    await truncate(template.path(raw)!, 5 * MIB + 100);
    expect(await template.sizeMiB(raw)).toBe(5);
  });

  it('memory (the simulator) and diskless', async () => {
    const template = createMemoryTemplate({ name: 'file', storage: new MemoryStorage(1024) });
    const one = disk('raw', { sizeMiB: 4 });
    expect(await template.sizeMiB(one)).toBeUndefined();
    await template.create(one);
    expect(await template.sizeMiB(one)).toBe(4);
    expect(await createDisklessTemplate().sizeMiB(one)).toBeUndefined();
  });
});
