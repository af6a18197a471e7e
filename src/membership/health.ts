import type { CpuInfo } from 'node:os';
import { z } from 'zod';
import type { Role } from '../consensus/types.js';
import { encodeFrame } from '../peer/codec.js';

/** Monitoring summaries one record carries at most, and the longest collector name. */
export const MAX_MONITOR_SUMMARIES = 8;
const MAX_COLLECTOR_NAME_CHARS = 32;

/** Storage dirs one record reports at most, and the longest path it names. */
export const MAX_STORAGE_DIRS = 8;
export const MAX_STORAGE_PATH_CHARS = 128;
/** Unsafe files one record reports at most (the data dir, its three secret files, the control socket), and the longest name. */
export const MAX_UNSAFE_FILES = 5;
export const MAX_UNSAFE_FILE_NAME_CHARS = 32;
/** A record with every field at its largest stays under this when encoded; gossip refuses anything bigger. */
export const MAX_HEALTH_BYTES = 3072;

/** A node's Raft role as it reports it; `none` when it is not a master candidate. */
export type RaftRoleSeen = Role | 'none';
const raftRoles = [
  'leader',
  'follower',
  'preCandidate',
  'candidate',
  'none',
] as const satisfies readonly RaftRoleSeen[];

const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const load = z.number().nonnegative().max(1e6);

export const healthRecordSchema = z.object({
  /** Load averages over 1, 5 and 15 minutes. */
  load1: load,
  load5: load,
  load15: load,
  cpuCount: count.max(65_536),
  /** Busy share of all CPUs since the previous record, 0–100. */
  cpuUsePercent: z.number().min(0).max(100),
  memoryTotalBytes: count,
  memoryFreeBytes: count,
  /** Free and total space of each storage dir; both absent when the dir could not be read. */
  storage: z
    .array(
      z.object({
        path: z.string().min(1).max(MAX_STORAGE_PATH_CHARS),
        freeBytes: count.optional(),
        totalBytes: count.optional(),
      }),
    )
    .max(MAX_STORAGE_DIRS),
  instancesRunning: count.max(1_000_000),
  instanceMemoryBytes: count,
  version: z.string().min(1).max(32),
  /** The highest cluster config serial this node has applied. */
  configSerial: count,
  raftRole: z.enum(raftRoles),
  /** Each status collector's code (Ganeti's bits: 1 fixing, 2 unknown, 4 broken); the full reports stay on the node. */
  monitor: z
    .array(
      z.object({
        name: z.string().min(1).max(MAX_COLLECTOR_NAME_CHARS),
        code: z.number().int().min(0).max(7),
      }),
    )
    .max(MAX_MONITOR_SUMMARIES)
    .optional(),
  /**
   * This node's files that someone other than the daemon's user may use: what `cluster verify` reports. Absent
   * when there are none.
   */
  unsafeFiles: z
    .array(
      z.object({
        /** `data dir`, `control socket`, or the secret file's name in the data dir. */
        name: z.string().min(1).max(MAX_UNSAFE_FILE_NAME_CHARS),
        mode: z.number().int().min(0).max(0o777),
        uid: count.max(2 ** 32),
        /** The mode it must have, and the user that must own it (the daemon's). */
        wantMode: z.number().int().min(0).max(0o777),
        wantUid: count.max(2 ** 32),
      }),
    )
    .max(MAX_UNSAFE_FILES)
    .optional(),
  /** When the figures were taken, on the sender's wall clock. */
  collectedWallMs: count,
});

export type HealthRecord = z.infer<typeof healthRecordSchema>;

/** Checks that a record fits the cap, so a bad one fails where it is made and not on every receiver. */
export function checkHealthSize(record: HealthRecord): HealthRecord {
  encodeFrame(record, MAX_HEALTH_BYTES);
  return record;
}

/** CPU time counters summed over all CPUs, in milliseconds. */
export interface CpuTimes {
  readonly busyMs: number;
  readonly totalMs: number;
}

export function sumCpuTimes(cpus: readonly CpuInfo[]): CpuTimes {
  let busyMs = 0;
  let totalMs = 0;
  for (const { times } of cpus) {
    const total = times.user + times.nice + times.sys + times.idle + times.irq;
    totalMs += total;
    busyMs += total - times.idle;
  }
  return { busyMs, totalMs };
}

/** Busy share between two samples, in percent; 0 when no time has passed between them. */
export function cpuUsePercent(before: CpuTimes, after: CpuTimes): number {
  const totalMs = after.totalMs - before.totalMs;
  if (totalMs <= 0) return 0;
  const percent = (100 * (after.busyMs - before.busyMs)) / totalMs;
  return Math.round(Math.min(100, Math.max(0, percent)) * 10) / 10;
}
