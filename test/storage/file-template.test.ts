import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileTemplate } from '../../src/storage/file-template.js';
import { createDiskTemplates } from '../../src/storage/templates.js';
import { digest, disk, pattern, take, templateCompliance } from './template-compliance.js';

const MIB = 1024 * 1024;

for (const name of ['file', 'sharedfile'] as const) {
  templateCompliance(name, async () => {
    const dir = await mkdtemp(join(tmpdir(), `corral-${name}-`));
    return {
      template: createFileTemplate({ name, dir: join(dir, 'storage') }),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  }, ['raw', 'qcow2']);
}

describe('file disk template', () => {
  let dir: string;
  let storage: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'corral-file-'));
    storage = join(dir, 'storage');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('keeps one file per disk in a directory per instance, both named by UUID', async () => {
    const template = createFileTemplate({ name: 'file', dir: storage });
    const first = disk('raw');
    await template.create(first);
    expect(template.path(first)).toBe(join(storage, 'inst-6f1c2a', 'disk-raw-0'));
    // A renamed instance, with its disks in another order, finds the same file.
    const renamed = { ...first, instanceName: 'web2.example.com', index: 3 };
    expect(template.path(renamed)).toBe(template.path(first));
    expect(await template.exists(renamed)).toBe(true);
  });

  it('removes the instance directory with its last disk', async () => {
    const template = createFileTemplate({ name: 'file', dir: storage });
    const first = disk('raw');
    const second = disk('qcow2', { diskUuid: 'disk-1', index: 1 });
    await template.create(first);
    await template.create(second);
    await template.remove(first);
    expect(await readdir(join(storage, 'inst-6f1c2a'))).toEqual(['disk-1']);
    await template.remove(second);
    expect(await readdir(storage)).toEqual([]);
  });

  it('makes sparse images and keeps a copy as sparse as its bytes', async () => {
    const template = createFileTemplate({ name: 'file', dir: storage });
    const big = disk('raw', { sizeMiB: 64 });
    await template.create(big);
    expect((await stat(template.path(big)!)).blocks * 512).toBeLessThan(MIB);
    const copy = { ...big, diskUuid: 'disk-copy' };
    await template.write(copy, template.read(big));
    expect((await stat(template.path(copy)!)).size).toBe(64 * MIB);
    expect((await stat(template.path(copy)!)).blocks * 512).toBeLessThan(MIB);
  });

  it('leaves nothing behind when a copy is refused', async () => {
    const template = createFileTemplate({ name: 'file', dir: storage });
    const target = disk('raw');
    await expect(template.write(target, take(pattern(8), 5 * MIB))).rejects.toThrow(
      'the copy of disk 0 of web1.example.com holds 5 MiB of disk, not 8 MiB: it was cut short or is another disk; copy it again',
    );
    expect(await template.exists(target)).toBe(false);
    expect(await readdir(join(storage, 'inst-6f1c2a'))).toEqual([]);
    await template.write(target, pattern(8));
    expect(await digest(template.read(target))).toEqual(await digest(pattern(8)));
  });

  it('refuses unsafe UUIDs and sizes that are not whole MiB', async () => {
    const template = createFileTemplate({ name: 'file', dir: storage });
    expect(() => template.path(disk('raw', { diskUuid: '../etc' }))).toThrow(
      /disk UUID "..\/etc" of web1.example.com cannot name a disk/,
    );
    await expect(template.create(disk('raw', { instanceUuid: '' }))).rejects.toMatchObject({
      code: 'bad_request',
    });
    await expect(template.create(disk('raw', { sizeMiB: 1.5 }))).rejects.toThrow(
      'disk 0 of web1.example.com: size 1.5 MiB is not a positive whole number of MiB',
    );
    await template.create(disk('raw'));
    await expect(template.grow(disk('raw'), 0)).rejects.toMatchObject({ code: 'bad_request' });
  });

  it('says why it is not available: no qemu-img, or a storage dir it cannot write', async () => {
    const noTools = createFileTemplate({ name: 'file', dir: storage, toolPath: join(dir, 'empty') });
    expect(await noTools.availability()).toEqual({
      available: false,
      reason: 'qemu-img is not installed on this node (install qemu-utils)',
    });
    await writeFile(join(dir, 'a-file'), '');
    const blocked = createFileTemplate({ name: 'sharedfile', dir: join(dir, 'a-file', 'storage') });
    expect(await blocked.availability()).toEqual({
      available: false,
      reason: `cannot write to the sharedfile storage dir ${join(dir, 'a-file', 'storage')} (ENOTDIR); make it writable by the daemon`,
    });
  });

  it('reports the space of the filesystem under a storage dir not made yet', async () => {
    const template = createFileTemplate({ name: 'file', dir: join(storage, 'not', 'yet') });
    const space = await template.space();
    expect(space.totalMiB).toBeGreaterThan(0);
    expect(space.freeMiB).toBeLessThanOrEqual(space.totalMiB);
  });
});

describe('createDiskTemplates', () => {
  it('gives every template, each under its name, sharedfile and diskless as shared', () => {
    const templates = createDiskTemplates({
      fileStorageDir: '/srv/ganeti/file-storage',
      sharedFileStorageDir: '/srv/ganeti/shared-file-storage',
      volumeGroup: 'xenvg',
      mirrorStorageDir: '/var/lib/corral/mirror-storage',
    });
    expect([...templates.keys()]).toEqual(['diskless', 'file', 'sharedfile', 'plain', 'drbd']);
    for (const [name, template] of templates) expect(template.name).toBe(name);
    expect([...templates].filter(([, t]) => t.shared).map(([name]) => name)).toEqual([
      'diskless',
      'sharedfile',
    ]);
    expect(templates.get('file')?.path(disk('raw'))).toBe('/srv/ganeti/file-storage/inst-6f1c2a/disk-raw-0');
    expect(templates.get('sharedfile')?.path(disk('raw'))).toBe(
      '/srv/ganeti/shared-file-storage/inst-6f1c2a/disk-raw-0',
    );
    expect(templates.get('plain')?.path(disk('raw'))).toBe('/dev/xenvg/disk-raw-0');
  });
});
