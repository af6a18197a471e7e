import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { Clock } from '../common/clock.js';
import { writeFileDurably } from '../common/durable-file.js';
import type { LeaseRecord } from './lease-keeper.js';

/** The node's lease file in its data directory. */
export const LEASE_FILE = 'lease.json';

export const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';

/** The lease file: the fence time on the host's monotonic clock, and the boot that clock belongs to. */
export const savedLeaseSchema = z.object({ bootId: z.string(), fenceAtNs: z.string().regex(/^-?\d+$/) });

/** This host's monotonic clock (CLOCK_MONOTONIC, the same for every process until the host reboots), in ns. */
export function hostMonotonicNs(): bigint {
  return process.hrtime.bigint();
}

/**
 * The fence time in a file, on the host's monotonic clock with the boot it belongs to, so that the next
 * daemon on this host can tell how long the lease still ran; a record of another boot (or none) means the
 * lease is over. `clock` is the daemon's own, whose readings mean nothing to another process.
 */
export function leaseRecordFile(path: string, clock: Clock, bootIdPath = BOOT_ID_PATH): LeaseRecord {
  const bootId = async () => (await readFile(bootIdPath, 'utf8')).trim();
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
      const saved = savedLeaseSchema.safeParse(JSON.parse(text));
      if (!saved.success || saved.data.bootId !== (await bootId())) return undefined;
      const leftNs = BigInt(saved.data.fenceAtNs) - hostMonotonicNs();
      return clock.monotonicMs() + Number(leftNs / 1_000_000n);
    },
    async save(fenceAtMs) {
      const leftNs = BigInt(Math.floor((fenceAtMs - clock.monotonicMs()) * 1_000_000));
      const saved = { bootId: await bootId(), fenceAtNs: (hostMonotonicNs() + leftNs).toString() };
      await writeFileDurably(path, new TextEncoder().encode(JSON.stringify(saved)));
    },
  };
}

/** For the simulator: what a simulated host keeps across a crash of its daemon, on the one simulated clock. */
export function leaseRecordInMemory(): LeaseRecord {
  let fenceAt: number | undefined;
  return {
    load: async () => fenceAt,
    save: async (value) => {
      fenceAt = value;
    },
  };
}
