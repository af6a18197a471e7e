import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { BlockStore } from './block-store.js';

const ZERO_CHUNK = 1024 * 1024;

/**
 * A copy kept in an image file of fixed size (sparse where never written). FUA writes go through a second
 * descriptor opened O_DSYNC: one system call where a write and an fdatasync took two trips to libuv's pool.
 */
export class FileBlockStore implements BlockStore {
  private constructor(
    private readonly handle: FileHandle,
    private readonly durableHandle: FileHandle,
    readonly sizeBytes: number,
  ) {}

  static async open(path: string): Promise<FileBlockStore> {
    const handle = await open(path, 'r+');
    const durableHandle = await open(path, constants.O_RDWR | constants.O_DSYNC).catch(async (error) => {
      await handle.close();
      throw error;
    });
    const { size } = await handle.stat();
    return new FileBlockStore(handle, durableHandle, size);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buffer, done, length - done, offset + done);
      if (bytesRead === 0) {
        buffer.fill(0, done);
        break;
      }
      done += bytesRead;
    }
    return buffer;
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    return writeAll(this.handle, offset, data);
  }

  writeDurably(offset: number, data: Uint8Array): Promise<void> {
    return writeAll(this.durableHandle, offset, data);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    const zeros = Buffer.alloc(Math.min(length, ZERO_CHUNK));
    for (let at = 0; at < length; at += zeros.byteLength)
      await this.write(offset + at, zeros.subarray(0, Math.min(zeros.byteLength, length - at)));
  }

  async flush(): Promise<void> {
    await this.handle.datasync();
  }

  async close(): Promise<void> {
    await this.durableHandle.close();
    await this.handle.close();
  }
}

async function writeAll(handle: FileHandle, offset: number, data: Uint8Array): Promise<void> {
  let done = 0;
  while (done < data.byteLength) {
    const { bytesWritten } = await handle.write(data, done, data.byteLength - done, offset + done);
    done += bytesWritten;
  }
}
