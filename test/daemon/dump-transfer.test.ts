import { describe, expect, it } from 'vitest';
import { chunkedWriter, compactChunk, mappedChunks, pulledChunks } from '../../src/daemon/dump-transfer.js';
import type { DiskMap } from '../../src/storage/extents.js';

const bytes = (length: number) => Uint8Array.from({ length }, (_, i) => i % 251);

describe('chunked transfers', () => {
  it('writes a stream in order, in whole chunks but the last, whatever the pieces it is fed', async () => {
    const writes: [number, number][] = [];
    const received: number[] = [];
    const writer = chunkedWriter(async (offset, data) => {
      writes.push([offset, data.byteLength]);
      received.push(...data);
    }, 10);
    const source = bytes(37);
    let at = 0;
    for (const size of [3, 15, 1, 9, 9]) {
      await writer.push(source.subarray(at, at + size));
      at += size;
    }
    expect(await writer.end()).toBe(37);
    expect(writes).toEqual([
      [0, 10],
      [10, 10],
      [20, 10],
      [30, 7],
    ]);
    expect(Uint8Array.from(received)).toEqual(source);
  });

  it('ends only after the chunk being written, even when the stream was not made to wait', async () => {
    const writes: [number, number][] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const writer = chunkedWriter(async (offset, data) => {
      await gate;
      writes.push([offset, data.byteLength]);
    }, 10);
    void writer.push(bytes(10));
    const ended = writer.end();
    release();
    expect(await ended).toBe(10);
    expect(writes).toEqual([[0, 10]]);
  });

  it('writes one empty chunk for an empty stream, so that its file exists', async () => {
    const writes: [number, number][] = [];
    const writer = chunkedWriter(async (offset, data) => {
      writes.push([offset, data.byteLength]);
    }, 10);
    expect(await writer.end()).toBe(0);
    expect(writes).toEqual([[0, 0]]);
  });

  it('reads a file ahead in chunks and stops at its end; a failed read ends the stream with it', async () => {
    const file = bytes(25);
    const offsets: number[] = [];
    const read = async (offset: number) => {
      offsets.push(offset);
      const data = file.subarray(offset, offset + 10);
      return { data, eof: data.byteLength < 10 };
    };
    const got: number[] = [];
    for await (const chunk of pulledChunks(read, 10)) got.push(...chunk);
    expect(Uint8Array.from(got)).toEqual(file);
    expect(offsets.slice(0, 4)).toEqual([0, 10, 20, 30]);

    const failing = async (offset: number) => {
      if (offset === 10) throw new Error('peer gone');
      return { data: file.subarray(offset, offset + 10), eof: false };
    };
    const iterate = async () => {
      for await (const _ of pulledChunks(failing, 10));
    };
    await expect(iterate()).rejects.toThrow('peer gone');
  });

  it('sends a chunk of zeros as its length alone, and reads it back as zeros', async () => {
    const disk = new Uint8Array(40);
    disk.set(bytes(10), 20);
    const sent: number[] = [];
    const read = async (offset: number) => {
      const chunk = compactChunk(disk.slice(offset, offset + 10), offset + 10 >= disk.length);
      sent.push(chunk.data.byteLength);
      return chunk;
    };
    const tally = { bytes: 0 };
    const received: number[] = [];
    for await (const piece of pulledChunks(read, 10, tally)) received.push(...piece);
    expect(Uint8Array.from(received)).toEqual(disk);
    expect(tally.bytes).toBe(40);
    // Only the one chunk that held data crossed with its bytes.
    expect(sent.slice(0, 4)).toEqual([0, 0, 10, 0]);
    expect(compactChunk(new Uint8Array(0), true)).toEqual({ data: new Uint8Array(0), eof: true });
  });

  describe('a copy that follows the map of the disk', () => {
    /** A 95-byte disk with data at 0-2, 37-44 and 93-94, mapped in two pages split at 60. */
    const disk = new Uint8Array(95);
    disk.set(bytes(3), 0);
    disk.set(bytes(8), 37);
    disk.set(bytes(2), 93);
    const pages: Record<number, DiskMap> = {
      0: {
        lengthBytes: 95,
        extents: [
          { offset: 0, length: 3 },
          { offset: 37, length: 8 },
        ],
        until: 60,
      },
      60: { lengthBytes: 95, extents: [{ offset: 93, length: 2 }], until: 95 },
    };
    const collect = async (source: AsyncIterable<Uint8Array>) => {
      const got: number[] = [];
      for await (const piece of source) got.push(...piece);
      return Uint8Array.from(got);
    };

    it('reads only the data, page after page, and gives the holes as zeros', async () => {
      const reads: [number, number][] = [];
      const read = async (offset: number, length: number) => {
        reads.push([offset, length]);
        return compactChunk(disk.slice(offset, offset + length), false);
      };
      const asked: number[] = [];
      const next = async (from: number) => {
        asked.push(from);
        return pages[from]!;
      };
      const tally = { bytes: 0 };
      expect(await collect(mappedChunks(pages[0]!, next, read, 10, tally))).toEqual(disk);
      expect(tally.bytes).toBe(95);
      expect(asked).toEqual([60]);
      expect(reads).toEqual([
        [0, 3],
        [37, 3],
        [40, 5],
        [93, 2],
      ]);
    });

    it('reads nothing of a disk of holes, or of an empty one', async () => {
      const never = async (): Promise<never> => {
        throw new Error('asked');
      };
      const holes = { lengthBytes: 25, extents: [], until: 25 };
      expect(await collect(mappedChunks(holes, never, never, 10))).toEqual(new Uint8Array(25));
      const empty = { lengthBytes: 0, extents: [], until: 0 };
      expect(await collect(mappedChunks(empty, never, never, 10))).toEqual(new Uint8Array(0));
    });

    it('stops with an error on an unsound map, a disk that changes length, or a short piece', async () => {
      const read = async (offset: number, length: number) =>
        compactChunk(disk.slice(offset, offset + length), false);
      const copy = (first: DiskMap, next: (from: number) => Promise<DiskMap>, reader = read) =>
        collect(mappedChunks(first, next, reader, 10));
      const stuck = async () => ({ ...pages[0]!, extents: [], until: 60 });
      await expect(copy(pages[0]!, stuck)).rejects.toMatchObject({
        code: 'bad_frame',
        message: expect.stringMatching(/does not move on from 60/),
      });
      const longer = async () => ({ ...pages[60]!, lengthBytes: 200, until: 200 });
      await expect(copy(pages[0]!, longer)).rejects.toMatchObject({
        code: 'conflict',
        message: expect.stringMatching(/was 95 bytes long, and is now 200/),
      });
      const overlapping = { ...pages[0]!, extents: [{ offset: 0, length: 80 }] };
      await expect(copy(overlapping, stuck)).rejects.toMatchObject({ code: 'bad_frame' });
      const short = async (offset: number, length: number) =>
        compactChunk(disk.slice(offset, offset + length - 1), true);
      await expect(copy(pages[0]!, async (from) => pages[from]!, short)).rejects.toMatchObject({
        code: 'conflict',
        message: expect.stringMatching(/changed while it was copied: 3 bytes at 0 came as 2/),
      });
    });
  });
});
