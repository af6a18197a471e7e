import type { AdminState } from '../cluster/model.js';
import type { AgentInstanceStatus } from '../cluster/node-status.js';

/**
 * Ganeti's monitoring-daemon collectors (ganeti-mond, mon-collector) as pure functions of what the node
 * sampled. Report objects have Ganeti's shape, so tools that read mond's /1/report/all read ours.
 */

/** Ganeti's report categories; null is listed as "default". */
export type ReportCategory = 'instance' | 'storage' | 'daemon' | 'hypervisor' | null;

/** 0 = performance report (raw data), 1 = status report (data.status says whether all is well). */
export type ReportKind = 0 | 1;

/** Bit values: a cluster's health is the OR of every report's code. */
export const statusCodes = { ok: 0, fixing: 1, unknown: 2, broken: 4 } as const;
export type StatusCode = number;

export interface ReportStatus {
  readonly code: StatusCode;
  readonly message: string;
}

export interface MonitorReport {
  readonly name: string;
  /** "B" for built-in collectors. */
  readonly version: 'B';
  readonly format_version: 1;
  /** Nanoseconds since the epoch (Ganeti's unit), to the precision a double holds. */
  readonly timestamp: number;
  readonly category: ReportCategory;
  readonly kind: ReportKind;
  readonly data: unknown;
}

function report(
  name: string,
  category: ReportCategory,
  kind: ReportKind,
  wallMs: number,
  data: unknown,
): MonitorReport {
  return { name, version: 'B', format_version: 1, timestamp: Math.round(wallMs) * 1e6, category, kind, data };
}

/** Busy and total CPU time of each CPU at one moment, in ms. */
export type CpuSample = readonly { readonly busyMs: number; readonly totalMs: number }[];

/**
 * cpu-avg-load: each CPU's busy share over the window between the oldest and the newest sample, and their
 * sum as cpu_total (0 for a CPU that saw no time pass, as when only one sample is held).
 */
export function cpuAvgLoadReport(window: readonly CpuSample[], wallMs: number): MonitorReport {
  const first = window[0] ?? [];
  const last = window[window.length - 1] ?? [];
  const cpus = last.map((now, i) => {
    const then = first[i];
    const totalMs = then === undefined ? 0 : now.totalMs - then.totalMs;
    if (then === undefined || totalMs <= 0) return 0;
    return Math.min(1, Math.max(0, (now.busyMs - then.busyMs) / totalMs));
  });
  return report('cpu-avg-load', null, 0, wallMs, {
    cpu_number: cpus.length,
    cpus,
    cpu_total: cpus.reduce((sum, load) => sum + load, 0),
  });
}

/** An instance whose primary node is this one, as the configuration has it. */
export interface ConfiguredInstance {
  readonly name: string;
  readonly uuid: string;
  readonly adminState: AdminState;
  /** When the instance's record last changed, wall ms. */
  readonly mtimeMs: number;
}

const instanceStatuses = {
  ok: { code: statusCodes.ok, message: '' },
  restarting: { code: statusCodes.fixing, message: 'should run but does not; the watcher restarts it' },
  unwanted: {
    code: statusCodes.broken,
    message: 'runs but its admin state is not up; stop it or mark it up',
  },
  hung: { code: statusCodes.unknown, message: 'paused or caught between states; look at it' },
} as const satisfies Record<string, ReportStatus>;

/**
 * inst-status (Ganeti's inst-status-xen, for any hypervisor): every instance configured here or running
 * here, its admin and actual state, and a status per instance and for the node (the worst of them).
 */
export function instanceStatusReport(
  configured: readonly ConfiguredInstance[],
  running: readonly AgentInstanceStatus[],
  wallMs: number,
): MonitorReport {
  const liveByName = new Map(running.map((status) => [status.name, status]));
  const configByName = new Map(configured.map((instance) => [instance.name, instance]));
  const names = [...new Set([...configByName.keys(), ...liveByName.keys()])].sort();
  const instances = names.map((name) => {
    const config = configByName.get(name);
    const live = liveByName.get(name);
    const actual = live === undefined ? 'down' : live.state === 'running' ? 'up' : 'hung';
    const wanted = config?.adminState === 'up';
    const status =
      actual === 'hung'
        ? instanceStatuses.hung
        : actual === 'up' && !wanted
          ? instanceStatuses.unwanted
          : actual === 'down' && wanted
            ? instanceStatuses.restarting
            : instanceStatuses.ok;
    return {
      name,
      uuid: config?.uuid ?? live?.uuid ?? '',
      // An instance running here that the configuration does not place here has no admin state of ours.
      admin_state: config?.adminState ?? 'unknown',
      actual_state: actual,
      uptime: live === undefined ? 0 : Math.max(0, Math.floor((wallMs - live.startedMs) / 1000)),
      mtime: config === undefined ? 0 : config.mtimeMs / 1000,
      state_reason: [],
      status,
    };
  });
  return report('inst-status', 'instance', 1, wallMs, {
    status: worst(instances.map((i) => i.status)),
    instances,
  });
}

