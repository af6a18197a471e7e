import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Chunk, compactChunk, mappedChunks } from '../../src/daemon/dump-transfer.js';
import { holeChunks, writeChunks } from '../../src/storage/disk-bytes.js';
import type { DiskMap } from '../../src/storage/extents.js';
import { createFileTemplate } from '../../src/storage/file-template.js';
import { mapFile } from '../../src/storage/qemu-img-map.js';
import { disk } from './template-compliance.js';

/**
 * Copies of sparse files that read and send only their data, through qemu-img's map of the real file: holes
 * are neither read nor written, and the copy is as long and as sparse as its source.
 */

const MIB = 1024 * 1024;
const CHUNK = MIB;
const tool = { installHint: 'install qemu-utils' } as const;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'corral-sparse-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** A sparse file of `length` bytes with random data at the offsets given. */
async function sparseFile(name: string, length: number, pieces: [number, number][]): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, '');
  await truncate(path, length);
  const handle = await open(path, 'r+');
  try {
    for (const [offset, bytes] of pieces) await handle.write(randomBytes(bytes), 0, bytes, offset);
  } finally {
    await handle.close();
  }
  return path;
}

/** Copies `source` as a node would, counting the reads and the bytes they carried. */
async function copy(source: string, toolPath?: string) {
  const reads: [number, number][] = [];
  const read = async (offset: number, length: number): Promise<Chunk> => {
    reads.push([offset, length]);
    const handle = await open(source, 'r');
    try {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      return compactChunk(buffer.subarray(0, bytesRead), bytesRead < length);
    } finally {
      await handle.close();
    }
  };
  const lengthBytes = (await stat(source)).size;
  const map = (from: number): Promise<DiskMap> => mapFile(source, from, lengthBytes, { ...tool, toolPath });
  const target = `${source}.copy`;
  const handle = await open(target, 'w');
  let written: number;
  try {
    const tally = { bytes: 0 };
    written = await writeChunks(handle, mappedChunks(await map(0), map, read, CHUNK, tally), {
      sparse: true,
    });
    await handle.truncate(written);
    expect(tally.bytes).toBe(lengthBytes);
  } finally {
    await handle.close();
  }
  return { target, written, reads };
}

/** Compared as digests: a failed comparison of whole disks would print them. */
async function sha256(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

async function allocated(path: string): Promise<number> {
  return (await stat(path)).blocks * 512;
}

describe('a sparse copy through qemu-img map', () => {
  it('reads only the data at the start, middle and end of a file whose length is not whole chunks', async () => {
    const length = 64 * MIB + 12_345;
    const source = await sparseFile('disk', length, [
      [0, 4096],
      [30 * MIB + 8192, 2 * MIB],
      [length - 5000, 5000],
    ]);
    const { target, written, reads } = await copy(source);
    expect(written).toBe(length);
    expect(await sha256(target)).toBe(await sha256(source));
    // The middle piece spans three chunk cells; the start and the end are one read each.
    expect(reads).toHaveLength(5);
    expect(reads.reduce((sum, [, n]) => sum + n, 0)).toBeLessThan(3 * MIB);
    expect(await allocated(target)).toBeLessThanOrEqual((await allocated(source)) + 64 * 1024);
  });

  it('copies an empty file, and a file of holes only, without a read', async () => {
    const empty = await sparseFile('empty', 0, []);
    const none = await copy(empty);
    expect(none.written).toBe(0);
    expect(none.reads).toEqual([]);
    expect((await stat(none.target)).size).toBe(0);

    const holes = await sparseFile('holes', 10 * MIB + 7, []);
    const sparse = await copy(holes);
    expect(sparse.written).toBe(10 * MIB + 7);
    expect(sparse.reads).toEqual([]);
    expect((await stat(sparse.target)).size).toBe(10 * MIB + 7);
    expect(await allocated(sparse.target)).toBe(0);
  });

  it('copies a file full of data whole', async () => {
    const length = 3 * MIB + 100;
    const source = await sparseFile('full', length, [[0, length]]);
    const { target, reads } = await copy(source);
    expect(await sha256(target)).toBe(await sha256(source));
    expect(reads.map(([offset]) => offset)).toEqual([0, MIB, 2 * MIB, 3 * MIB]);
  });

  it('reads everything, and still copies right, when qemu-img is not there', async () => {
    const length = 3 * MIB + 10;
    const source = await sparseFile('disk', length, [[MIB + 3, 10]]);
    const { target, reads } = await copy(source, join(dir, 'no-tools'));
    expect(await sha256(target)).toBe(await sha256(source));
    expect(reads).toHaveLength(4);
    expect(await allocated(target)).toBeLessThanOrEqual(64 * 1024);
  });
});

describe('holes in a copy', () => {
  async function* stream(...parts: Iterable<Uint8Array>[]) {
    for (const part of parts) yield* part;
  }

  it('are skipped on a sparse target and written as zeros on any other, the length exact either way', async () => {
    const data = randomBytes(5000);
    const hole = 2 * MIB + 3;
    for (const sparse of [true, false]) {
      const path = join(dir, `target-${sparse}`);
      const handle = await open(path, 'w');
      try {
        const length = await writeChunks(handle, stream([data], holeChunks(hole), [data]), { sparse });
        await handle.truncate(length);
        expect(length).toBe(2 * data.length + hole);
      } finally {
        await handle.close();
      }
      const copied = await readFile(path);
      expect(copied.subarray(data.length, data.length + hole).every((byte) => byte === 0)).toBe(true);
      expect(copied.subarray(data.length + hole)).toEqual(data);
      if (sparse) expect(await allocated(path)).toBeLessThan(64 * 1024);
      else expect(await allocated(path)).toBeGreaterThanOrEqual(hole);
    }
    expect([...holeChunks(0)]).toEqual([]);
    expect([...holeChunks(64 * MIB + 1)].map((piece) => piece.byteLength)).toEqual([64 * MIB, 1]);
  });
});

describe('the file template’s map', () => {
  it('shows where the data of a disk lies, and says not_found for a missing disk', async () => {
    const template = createFileTemplate({ name: 'file', dir: join(dir, 'storage') });
    const raw = disk('raw', { sizeMiB: 16 });
    await template.create(raw);
    const handle = await open(template.path(raw)!, 'r+');
    await handle.write(randomBytes(4096), 0, 4096, 5 * MIB);
    await handle.close();
    // qemu-img create writes the first block of a raw image (to learn the alignment); the rest is a hole.
    expect(await template.dataExtents!(raw, 0)).toEqual({
      lengthBytes: 16 * MIB,
      extents: [
        { offset: 0, length: 4096 },
        { offset: 5 * MIB, length: 4096 },
      ],
      until: 16 * MIB,
    });
    expect((await template.dataExtents!(raw, 6 * MIB)).extents).toEqual([]);
    await expect(template.dataExtents!({ ...raw, diskUuid: 'gone' }, 0)).rejects.toMatchObject({
      code: 'not_found',
    });
  });
});
