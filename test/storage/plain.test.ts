import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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
    expect(await template.space()).toEqual({ totalMiB: 60, freeMiB: 60, location: group.vg });
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

describe.skipIf(deviceMapper)('plain on LVM metadata alone, activation off', () => {
  // Without device-mapper, LVM still creates, extends and removes volumes in the metadata when told not to
  // activate them. Wrappers on the template's tool path add those flags, so that the template's own
  // commands and its reading of lvs and vgs run against real LVM; only the bytes (read, write) cannot.
  let group: LoopVolumeGroup;
  let tools: string;
  let template: DiskTemplate;
  beforeAll(async () => {
    group = await makeLoopVolumeGroup();
    tools = await mkdtemp(join(tmpdir(), 'corral-lvm-tools-'));
    const flags: Record<string, string> = {
      lvcreate: '--driverloaded n -an -Zn',
      lvextend: '--driverloaded n',
      lvremove: '--driverloaded n',
      lvs: '--driverloaded n',
      vgs: '--driverloaded n',
    };
    for (const [tool, extra] of Object.entries(flags)) {
      const real = (
        await promisify(execFile)('sh', ['-c', `PATH=$PATH:/sbin:/usr/sbin command -v ${tool}`])
      ).stdout.trim();
      await writeFile(join(tools, tool), `#!/bin/sh\nexec ${real} ${extra} "$@"\n`, { mode: 0o755 });
    }
    template = createPlainTemplate({ volumeGroup: group.vg, toolPath: tools });
  });
  afterAll(async () => {
    await group.cleanup();
    await rm(tools, { recursive: true, force: true });
  });

  it('creates in whole extents, idempotently; grows; refuses to shrink; removes twice', async () => {
    const odd = disk('raw', { sizeMiB: 6 });
    expect(await template.exists(odd)).toBe(false);
    await template.create(odd);
    expect(await template.exists(odd)).toBe(true);
    expect(await template.space()).toEqual({ totalMiB: 60, freeMiB: 52, location: group.vg });
    await template.create(odd);
    await expect(template.create({ ...odd, sizeMiB: 16 })).rejects.toMatchObject({
      code: 'conflict',
      message: `disk 0 of web1.example.com already exists as ${group.vg}/disk-raw-0 with 8 MiB, not 16 MiB; remove it or grow it`,
    });
    await template.grow(odd, 7);
    expect(await template.space()).toEqual({ totalMiB: 60, freeMiB: 52, location: group.vg });
    await template.grow(odd, 12);
    expect(await template.space()).toEqual({ totalMiB: 60, freeMiB: 48, location: group.vg });
    await expect(template.grow(odd, 8)).rejects.toMatchObject({
      code: 'bad_request',
      message: 'disk 0 of web1.example.com holds 12 MiB and cannot shrink to 8 MiB; disks only grow',
    });
    await expect(template.grow(disk('raw', { diskUuid: 'other' }), 8)).rejects.toMatchObject({
      code: 'not_found',
    });
    await template.remove(odd);
    expect(await template.exists(odd)).toBe(false);
    await template.remove(odd);
    expect(await template.space()).toEqual({ totalMiB: 60, freeMiB: 60, location: group.vg });
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

describe("plain's repair-storage (vgreduce --removemissing)", () => {
  // Only LVM metadata changes, so this runs with or without device-mapper.
  it('drops a physical volume that went missing, and the group reads again', async () => {
    const group = await makeLoopVolumeGroup(32, 2);
    try {
      const template = createPlainTemplate({ volumeGroup: group.vg });
      await group.loseLastDevice();
      const output = await template.repair!();
      expect(output).toMatch(/consistent volume group/);
      expect(await template.space()).toEqual({ totalMiB: 28, freeMiB: 28, location: group.vg });
      // A consistent group has nothing to drop; the repair says so and succeeds.
      expect(await template.repair!()).toMatch(/consistent|Volume group/);
    } finally {
      await group.cleanup();
    }
  });
});
