import type { Socket } from 'node:net';
import { CorralError } from '../common/errors.js';
import { invariant } from '../common/invariant.js';

/**
 * Reads length-prefixed frames (an unsigned varint length, then the bytes, as it-length-prefixed writes them)
 * from a local socket, one at a time. Bytes past a frame wait for the next read, so one connection can carry
 * one request after another.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private failure: CorralError | undefined;
  private waiter:
    | { readonly resolve: (frame: Uint8Array | undefined) => void; readonly reject: (error: Error) => void }
    | undefined;
  /** How many bytes of length prefix the cap allows: a longer prefix announces a frame over the cap. */
  private readonly maxPrefixBytes: number;

  constructor(
    private readonly socket: Socket,
    private readonly maxFrameBytes: number,
  ) {
    this.maxPrefixBytes = Math.max(1, Math.ceil(Math.log2(maxFrameBytes + 1) / 7));
    socket.on('data', this.onData).on('end', this.onEnd).on('close', this.onEnd).on('error', this.onError);
  }

  /** The next whole frame, or undefined once the other side has closed between two frames. */
  next(): Promise<Uint8Array | undefined> {
    invariant(this.waiter === undefined, () => 'one frame read at a time');
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.settle();
      if (this.waiter !== undefined) this.socket.resume();
    });
  }

  /** Stops listening to the socket (the socket itself is the caller's to close). */
  detach(): void {
    this.socket
      .off('data', this.onData)
      .off('end', this.onEnd)
      .off('close', this.onEnd)
      .off('error', this.onError);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
    this.settle();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    this.settle();
  };

  private readonly onError = (error: Error): void => {
    this.failure ??= new CorralError('closed', `the connection failed: ${error.message}`);
    this.settle();
  };

  private settle(): void {
    const waiter = this.waiter;
    if (waiter === undefined) {
      // Nobody reads yet: hold the sender back once more than a whole frame waits here.
      if (this.buffered > this.maxFrameBytes + this.maxPrefixBytes) this.socket.pause();
      return;
    }
    let frame: Uint8Array | undefined;
    try {
      frame = this.takeFrame();
    } catch (error) {
      this.waiter = undefined;
      waiter.reject(error as Error);
      return;
    }
    if (frame !== undefined) {
      this.waiter = undefined;
      waiter.resolve(frame);
    } else if (this.failure !== undefined) {
      this.waiter = undefined;
      waiter.reject(this.failure);
    } else if (this.ended) {
      this.waiter = undefined;
      if (this.buffered === 0) waiter.resolve(undefined);
      else waiter.reject(new CorralError('bad_frame', 'stream ended in the middle of a frame'));
    }
  }

  /** The first frame among the buffered bytes, taken off them, or undefined while it is not all here. */
  private takeFrame(): Uint8Array | undefined {
    if (this.buffered === 0) return undefined;
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    const bytes = this.chunks[0]!;
    let length = 0;
    let prefix = 0;
    for (;;) {
      if (prefix === bytes.byteLength) return undefined;
      if (prefix === this.maxPrefixBytes) throw this.tooLarge();
      const byte = bytes[prefix]!;
      length += (byte & 0x7f) * 2 ** (7 * prefix);
      prefix++;
      if ((byte & 0x80) === 0) break;
    }
    if (length > this.maxFrameBytes) throw this.tooLarge();
    if (bytes.byteLength < prefix + length) return undefined;
    const frame = bytes.subarray(prefix, prefix + length);
    const rest = bytes.subarray(prefix + length);
    this.chunks = rest.byteLength > 0 ? [rest] : [];
    this.buffered = rest.byteLength;
    return frame;
  }

  private tooLarge(): CorralError {
    return new CorralError('frame_too_large', `frame exceeds the ${this.maxFrameBytes}-byte limit`);
  }
}

/**
 * The frame with its unsigned varint length in front: it-length-prefixed's encode.single, written here because
 * importing that package costs every CLI call about 15 ms.
 */
export function lengthPrefixed(frame: Uint8Array): Buffer {
  const prefix: number[] = [];
  let length = frame.byteLength;
  while (length >= 0x80) {
    prefix.push((length & 0x7f) | 0x80);
    length = Math.floor(length / 0x80);
  }
  prefix.push(length);
  return Buffer.concat([Buffer.from(prefix), frame]);
}

export function writeFrame(socket: Socket, frame: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.write(lengthPrefixed(frame), (error) => (error ? reject(error) : resolve()));
  });
}
