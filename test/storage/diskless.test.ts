import { describe, expect, it } from 'vitest';
import { createDisklessTemplate } from '../../src/storage/diskless.js';
import { digest, disk, pattern } from './template-compliance.js';

describe('diskless disk template', () => {
  const template = createDisklessTemplate();
  const ref = disk('raw');

  it('is available everywhere, shared, with no space and no path', async () => {
    expect(template.name).toBe('diskless');
    expect(template.shared).toBe(true);
    expect(await template.availability()).toEqual({ available: true });
    expect(await template.space()).toEqual({ totalMiB: 0, freeMiB: 0 });
    expect(template.path(ref)).toBeUndefined();
  });

  it('creates and removes nothing, and holds no disk', async () => {
    await template.create(ref);
    expect(await template.exists(ref)).toBe(false);
    await template.remove(ref);
    await template.remove(ref);
  });

  it('refuses to grow or copy a disk, with one line that says why', async () => {
    const refusal = {
      code: 'bad_request',
      message: expect.stringMatching(/^diskless instances have no disks to/),
    };
    await expect(template.grow(ref, 16)).rejects.toMatchObject(refusal);
    await expect(digest(template.read(ref))).rejects.toMatchObject(refusal);
    await expect(template.write(ref, pattern(1))).rejects.toMatchObject(refusal);
  });
});
