import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { StorageSpace } from './disk-template.js';

const MIB = 1024 * 1024;

/**
 * The space of the filesystem that holds `dir`. A storage dir that does not exist yet is made on first use,
 * so its nearest existing parent tells where its disks will land.
 */
export async function filesystemSpace(dir: string): Promise<StorageSpace> {
  let current = dir;
  for (;;) {
    try {
      const stats = await statfs(current);
      return {
        totalMiB: Math.floor((stats.blocks * stats.bsize) / MIB),
        // bavail, not bfree: what an unprivileged writer may use, as df shows it.
        freeMiB: Math.floor((stats.bavail * stats.bsize) / MIB),
      };
    } catch (error) {
      const parent = dirname(current);
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || parent === current) throw error;
      current = parent;
    }
  }
}
