import { open } from 'node:fs/promises';
import { diskTemplateTraits } from '../cluster/disk-templates.js';
import { CorralError } from '../common/errors.js';
import { readChunks, writeChunks } from './disk-bytes.js';
import { checkDiskNames, checkSizeMiB } from './disk-names.js';
import type { Availability, DiskRef, DiskTemplate, StorageSpace } from './disk-template.js';
import { runTool } from './run-tool.js';

/**
 * Ganeti's `plain` template: one LVM logical volume per disk in the node's volume group, named by the disk
 * UUID, found at /dev/<vg>/<uuid>. LVM allocates whole extents (4 MiB by default), so a volume may be a
 * little larger than asked; sizes are compared after that rounding.
 */

export interface PlainTemplateInit {
  readonly volumeGroup: string;
  /** Where the LVM tools are looked up; the default tool path unless a test says otherwise. */
  readonly toolPath?: string;
}

/** Machine-readable LVM output: no header, sizes in MiB without a unit, fields split by '|'. */
const REPORT_ARGS = ['--noheadings', '--units', 'm', '--nosuffix', '--separator', '|'] as const;
const MIB = 1024 * 1024;

export function createPlainTemplate(init: PlainTemplateInit): DiskTemplate {
  const vg = init.volumeGroup;
  const tool = { toolPath: init.toolPath, installHint: 'install lvm2' } as const;
  const lvm = (command: string, args: readonly string[]) => runTool(command, args, tool);
  const volumeName = (disk: DiskRef) => {
    checkDiskNames(disk);
    if (disk.format !== 'raw')
      throw new CorralError(
        'bad_request',
        `${disk.instanceName}: plain disks are raw volumes; use the file or sharedfile template for ${disk.format}`,
      );
    return disk.diskUuid;
  };
  const label = (disk: DiskRef) => `disk ${disk.index} of ${disk.instanceName}`;
  const devicePath = (disk: DiskRef) => `/dev/${vg}/${volumeName(disk)}`;
  const missing = (disk: DiskRef) =>
    new CorralError(
      'not_found',
      `${label(disk)} is missing on this node (no volume ${vg}/${volumeName(disk)})`,
    );

  async function volumeGroup(): Promise<StorageSpace & { readonly extentMiB: number }> {
    const out = await lvm('vgs', [...REPORT_ARGS, '-o', 'vg_size,vg_free,vg_extent_size', vg]);
    const [totalMiB, freeMiB, extentMiB] = fields(out.trim()).map(Number);
    if (totalMiB === undefined || freeMiB === undefined || extentMiB === undefined || !(extentMiB > 0))
      throw new CorralError('internal', `cannot read the size of volume group ${vg} from vgs: ${out.trim()}`);
    return { totalMiB: Math.floor(totalMiB), freeMiB: Math.floor(freeMiB), extentMiB };
  }

  /** The volume's size in MiB, or undefined when the volume group has no such volume. */
  async function volumeSizeMiB(disk: DiskRef): Promise<number | undefined> {
    const name = volumeName(disk);
    const out = await lvm('lvs', [...REPORT_ARGS, '-o', 'lv_name,lv_size', vg]);
    for (const line of out.split('\n')) {
      const [lvName, size] = fields(line.trim());
      if (lvName === name) return Number(size);
    }
    return undefined;
  }

  /** What LVM makes of a request for sizeMiB: whole extents. */
  async function allocatedMiB(sizeMiB: number): Promise<number> {
    const { extentMiB } = await volumeGroup();
    return Math.ceil(sizeMiB / extentMiB) * extentMiB;
  }

  const template: DiskTemplate = {
    name: 'plain',
    shared: diskTemplateTraits.plain.sharedStorage,

    async availability(): Promise<Availability> {
      let version: string;
      try {
        version = await lvm('lvm', ['version']);
      } catch (error) {
        return { available: false, reason: (error as Error).message };
      }
      try {
        await volumeGroup();
      } catch (error) {
        const message = (error as Error).message;
        return {
          available: false,
          reason: message.includes('not found')
            ? `volume group ${vg} not found; create it with vgcreate or set the node's volume group`
            : `cannot read volume group ${vg}: ${message}`,
        };
      }
      // Without the kernel's device-mapper, LVM edits metadata but cannot activate a volume: lvcreate fails.
      if (!version.includes('Driver version'))
        return {
          available: false,
          reason: `the kernel has no device-mapper (/dev/mapper/control does not answer), which LVM needs to activate volumes in ${vg}`,
        };
      return { available: true };
    },

    async create(disk) {
      checkSizeMiB(disk, disk.sizeMiB);
      const existingMiB = await volumeSizeMiB(disk);
      if (existingMiB !== undefined) {
        if (existingMiB === (await allocatedMiB(disk.sizeMiB))) return;
        throw new CorralError(
          'conflict',
          `${label(disk)} already exists as ${vg}/${volumeName(disk)} with ${existingMiB} MiB, not ${disk.sizeMiB} MiB; remove it or grow it`,
        );
      }
      // --yes: a signature left by an earlier volume on these extents is wiped, not asked about on a tty.
      await lvm('lvcreate', ['--yes', '-L', `${disk.sizeMiB}m`, '-n', volumeName(disk), vg]);
    },

    async remove(disk) {
      if ((await volumeSizeMiB(disk)) === undefined) return;
      await lvm('lvremove', ['-f', `${vg}/${volumeName(disk)}`]);
    },

    path: devicePath,

    async exists(disk) {
      return (await volumeSizeMiB(disk)) !== undefined;
    },

    async sizeMiB(disk) {
      const sizeMiB = await volumeSizeMiB(disk);
      return sizeMiB === undefined ? undefined : Math.floor(sizeMiB);
    },

    async grow(disk, newSizeMiB) {
      checkSizeMiB(disk, newSizeMiB);
      const currentMiB = await volumeSizeMiB(disk);
      if (currentMiB === undefined) throw missing(disk);
      const wantedMiB = await allocatedMiB(newSizeMiB);
      if (wantedMiB === currentMiB) return;
      if (wantedMiB < currentMiB)
        throw new CorralError(
          'bad_request',
          `${label(disk)} holds ${currentMiB} MiB and cannot shrink to ${newSizeMiB} MiB; disks only grow`,
        );
      await lvm('lvextend', ['-L', `${newSizeMiB}m`, `${vg}/${volumeName(disk)}`]);
    },

    read(disk, offsetBytes) {
      return readChunks(devicePath(disk), () => missing(disk), disk.sizeMiB * MIB, offsetBytes);
    },

    async write(disk, source) {
      await template.create(disk);
      const capacityBytes = (await allocatedMiB(disk.sizeMiB)) * MIB;
      const handle = await open(devicePath(disk), 'r+');
      let bytes: number;
      try {
        // Not sparse: the volume may hold an earlier copy's bytes, so every byte is written.
        bytes = await writeChunks(handle, source, {
          sparse: false,
          limit: {
            bytes: capacityBytes,
            tooLarge: () =>
              new CorralError(
                'bad_request',
                `the copy of ${label(disk)} is larger than its ${disk.sizeMiB} MiB`,
              ),
          },
        });
        await handle.sync();
      } finally {
        await handle.close();
      }
      if (bytes !== disk.sizeMiB * MIB)
        throw new CorralError(
          'bad_request',
          `the copy of ${label(disk)} holds ${bytes / MIB} MiB, not ${disk.sizeMiB} MiB: it was cut short or is another disk; copy it again`,
        );
    },

    async space() {
      const { totalMiB, freeMiB } = await volumeGroup();
      return { totalMiB, freeMiB, location: init.volumeGroup };
    },

    async repair() {
      // Ganeti's LvmVgStorage repair: vgreduce --removemissing, and again with --force when LVM refuses
      // (a volume with extents on a missing physical volume is then dropped), then the group must read.
      const reduce = (force: boolean) =>
        lvm('vgreduce', ['--removemissing', ...(force ? ['--force'] : []), vg]).then(
          (output) => ({ done: true, output }),
          (error: Error) => ({ done: false, output: error.message }),
        );
      let attempt = await reduce(false);
      if (!attempt.done) attempt = await reduce(true);
      if (!attempt.done)
        throw new CorralError('unavailable', `volume group ${vg} is still not consistent: ${attempt.output}`);
      await volumeGroup();
      return attempt.output.trim() || `volume group ${vg} is consistent`;
    },
  };
  return template;
}

function fields(line: string): string[] {
  return line === '' ? [] : line.split('|').map((field) => field.trim());
}
