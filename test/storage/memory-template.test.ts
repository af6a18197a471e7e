import { describe, expect, it } from 'vitest';
import { createMemoryTemplate, MemoryStorage } from '../../src/storage/memory-template.js';
import { digest, disk, templateCompliance } from './template-compliance.js';

const MIB = 1024 * 1024;

/** The simulator's stand-in for file storage owes the node agent what the file templates do. */
templateCompliance('memory', async () => {
  const template = createMemoryTemplate({ name: 'file', storage: new MemoryStorage(1024) });
  return {
    template,
    cleanup: async () => undefined,
    virtualSizeMiB: async (d) => (await digest(template.read(d))).bytes / MIB,
  };
}, ['raw']);

describe('memory template', () => {
  it('refuses what its storage cannot hold, and one storage serves every node that shares it', async () => {
    const shared = new MemoryStorage(16);
    const onNode1 = createMemoryTemplate({ name: 'sharedfile', storage: shared });
    const onNode2 = createMemoryTemplate({ name: 'sharedfile', storage: shared });
    await onNode1.create(disk('raw', { sizeMiB: 8 }));
    expect(await onNode2.exists(disk('raw', { sizeMiB: 8 }))).toBe(true);
    await expect(onNode2.create(disk('raw', { diskUuid: 'other', sizeMiB: 10 }))).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringMatching(/not enough sharedfile storage .* needs 10 MiB, 8 MiB free/),
    });
    expect(await onNode2.space()).toEqual({ totalMiB: 16, freeMiB: 8 });
  });
});
