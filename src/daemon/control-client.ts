import { connect } from 'node:net';
import { join } from 'node:path';
import type { z } from 'zod';
import { CorralError } from '../common/errors.js';
import { checkShape, decodeFrame, encodeFrame } from '../peer/codec.js';
import { replySchema } from '../peer/envelope.js';
import { readOneFrame, writeFrame } from '../peer/socket-framing.js';
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
  try {
    await writeFrame(socket, encodeFrame(request, CONTROL_FRAME_BYTES));
    const reply = decodeFrame(
      await readOneFrame(socket, CONTROL_FRAME_BYTES),
      replySchema,
      CONTROL_FRAME_BYTES,
    );
    if (!reply.ok) throw new CorralError(reply.error.code, reply.error.message);
    const schema: z.ZodType = controlResponseSchemas[request.op];
    return checkShape(reply.body, schema) as ControlResponse<R['op']>;
  } finally {
    socket.destroy();
  }
}