export interface StorageDirSample {
  readonly path: string;
  readonly freeBytes?: number | undefined;
  readonly totalBytes?: number | undefined;
}

/** Below this share of free space a storage dir is broken for new disks. */
export const STORAGE_FREE_MIN_PERCENT = 5;

/** storage-dirs: free space of the dirs disks live in; unreadable is unknown, nearly full is broken. */
export function storageDirsReport(dirs: readonly StorageDirSample[], wallMs: number): MonitorReport {
  const entries = dirs.map((dir) => {
    if (dir.freeBytes === undefined || dir.totalBytes === undefined || dir.totalBytes <= 0)
      return { path: dir.path, status: { code: statusCodes.unknown, message: 'cannot be read' } };
    const freePercent = (100 * dir.freeBytes) / dir.totalBytes;
    const status =
      freePercent < STORAGE_FREE_MIN_PERCENT
        ? {
            code: statusCodes.broken,
            message: `only ${freePercent.toFixed(1)} % free; free space or add some`,
          }
        : { code: statusCodes.ok, message: '' };
    return { path: dir.path, free: dir.freeBytes, total: dir.totalBytes, status };
  });
  return report('storage-dirs', 'storage', 1, wallMs, {
    status: worst(entries.map((e) => e.status)),
    dirs: entries,
  });
}

export interface MemorySample {
  readonly memoryTotalMiB: number;
  readonly memoryFreeMiB: number;
  readonly memoryInstancesMiB: number;
}

/** node-memory: Ganeti's node memory fields (mtotal, mfree, mnode) and what instances hold, in MiB. */
export function nodeMemoryReport(memory: MemorySample, wallMs: number): MonitorReport {
  return report('node-memory', null, 0, wallMs, {
    mtotal: memory.memoryTotalMiB,
    mfree: memory.memoryFreeMiB,
    minstances: memory.memoryInstancesMiB,
    mnode: Math.max(0, memory.memoryTotalMiB - memory.memoryFreeMiB - memory.memoryInstancesMiB),
  });
}

/** /proc/diskstats lines parsed at most; a node with more block devices is cut off, not slowed down. */
export const MAX_DISKSTATS_LINES = 512;
const DISKSTATS_FIELDS = [
  'readsNum',
  'mergedReads',
  'secRead',
  'timeRead',
  'writes',
  'mergedWrites',
  'secWritten',
  'timeWrite',
  'ios',
  'timeIO',
  'wIOmillis',
] as const;

/** diskstats: one entry per /proc/diskstats line, with Ganeti's field names; malformed lines are skipped. */
export function diskstatsReport(procDiskstats: string, wallMs: number): MonitorReport {
  const entries = [];
  for (const line of procDiskstats.split('\n').slice(0, MAX_DISKSTATS_LINES)) {
    const [major, minor, name, ...rest] = line.trim().split(/\s+/);
    const numbers = rest.slice(0, DISKSTATS_FIELDS.length).map(Number);
    if (name === undefined || numbers.length < DISKSTATS_FIELDS.length || numbers.some(Number.isNaN))
      continue;
    entries.push({
      major: Number(major),
      minor: Number(minor),
      name,
      ...Object.fromEntries(DISKSTATS_FIELDS.map((field, i) => [field, numbers[i]])),
    });
  }
  return report('diskstats', 'storage', 0, wallMs, entries);
}

/** The code and message of the worst status: the OR of the codes, the first message of the worst one. */
export function worst(statuses: readonly ReportStatus[]): ReportStatus {
  const code = statuses.reduce((all, status) => all | status.code, 0);
  const top = [...statuses].sort((a, b) => b.code - a.code)[0];
  return { code, message: top !== undefined && top.code > 0 ? top.message : '' };
}

/** What a node gossips of its reports: each status collector's code, never the full data. */
export interface ReportSummary {
  readonly name: string;
  readonly code: StatusCode;
}

export function summarize(reports: readonly MonitorReport[]): ReportSummary[] {
  return reports.flatMap((r) => {
    if (r.kind !== 1) return [];
    const status = (r.data as { status?: ReportStatus }).status;
    return status === undefined ? [] : [{ name: r.name, code: status.code }];
  });
}
