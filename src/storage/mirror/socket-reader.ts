import type { Socket } from 'node:net';
import { CorralError } from '../../common/errors.js';

/** Reads exact byte counts from a socket, buffering what arrives before it is asked for. */
export class SocketReader {
  private buffered: Buffer[] = [];
  private size = 0;
  private waiting:
    | { bytes: number; resolve: (data: Buffer) => void; reject: (error: Error) => void }
    | undefined;
  private ended: Error | undefined;

  constructor(socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered.push(chunk);
      this.size += chunk.byteLength;
      this.deliver();
    });
    const end = (error?: Error) => {
      this.ended ??= error ?? new CorralError('closed', 'the other end closed the connection');
      this.deliver();
    };
    socket.on('end', () => end());
    socket.on('error', end);
    socket.on('close', () => end());
  }

  read(bytes: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.waiting = { bytes, resolve, reject };
      this.deliver();
    });
  }

  private deliver(): void {
    const waiting = this.waiting;
    if (waiting === undefined) return;
    if (this.size >= waiting.bytes) {
      this.waiting = undefined;
      waiting.resolve(this.take(waiting.bytes));
    } else if (this.ended !== undefined) {
      this.waiting = undefined;
      waiting.reject(this.ended);
    }
  }

  /** The next `bytes` bytes, joining only the chunks they span: a burst buffered behind them is not copied. */
  private take(bytes: number): Buffer {
    const parts: Buffer[] = [];
    let have = 0;
    while (have < bytes) {
      const chunk = this.buffered[0]!;
      const need = bytes - have;
      if (chunk.byteLength <= need) {
        parts.push(chunk);
        this.buffered.shift();
        have += chunk.byteLength;
      } else {
        parts.push(chunk.subarray(0, need));
        this.buffered[0] = chunk.subarray(need);
        have = bytes;
      }
    }
    this.size -= bytes;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes);
  }
}
