import type { StatsFs } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { dirname } from 'node:path';
import type { Clock } from '../common/clock.js';
import { CorralError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { CORRAL_VERSION } from '../common/version.js';
import {
  type CpuTimes,
  checkHealthSize,
  cpuUsePercent,
  type HealthRecord,
  MAX_MONITOR_SUMMARIES,
  MAX_STORAGE_DIRS,
  MAX_STORAGE_PATH_CHARS,
  MAX_UNSAFE_FILES,
  type RaftRoleSeen,
  sumCpuTimes,
} from './health.js';

export interface HealthCollectorInit {
  /** Directories whose free space is reported (file and sharedfile disk dirs, the data dir). */
  readonly storageDirs: readonly string[];
  /** A record older than this is refreshed when next asked for. Default 1000 ms. */
  readonly maxAgeMs?: number;
}

export interface HealthCollectorComponents {
  readonly clock: Clock;
  readonly log: Logger;
  /** Instances running here and the memory they hold; the node agent provides it. */
  readonly instances: () => { readonly running: number; readonly memoryBytes: number };
  readonly configSerial: () => number;
  readonly raftRole: () => RaftRoleSeen;
  /** The monitoring collectors' status codes, when the node runs them. */
  readonly monitor?: () => HealthRecord['monitor'];
  /** This node's files with unsafe modes or owners (see daemon/file-modes.ts); none when not given. */
  readonly unsafeFiles?: () => Promise<NonNullable<HealthRecord['unsafeFiles']>>;
}

export interface HealthCollector {
  /**
   * The latest record, at once; when it is older than maxAgeMs a fresh one is collected in the background
   * for the next call, so callers on a timer never wait on the disk.
   */
  current(): HealthRecord | undefined;
  /** Collects a record now. */
  collect(): Promise<HealthRecord>;
}

/** Reads this machine's figures: the edge where the operating system is asked; the rest only passes records on. */
export function createHealthCollector(
  init: HealthCollectorInit,
  components: HealthCollectorComponents,
): HealthCollector {
  if (init.storageDirs.length > MAX_STORAGE_DIRS) {
    throw new CorralError(
      'bad_request',
      `at most ${MAX_STORAGE_DIRS} storage dirs can be reported; name fewer`,
    );
  }
  const tooLong = init.storageDirs.find((dir) => dir.length > MAX_STORAGE_PATH_CHARS);
  if (tooLong !== undefined) {
    throw new CorralError(
      'bad_request',
      `storage dir ${tooLong.slice(0, 40)}… is longer than ${MAX_STORAGE_PATH_CHARS} characters; use a shorter path or a symlink`,
    );
  }
  const maxAgeMs = init.maxAgeMs ?? 1000;
  const { clock, log } = components;
  let latest: HealthRecord | undefined;
  let latestAtMs = Number.NEGATIVE_INFINITY;
  let refreshing = false;
  let lastCpu: CpuTimes = sumCpuTimes(cpus());

  async function storage(): Promise<HealthRecord['storage']> {
    return Promise.all(
      init.storageDirs.map(async (path) => {
        try {
          const stats = await statfsNearest(path);
          return { path, freeBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize };
        } catch (error) {
          log.debug({ path, reason: (error as Error).message }, 'cannot read a storage dir');
          return { path };
        }
      }),
    );
  }

  async function unsafeFiles(): Promise<HealthRecord['unsafeFiles']> {
    try {
      const found = (await components.unsafeFiles?.()) ?? [];
      return found.length === 0 ? undefined : found.slice(0, MAX_UNSAFE_FILES);
    } catch (error) {
      log.debug({ reason: (error as Error).message }, 'cannot check the modes of secret files');
      return undefined;
    }
  }

  async function collect(): Promise<HealthRecord> {
    const [load1 = 0, load5 = 0, load15 = 0] = loadavg();
    const cpuInfo = cpus();
    const cpuNow = sumCpuTimes(cpuInfo);
    const instances = components.instances();
    const unsafe = await unsafeFiles();
    const record = checkHealthSize({
      load1,
      load5,
      load15,
      cpuCount: cpuInfo.length,
      cpuUsePercent: cpuUsePercent(lastCpu, cpuNow),
      memoryTotalBytes: totalmem(),
      memoryFreeBytes: freemem(),
      storage: await storage(),
      instancesRunning: instances.running,
      instanceMemoryBytes: instances.memoryBytes,
      version: CORRAL_VERSION,
      configSerial: components.configSerial(),
      raftRole: components.raftRole(),
      ...(components.monitor !== undefined && {
        monitor: components.monitor()?.slice(0, MAX_MONITOR_SUMMARIES),
      }),
      ...(unsafe !== undefined && { unsafeFiles: unsafe }),
      collectedWallMs: Math.floor(clock.wallMs()),
    });
    lastCpu = cpuNow;
    latest = record;
    latestAtMs = clock.monotonicMs();
    return record;
  }

  return {
    current() {
      if (!refreshing && clock.monotonicMs() - latestAtMs >= maxAgeMs) {
        refreshing = true;
        collect()
          .catch((error: unknown) =>
            log.warn({ reason: (error as Error).message }, 'health collection failed'),
          )
          .finally(() => {
            refreshing = false;
          });
      }
      return latest;
    },
    collect,
  };
}

/**
 * The filesystem a dir is or will be on: a storage dir is made with the first disk in it, and until then the
 * space its disks would take is its nearest existing parent's.
 */
async function statfsNearest(path: string): Promise<StatsFs> {
  try {
    return await statfs(path);
  } catch (error) {
    const parent = dirname(path);
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || parent === path) throw error;
    return statfsNearest(parent);
  }
}
