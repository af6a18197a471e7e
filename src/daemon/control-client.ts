import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { z } from 'zod';
import { CorralError } from '../common/errors.js';
import { checkShape, decodeFrame, encodeFrame } from '../peer/codec.js';
import { replySchema } from '../peer/envelope.js';
import { FrameReader, writeFrame } from '../peer/socket-framing.js';
import type { ControlRequest } from './control-protocol.js';
import {
  CONTROL_FRAME_BYTES,
  CONTROL_SOCKET_FILE,
  type ControlResponse,
  controlResponseSchemas,
} from './control-replies.js';

export const DEFAULT_DATA_DIR = '/var/lib/corral';

/** The socket named by --socket, else CORRAL_SOCKET, else the one in the data dir. */
export function controlSocketPath(options: {
  socket?: string | undefined;
  dataDir?: string | undefined;
}): string {
  return (
    options.socket ??
    process.env.CORRAL_SOCKET ??
    join(options.dataDir ?? process.env.CORRAL_DATA_DIR ?? DEFAULT_DATA_DIR, CONTROL_SOCKET_FILE)
  );
}

/** Asks the local daemon one thing and returns its answer, or throws its error as one clear line. */
export async function callDaemon<R extends ControlRequest>(
  path: string,
  request: R,
): Promise<ControlResponse<R['op']>> {
  const connection = await ControlConnection.open(path);
  try {
    return await connection.call(request);
  } finally {
    connection.close();
  }
}

/**
 * One connection to the local daemon, kept open for many requests: each waits for the answer to the one
 * before. For a program that asks many things in a row (a job and its watch, a benchmark's client).
 */
export class ControlConnection {
  private last: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly socket: Socket,
    private readonly reader: FrameReader,
  ) {}

  static async open(path: string): Promise<ControlConnection> {
    const socket = connect({ path });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
    } catch (error) {
      socket.destroy();
      const code = (error as NodeJS.ErrnoException).code;
      const why =
        code === 'ENOENT' || code === 'ECONNREFUSED'
          ? 'no daemon is listening there'
          : (error as Error).message;
      throw new CorralError(
        'unavailable',
        `cannot reach the local daemon at ${path}: ${why}; start one with 'corral daemon' or point --socket at it`,
      );
    }
    // A daemon that goes away fails the call waiting on it, through the reader.
    socket.on('error', () => undefined);
    return new ControlConnection(socket, new FrameReader(socket, CONTROL_FRAME_BYTES));
  }

  call<R extends ControlRequest>(request: R): Promise<ControlResponse<R['op']>> {
    // `last` never rejects: a failed call does not stop the ones queued behind it.
    const answer = this.last.then(() => this.exchange(request));
    this.last = answer.catch(() => undefined);
    return answer;
  }

  /** Whether the connection can still carry requests. */
  get open(): boolean {
    return !this.socket.destroyed;
  }

  close(): void {
    this.reader.detach();
    this.socket.destroy();
  }

  private async exchange<R extends ControlRequest>(request: R): Promise<ControlResponse<R['op']>> {
    await writeFrame(this.socket, encodeFrame(request, CONTROL_FRAME_BYTES));
    const frame = await this.reader.next();
    if (frame === undefined) throw new CorralError('closed', 'the daemon closed the connection');
    const reply = decodeFrame(frame, replySchema, CONTROL_FRAME_BYTES);
    if (!reply.ok) throw new CorralError(reply.error.code, reply.error.message);
    const schema: z.ZodType = controlResponseSchemas[request.op];
    return checkShape(reply.body, schema) as ControlResponse<R['op']>;
  }
}
