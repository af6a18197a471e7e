import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiskTemplate } from '../../src/storage/disk-template.js';
import { createPlainTemplate } from '../../src/storage/plain.js';
import { type LoopVolumeGroup, makeLoopVolumeGroup } from './loop-volume-group.js';
import { digest, disk, templateCompliance } from './template-compliance.js';

/**
 * plain is tested for real on a throwaway volume group over a loop device. Where the kernel has no
 * device-mapper (these machines: no /dev/mapper/control, no modules to load), LVM still builds the group but
 * cannot make a volume, and the tests check that the template says so instead.
 */
const deviceMapper = await promisify(execFile)('lvm', ['version'], {
  env: { ...process.env, LVM_SUPPRESS_FD_WARNINGS: '1' },
}).then(
  ({ stdout }) => stdout.includes('Driver version'),
  () => false,
);

describe.runIf(deviceMapper)('plain on a loop volume group', () => {
  templateCompliance('plain', async () => {
    const group = await makeLoopVolumeGroup();
    return { template: createPlainTemplate({ volumeGroup: group.vg }), cleanup: group.cleanup };
  }, ['raw']);

  describe('whole extents', () => {
    let group: LoopVolumeGroup;
    let template: DiskTemplate;
    beforeAll(async () => {
      group = await makeLoopVolumeGroup();
      template = createPlainTemplate({ volumeGroup: group.vg });
    });
    afterAll(() => group.cleanup());

    it('rounds a size up to whole extents, and copies only the disk', async () => {
      const odd = disk('raw', { sizeMiB: 6 });
      await template.create(odd);
      await template.create(odd);
      expect((await digest(template.read(odd))).bytes).toBe(6 * 1024 * 1024);
      await template.grow(odd, 7);
      await template.remove(odd);
    });

    it('refuses qcow2: a volume is raw', async () => {
      await expect(template.create(disk('qcow2'))).rejects.toThrow(/plain disks are raw volumes/);
    });
  });
});

describe.skipIf(deviceMapper)('plain where the kernel has no device-mapper', () => {
  let group: LoopVolumeGroup;
  beforeAll(async () => {
    group = await makeLoopVolumeGroup();
  });
  afterAll(() => group.cleanup());

  it('says it is not available, and why', async () => {
    const template = createPlainTemplate({ volumeGroup: group.vg });
    expect(await template.availability()).toEqual({
      available: false,
      reason: `the kernel has no device-mapper (/dev/mapper/control does not answer), which LVM needs to activate volumes in ${group.vg}`,
    });
    // The group itself is there: its space is known, it holds no disk.
    expect(await template.space()).toEqual({ totalMiB: 60, freeMiB: 60 });
    expect(await template.exists(disk('raw'))).toBe(false);
  });

  it('a disk asked for anyway fails with LVM’s reason, and leaves nothing', async () => {
    const template = createPlainTemplate({ volumeGroup: group.vg });
    await expect(template.create(disk('raw'))).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringMatching(/^lvcreate --yes failed: .*device-mapper/),
    });
    expect(await template.exists(disk('raw'))).toBe(false);
  });
});

describe('plain availability', () => {
  it('names a missing volume group', async () => {
    expect(await createPlainTemplate({ volumeGroup: 'corral-no-such-vg' }).availability()).toEqual({
      available: false,
      reason:
        "volume group corral-no-such-vg not found; create it with vgcreate or set the node's volume group",
    });
  });

  it('names missing LVM tools', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'corral-no-tools-'));
    try {
      const template = createPlainTemplate({ volumeGroup: 'xenvg', toolPath: empty });
      expect(await template.availability()).toEqual({
        available: false,
        reason: 'lvm is not installed on this node (install lvm2)',
      });
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('puts a volume at /dev/<vg>/<disk uuid>', () => {
    expect(createPlainTemplate({ volumeGroup: 'xenvg' }).path(disk('raw'))).toBe('/dev/xenvg/disk-raw-0');
  });
});
