import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/common/clock.js';
import { silentLogger } from '../../src/common/log.js';
import { SimClock } from '../../src/common/sim-clock.js';
import { CORRAL_VERSION } from '../../src/common/version.js';
import { waitFor } from '../../src/common/wait.js';
import {
  cpuUsePercent,
  type HealthRecord,
  healthRecordSchema,
  MAX_HEALTH_BYTES,
  MAX_MONITOR_SUMMARIES,
  MAX_STORAGE_DIRS,
  MAX_STORAGE_PATH_CHARS,
  MAX_UNSAFE_FILE_NAME_CHARS,
  MAX_UNSAFE_FILES,
} from '../../src/membership/health.js';
import { createHealthCollector } from '../../src/membership/health-collector.js';
import { encodeFrame } from '../../src/peer/codec.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const components = {
  log: silentLogger,
  instances: () => ({ running: 2, memoryBytes: 3 * 1024 ** 3 }),
  configSerial: () => 42,
  raftRole: () => 'follower' as const,
};

describe('health record', () => {
  it('takes the figures of this machine, its storage dirs and what the callbacks say', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'corral-health-'));
    dirs.push(dir);
    await writeFile(join(dir, 'file'), '');
    const collector = createHealthCollector(
      // A dir not made yet reports the filesystem it will be on; one that cannot be a dir reports nothing.
      { storageDirs: [dir, join(dir, 'not', 'made'), join(dir, 'file', 'x')] },
      { ...components, clock: systemClock },
    );
    const record = await collector.collect();
    expect(healthRecordSchema.parse(record)).toEqual(record);
    expect(record.cpuCount).toBeGreaterThan(0);
    expect(record.memoryFreeBytes).toBeLessThanOrEqual(record.memoryTotalBytes);
    expect(record.storage[0]?.freeBytes).toBeGreaterThan(0);
    expect(record.storage[1]).toMatchObject({
      path: join(dir, 'not', 'made'),
      totalBytes: record.storage[0]?.totalBytes,
    });
    expect(record.storage[2]).toEqual({ path: join(dir, 'file', 'x') });
    expect(record).toMatchObject({
      instancesRunning: 2,
      instanceMemoryBytes: 3 * 1024 ** 3,
      version: CORRAL_VERSION,
      configSerial: 42,
      raftRole: 'follower',
    });
    expect(encodeFrame(record, MAX_HEALTH_BYTES).byteLength).toBeLessThan(512);
  });

  it('stays under its cap with every field at its largest', () => {
    const big = Number.MAX_SAFE_INTEGER;
    const record: HealthRecord = {
      load1: 1e6,
      load5: 1e6,
      load15: 1e6,
      cpuCount: 65_536,
      cpuUsePercent: 99.9,
      memoryTotalBytes: big,
      memoryFreeBytes: big,
      storage: Array.from({ length: MAX_STORAGE_DIRS }, () => ({
        path: 'x'.repeat(MAX_STORAGE_PATH_CHARS),
        freeBytes: big,
        totalBytes: big,
      })),
      instancesRunning: 1_000_000,
      instanceMemoryBytes: big,
      version: 'v'.repeat(32),
      configSerial: big,
      raftRole: 'preCandidate',
      monitor: Array.from({ length: MAX_MONITOR_SUMMARIES }, () => ({ name: 'm'.repeat(32), code: 7 })),
      unsafeFiles: Array.from({ length: MAX_UNSAFE_FILES }, () => ({
        name: 'f'.repeat(MAX_UNSAFE_FILE_NAME_CHARS),
        mode: 0o777,
        uid: 2 ** 32,
        wantMode: 0o700,
        wantUid: 2 ** 32,
      })),
      collectedWallMs: big,
    };
    expect(healthRecordSchema.parse(record)).toEqual(record);
    expect(() => encodeFrame(record, MAX_HEALTH_BYTES)).not.toThrow();
  });

  it('refuses more storage dirs than a record carries, saying what to do', () => {
    const storageDirs = Array.from({ length: MAX_STORAGE_DIRS + 1 }, (_, i) => `/srv/d${i}`);
    expect(() => createHealthCollector({ storageDirs }, { ...components, clock: systemClock })).toThrow(
      /name fewer/,
    );
  });

  it('hands back the last record at once and refreshes it in the background once it is old', async () => {
    const clock = new SimClock();
    let serial = 1;
    // A refresh reads the instance figures first, synchronously: counting reads counts refreshes started.
    let refreshes = 0;
    const collector = createHealthCollector(
      { storageDirs: [], maxAgeMs: 1000 },
      {
        ...components,
        clock,
        configSerial: () => serial,
        instances: () => {
          refreshes++;
          return components.instances();
        },
      },
    );
    const serialSeen = (wanted: number) =>
      waitFor(() => (collector.current()?.configSerial === wanted ? true : undefined), {
        timeoutMs: 5_000,
        what: `a record with config serial ${wanted}`,
      });
    expect(collector.current()).toBeUndefined();
    await serialSeen(1);
    serial = 2;
    clock.advanceBy(999);
    expect(collector.current()?.configSerial).toBe(1);
    expect(refreshes).toBe(1);
    clock.advanceBy(1);
    expect(collector.current()?.configSerial).toBe(1);
    expect(refreshes).toBe(2);
    await serialSeen(2);
    expect(refreshes).toBe(2);
  });

  it('measures CPU use between two samples', () => {
    expect(cpuUsePercent({ busyMs: 100, totalMs: 1000 }, { busyMs: 350, totalMs: 2000 })).toBe(25);
    expect(cpuUsePercent({ busyMs: 100, totalMs: 1000 }, { busyMs: 100, totalMs: 1000 })).toBe(0);
  });
});
