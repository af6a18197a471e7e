import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { diskTemplateTraits } from '../cluster/disk-templates.js';
import { CorralError } from '../common/errors.js';
import { readChunks, writeChunks } from './disk-bytes.js';
import { checkDiskNames, checkSizeMiB } from './disk-names.js';
import type { Availability, DiskRef, DiskTemplate } from './disk-template.js';
import { mapFile } from './qemu-img-map.js';
import { runTool } from './run-tool.js';
import { filesystemSpace } from './storage-space.js';

/**
 * Ganeti's `file` and `sharedfile` templates, and each node's copies of `drbd` disks: one image per disk, made with qemu-img under the storage dir,
 * in a directory per instance. Both are named by UUID (`<dir>/<instance uuid>/<disk uuid>`), so that renaming
 * an instance or reordering its disks moves no file. `sharedfile` is the same code over a directory that every
 * node reaches, so migration and failover copy nothing.
 *
 * Copying a disk (read, write) moves the image file as it is: raw bytes for raw, the qcow2 container for
 * qcow2 (its allocation and any compression kept, no conversion on either side). Only the file's data
 * crosses: its holes, found with qemu-img map (dataExtents), are neither read nor written.
 */

export interface FileTemplateInit {
  readonly name: 'file' | 'sharedfile' | 'drbd';
  readonly dir: string;
  /** Where qemu-img is looked up; the default tool path unless a test says otherwise. */
  readonly toolPath?: string;
}

const MIB = 1024 * 1024;
/** Suffixes of the work files next to a disk: an image being made, a copy being received. */
const CREATING = '.creating';
const PARTIAL = '.partial';

const qemuImgInfo = z.object({ 'virtual-size': z.number() });

