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
      const all = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
      const data = all.subarray(0, waiting.bytes);
      const rest = all.subarray(waiting.bytes);
      this.buffered = rest.byteLength > 0 ? [rest] : [];
      this.size = rest.byteLength;
      this.waiting = undefined;
      waiting.resolve(Buffer.from(data));
    } else if (this.ended !== undefined) {
      this.waiting = undefined;
      waiting.reject(this.ended);
    }
  }
}
