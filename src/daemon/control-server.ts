import { rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { asCorralError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { decodeFrame, encodeFrame } from '../peer/codec.js';
import type { Reply } from '../peer/envelope.js';
import { readOneFrame, writeFrame } from '../peer/socket-framing.js';
import { CONTROL_FRAME_BYTES, type ControlRequest, controlRequestSchema } from './control-protocol.js';

export type ControlHandler = (request: ControlRequest) => Promise<unknown>;

/**
 * The daemon's local endpoint for the CLI: one request and one reply per connection, on a unix socket only
 * root can open (mode 0600), so local access is the authority, as with Ganeti's master socket.
 */
export async function serveControl(path: string, handler: ControlHandler, log: Logger): Promise<Server> {
  // A socket file left by a daemon that was killed would make listen fail.
  await rm(path, { force: true });
  const server = createServer((socket) => void answer(socket, handler, log));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path, readableAll: false, writableAll: false }, () => resolve());
  });
  server.on('error', (error) => log.error({ err: error }, 'control socket failed'));
  return server;
}

async function answer(socket: Socket, handler: ControlHandler, log: Logger): Promise<void> {
  socket.on('error', () => undefined);
  let reply: Reply;
  try {
    const request = decodeFrame(
      await readOneFrame(socket, CONTROL_FRAME_BYTES),
      controlRequestSchema,
      CONTROL_FRAME_BYTES,
    );
    reply = { ok: true, body: await handler(request) };
  } catch (error) {
    const failure = asCorralError(error);
    if (failure.code === 'internal') log.error({ err: error }, 'control request failed');
    reply = { ok: false, error: failure.toWire() };
  }
  try {
    await writeFrame(socket, encodeFrame(reply, CONTROL_FRAME_BYTES));
  } catch (error) {
    log.debug({ reason: (error as Error).message }, 'control client went away');
  }
  socket.end();
}
