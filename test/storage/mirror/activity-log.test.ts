import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ActivityLog,
  AL_MAX_EXTENTS,
  AL_SLOT_BYTES,
  activityLogFile,
  decodeActivityLog,
  encodeActivityRecord,
  MemoryActivityLogFile,
  readActivityLog,
} from '../../../src/storage/mirror/activity-log.js';

const MiB = 1024 * 1024;

const turns = async (count = 5) => {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
};

/** A log of `capacity` 1 MiB extents over a 64 MiB disk, whose barrier is counted and answers `level`. */
function openLog(options: { capacity?: number; file?: MemoryActivityLogFile; level?: () => boolean } = {}) {
  const file = options.file ?? new MemoryActivityLogFile();
  const barriers: number[] = [];
  const log = new ActivityLog({
    file,
    sizeBytes: 64 * MiB,
    extentBytes: MiB,
    capacity: options.capacity ?? 3,
    lastSeq: file.record()?.seq ?? 0,
    extents: [],
    overflow: false,
    barrier: async () => {
      barriers.push(log.transactions);
      return options.level?.() ?? true;
    },
  });
  return { log, file, barriers };
}

/** Begins a write at extent `extent` and waits until the log lets it go. */
async function hot(log: ActivityLog, extent: number, length = 4096): Promise<void> {
  await log.begin(extent * MiB, length);
}

