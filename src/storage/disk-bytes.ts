import { type FileHandle, open } from 'node:fs/promises';
import type { CorralError } from '../common/errors.js';

/**
 * A disk's bytes as a stream and back, for copying a stopped instance's disk to another node. Files and
 * block devices alike: plain reads with positions, no stream machinery.
 */

const CHUNK_BYTES = 1024 * 1024;
/** Runs of zeros this long are skipped, not written, when the target may be sparse. */
const SPARSE_BLOCK_BYTES = 64 * 1024;
const ZERO_BLOCK = Buffer.alloc(SPARSE_BLOCK_BYTES);
/**
 * Zero-filled and never written: the bytes of every hole `holeChunks` yields. Large, so that a hole of a
 * terabyte is a few thousand pieces; its pages are the kernel's zero page until written, so it costs no memory.
 */
const HOLE = new Uint8Array(64 * CHUNK_BYTES);

/**
 * A hole of `length` bytes in a copy, as zeros. writeChunks knows them for what they are and skips them
 * without comparing: a 2 GiB disk holding little is then not read through on either side.
 */
export function* holeChunks(length: number): Generator<Uint8Array> {
  for (let left = length; left > 0; left -= HOLE.byteLength)
    yield HOLE.subarray(0, Math.min(left, HOLE.byteLength));
}

function isHole(chunk: Uint8Array): boolean {
  return chunk.buffer === HOLE.buffer;
}

/**
 * Reads the file or device from `startBytes`, up to `lengthBytes` when given (a volume may hold more than its
 * disk: LVM rounds up to whole extents); `missing` says what to throw when it is not there.
 */
export async function* readChunks(
  path: string,
  missing: () => CorralError,
  lengthBytes = Number.POSITIVE_INFINITY,
  startBytes = 0,
): AsyncGenerator<Uint8Array> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw missing();
    throw error;
  }
  try {
    for (let position = startBytes; ; ) {
      // A fresh buffer per chunk: the consumer may keep it past the next read.
      const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
      const wanted = Math.min(CHUNK_BYTES, lengthBytes - position);
      if (wanted <= 0) return;
      const { bytesRead } = await handle.read(buffer, 0, wanted, position);
      if (bytesRead === 0) return;
      position += bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

export interface WriteChunksOptions {
  /**
   * Leave zero runs as holes. Only for a target that reads back zeros where nothing was written (a new file,
   * then truncated to the returned length); never for a device holding old data.
   */
  readonly sparse: boolean;
  /** Refuse more bytes than the target holds, with the error `tooLarge` makes. */
  readonly limit?: { readonly bytes: number; readonly tooLarge: () => CorralError };
}

/** Writes the source from offset 0 and returns how many bytes it held. */
export async function writeChunks(
  handle: FileHandle,
  source: AsyncIterable<Uint8Array>,
  options: WriteChunksOptions,
): Promise<number> {
  let position = 0;
  for await (const chunk of source) {
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (options.limit !== undefined && position + bytes.length > options.limit.bytes)
      throw options.limit.tooLarge();
    if (!options.sparse) await writeAll(handle, bytes, position);
    else if (!isHole(chunk)) await writeSkippingZeros(handle, bytes, position);
    position += bytes.length;
  }
  return position;
}

async function writeSkippingZeros(handle: FileHandle, bytes: Buffer, position: number): Promise<void> {
  // Consecutive non-zero blocks go out in one write; zero blocks end a run and are skipped.
  let runStart = 0;
  for (let offset = 0; offset < bytes.length; offset += SPARSE_BLOCK_BYTES) {
    const end = Math.min(offset + SPARSE_BLOCK_BYTES, bytes.length);
    if (!bytes.subarray(offset, end).equals(ZERO_BLOCK.subarray(0, end - offset))) continue;
    if (runStart < offset) await writeAll(handle, bytes.subarray(runStart, offset), position + runStart);
    runStart = end;
  }
  if (runStart < bytes.length) await writeAll(handle, bytes.subarray(runStart), position + runStart);
}

async function writeAll(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
