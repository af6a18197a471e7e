import { describe, expect, it } from 'vitest';
import { chunkedWriter, compactChunk, pulledChunks } from '../../src/daemon/dump-transfer.js';

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
});