describe('activity log', () => {
  it('records a cold extent durably before the write may go, and costs nothing for a hot one', async () => {
    const { log, file } = openLog();
    await turns();
    expect(file.record()).toMatchObject({ seq: 1, overflow: false, extents: [] });
    const writesBefore = file.writes;

    const waiting = log.begin(2 * MiB + 100, 4096);
    expect(waiting).toBeInstanceOf(Promise);
    expect(log.isHot(2)).toBe(false);
    await waiting;
    expect(log.isHot(2)).toBe(true);
    expect(file.record()).toMatchObject({ seq: 2, extents: [2] });
    expect(file.writes).toBe(writesBefore + 1);

    // Hot: no promise, no write.
    expect(log.begin(2 * MiB, MiB)).toBeUndefined();
    expect(file.writes).toBe(writesBefore + 1);
    log.end(2 * MiB, MiB);
    log.end(2 * MiB + 100, 4096);
  });

  it('puts the writes that wait for one record into it together, and a write over two extents holds both', async () => {
    const { log, file } = openLog({ capacity: 8 });
    await turns();
    const writesBefore = file.writes;
    await Promise.all([
      log.begin(0, 4096),
      log.begin(MiB - 100, 200),
      log.begin(5 * MiB, 4096),
      log.begin(5 * MiB + 8192, 4096),
    ]);
    // The first write took a record alone; the three that waited behind it share the next.
    expect(file.writes).toBe(writesBefore + 2);
    expect(file.record()?.extents).toEqual([0, 1, 5]);
  });

  it('drops the least recently used idle extents when full, behind a barrier, and never one in use', async () => {
    const { log, file, barriers } = openLog({ capacity: 3 });
    for (const extent of [0, 1, 2]) {
      await hot(log, extent);
      log.end(extent * MiB, 4096);
    }
    expect(barriers).toEqual([]);
    // Extent 0 is used again, so 1 is now the least recently used; 2 is held by a write in flight.
    expect(log.begin(0, 4096)).toBeUndefined();
    log.end(0, 4096);
    expect(log.begin(2 * MiB, 4096)).toBeUndefined();
    await hot(log, 3);
    expect(barriers).toHaveLength(1);
    expect(file.record()?.extents).toEqual([0, 2, 3]);

    // 0 is idle and the oldest; 2 is still held, so 0 goes even though 2 was used before it.
    await hot(log, 4);
    expect(file.record()?.extents).toEqual([2, 3, 4]);
    log.end(2 * MiB, 4096);
    log.end(3 * MiB, 4096);
    log.end(4 * MiB, 4096);
  });

  it('makes a write wait while every extent is in use, until one is released', async () => {
    const { log, file } = openLog({ capacity: 1 });
    await hot(log, 0);
    let admitted = false;
    const waiting = log.begin(MiB, 4096)!.then(() => (admitted = true));
    await turns(20);
    expect(admitted).toBe(false);
    expect(file.record()?.extents).toEqual([0]);
    log.end(0, 4096);
    await waiting;
    expect(file.record()?.extents).toEqual([1]);
    expect(log.isHot(0)).toBe(false);
  });

  it('records an overflow when extents leave while the peer misses writes, and clears it once it is level', async () => {
    let level = false;
    const { log, file } = openLog({ capacity: 1, level: () => level });
    await hot(log, 0);
    log.end(0, 4096);
    await hot(log, 1);
    log.end(MiB, 4096);
    expect(file.record()).toMatchObject({ overflow: true, extents: [1] });
    await log.settled();
    expect(file.record()).toMatchObject({ overflow: true });
    level = true;
    await log.settled();
    expect(file.record()).toMatchObject({ overflow: false, extents: [1] });
    // A clearing with nothing to clear writes nothing.
    const writes = file.writes;
    await log.settled();
    expect(file.writes).toBe(writes);
  });

  it('empties itself on a clean close, and keeps its extents on a close that is not', async () => {
    const first = openLog();
    await hot(first.log, 4);
    first.log.end(4 * MiB, 4096);
    await first.log.close(false);
    expect(first.file.record()?.extents).toEqual([4]);
    const second = openLog({ file: first.file });
    await second.log.close(true);
    expect(second.file.record()).toMatchObject({ overflow: false, extents: [] });
  });

  it('reads back the newest whole record, the older one when the newest is torn, and nothing from garbage', () => {
    const file = new Uint8Array(2 * AL_SLOT_BYTES);
    const older = encodeActivityRecord({ seq: 7, overflow: false, extentBytes: MiB, extents: [1, 9] });
    const newer = encodeActivityRecord({ seq: 8, overflow: true, extentBytes: MiB, extents: [9] });
    file.set(older, AL_SLOT_BYTES);
    file.set(newer, 0);
    expect(decodeActivityLog(file)).toEqual({ seq: 8, overflow: true, extentBytes: MiB, extents: [9] });
    file[10] = (file[10] ?? 0) ^ 0xff;
    expect(decodeActivityLog(file)).toEqual({ seq: 7, overflow: false, extentBytes: MiB, extents: [1, 9] });
    expect(decodeActivityLog(new Uint8Array(100).fill(0xab))).toBeUndefined();
    const full = Array.from({ length: AL_MAX_EXTENTS }, (_, index) => index * 3);
    const largest = encodeActivityRecord({ seq: 1, overflow: false, extentBytes: MiB, extents: full });
    expect(largest.byteLength).toBeLessThanOrEqual(AL_SLOT_BYTES);
  });

  describe('in a file', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'corral-al-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('survives a reopen, and reads as none when missing or unreadable', async () => {
      const path = join(dir, 'disk.al');
      expect(await readActivityLog(activityLogFile(path))).toBeUndefined();
      const file = activityLogFile(path);
      const log = new ActivityLog({
        file,
        sizeBytes: 64 * MiB,
        extentBytes: MiB,
        lastSeq: 0,
        extents: [],
        overflow: false,
        barrier: async () => true,
      });
      for (const extent of [3, 30, 63]) await hot(log, extent);
      log.halt();
      await file.close();
      expect(await readActivityLog(activityLogFile(path))).toMatchObject({ extents: [3, 30, 63] });
      expect((await readFile(path)).byteLength).toBeLessThanOrEqual(2 * AL_SLOT_BYTES);
      await writeFile(path, Buffer.alloc(2 * AL_SLOT_BYTES, 0x5a));
      expect(await readActivityLog(activityLogFile(path))).toBeUndefined();
    });

    it('survives the SIGKILL of the process that wrote it', async () => {
      const path = join(dir, 'killed.al');
      const script = join(dir, 'writer.ts');
      const module = join(process.cwd(), 'src/storage/mirror/activity-log.ts');
      await writeFile(
        script,
        `import { ActivityLog, activityLogFile } from ${JSON.stringify(module)};
const log = new ActivityLog({ file: activityLogFile(${JSON.stringify(path)}), sizeBytes: 1 << 30,
  lastSeq: 0, extents: [], overflow: false, barrier: async () => true });
for (const extent of [5, 17, 200]) await log.begin(extent * 4 * 1024 * 1024, 4096);
process.stdout.write('hot\\n');
setInterval(() => undefined, 1000);
`,
      );
      const child = spawn(join(process.cwd(), 'node_modules/.bin/vite-node'), [script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('hot')) resolve();
        });
        child.on('exit', () => reject(new Error('the writer exited before its extents were hot')));
      });
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      expect(await readActivityLog(activityLogFile(path))).toMatchObject({
        overflow: false,
        extentBytes: 4 * MiB,
        extents: [5, 17, 200],
      });
    }, 30_000);
  });
});