export function createFileTemplate(init: FileTemplateInit): DiskTemplate {
  const tool = { toolPath: init.toolPath, installHint: 'install qemu-utils' } as const;
  const instanceDir = (disk: DiskRef) => join(init.dir, disk.instanceUuid);
  const diskPath = (disk: DiskRef) => {
    checkDiskNames(disk);
    return join(instanceDir(disk), disk.diskUuid);
  };
  const label = (disk: DiskRef) => `disk ${disk.index} of ${disk.instanceName}`;
  const missing = (disk: DiskRef) =>
    new CorralError('not_found', `${label(disk)} is missing on this node (no ${diskPath(disk)})`);

  /** The disk's size as the guest sees it, or undefined when there is no disk. */
  async function sizeBytes(disk: DiskRef, path = diskPath(disk)): Promise<number | undefined> {
    let stats: Awaited<ReturnType<typeof stat>>;
    try {
      stats = await stat(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    if (!stats.isFile())
      throw new CorralError('conflict', `${path} is not a regular file; move it away to use ${label(disk)}`);
    if (disk.format === 'raw') return stats.size;
    // -f: never let qemu-img guess a format from content a guest could have written. -U: a running QEMU
    // holds a lock on the image; reading its header is safe anyway.
    const out = await runTool('qemu-img', ['info', '-U', '-f', 'qcow2', '--output=json', path], tool);
    return qemuImgInfo.parse(JSON.parse(out))['virtual-size'];
  }

  /** A received copy must be a whole disk of the right size: a cut-short transfer is refused, not kept. */
  async function checkCopy(disk: DiskRef, path: string): Promise<void> {
    const cutShort = (why: string) =>
      new CorralError(
        'bad_request',
        `the copy of ${label(disk)} ${why}: it was cut short or is another disk; copy it again`,
      );
    // A qcow2 header survives a truncation; qemu-img check finds clusters that point past the end.
    if (disk.format === 'qcow2')
      await runTool('qemu-img', ['check', '-q', '-f', 'qcow2', path], tool).catch(() => {
        throw cutShort('is not a sound qcow2 image');
      });
    const receivedBytes = await sizeBytes(disk, path);
    if (receivedBytes !== disk.sizeMiB * MIB)
      throw cutShort(`holds ${(receivedBytes ?? 0) / MIB} MiB of disk, not ${disk.sizeMiB} MiB`);
  }

  async function dropEmptyInstanceDir(disk: DiskRef): Promise<void> {
    try {
      await rmdir(instanceDir(disk));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Another disk of the instance is still there, or the directory is already gone.
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOENT') throw error;
    }
  }

  return {
    name: init.name,
    shared: diskTemplateTraits[init.name].sharedStorage,

    async availability(): Promise<Availability> {
      try {
        await runTool('qemu-img', ['--version'], tool);
      } catch (error) {
        return { available: false, reason: (error as Error).message };
      }
      const probe = join(init.dir, `.corral-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
      try {
        await mkdir(init.dir, { recursive: true });
        await writeFile(probe, '');
        await rm(probe);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        return {
          available: false,
          reason: `cannot write to the ${init.name} storage dir ${init.dir} (${code}); make it writable by the daemon`,
        };
      }
      return { available: true };
    },

    async create(disk) {
      checkSizeMiB(disk, disk.sizeMiB);
      const path = diskPath(disk);
      const existing = await sizeBytes(disk);
      if (existing !== undefined) {
        if (existing === disk.sizeMiB * MIB) return;
        throw new CorralError(
          'conflict',
          `${label(disk)} already exists at ${path} with ${existing / MIB} MiB, not ${disk.sizeMiB} MiB; remove it or grow it`,
        );
      }
      await mkdir(instanceDir(disk), { recursive: true });
      // Made under another name, then renamed: a disk that exists under its own name is complete.
      const creating = `${path}${CREATING}`;
      await runTool('qemu-img', ['create', '-q', '-f', disk.format, creating, `${disk.sizeMiB}M`], tool);
      await rename(creating, path);
    },

    async remove(disk) {
      const path = diskPath(disk);
      for (const file of [path, `${path}${CREATING}`, `${path}${PARTIAL}`]) await rm(file, { force: true });
      await dropEmptyInstanceDir(disk);
    },

    path: diskPath,

    async sizeMiB(disk) {
      const bytes = await sizeBytes(disk);
      return bytes === undefined ? undefined : Math.floor(bytes / MIB);
    },

    async exists(disk) {
      try {
        return (await stat(diskPath(disk))).isFile();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw error;
      }
    },

    async grow(disk, newSizeMiB) {
      checkSizeMiB(disk, newSizeMiB);
      const current = await sizeBytes(disk);
      if (current === undefined) throw missing(disk);
      const newBytes = newSizeMiB * MIB;
      if (newBytes === current) return;
      if (newBytes < current)
        throw new CorralError(
          'bad_request',
          `${label(disk)} holds ${current / MIB} MiB and cannot shrink to ${newSizeMiB} MiB; disks only grow`,
        );
      await runTool('qemu-img', ['resize', '-q', '-f', disk.format, diskPath(disk), `${newSizeMiB}M`], tool);
    },

    read(disk, offsetBytes) {
      return readChunks(diskPath(disk), () => missing(disk), Number.POSITIVE_INFINITY, offsetBytes);
    },

    async dataExtents(disk, fromBytes) {
      const path = diskPath(disk);
      const stats = await stat(path).catch((error: NodeJS.ErrnoException) => {
        throw error.code === 'ENOENT' ? missing(disk) : error;
      });
      return mapFile(path, Math.min(fromBytes, stats.size), stats.size, tool);
    },

    async write(disk, source) {
      checkSizeMiB(disk, disk.sizeMiB);
      const path = diskPath(disk);
      await mkdir(instanceDir(disk), { recursive: true });
      // Received under another name, checked, then renamed over the disk: an interrupted copy never looks
      // like a disk, and the next attempt starts the partial file afresh.
      const partial = `${path}${PARTIAL}`;
      try {
        const handle = await open(partial, 'w', 0o600);
        try {
          // A new file reads back zeros where nothing was written, so the copy stays as sparse as the source.
          const bytes = await writeChunks(handle, source, { sparse: true });
          await handle.truncate(bytes);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await checkCopy(disk, partial);
      } catch (error) {
        await rm(partial, { force: true });
        throw error;
      }
      await rename(partial, path);
      const dir = await open(instanceDir(disk), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    },

    async space() {
      return { ...(await filesystemSpace(init.dir)), location: init.dir };
    },
  };
}
