import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import { createConnection, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { hypervisors } from '../cluster/hypervisors.js';
import { asCorralError, CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import { decodeFrame, encodeFrame } from '../peer/codec.js';
import { streamProtocol } from '../peer/protocol.js';
import type { FrameStream, Transport } from '../peer/transport.js';

/**
 * `instance console` from any node: the local daemon opens a one-time unix socket for the CLI and joins it,
 * over a libp2p stream, to the instance's serial console socket on its primary node (where Ganeti would ssh).
 */

const FRAME_BYTES_MAX = 64 * 1024;
/** Console output and keystrokes, in frames well under the cap. */
const CHUNK_BYTES = 16 * 1024;
/** A bridge socket nobody connects to is removed after this. */
const UNUSED_BRIDGE_MS = 30_000;

/** Any member may attach: `instance console` on any node reaches the primary through its own daemon. */
export const consoleStream = streamProtocol({
  name: 'console',
  major: 1,
  callers: 'member',
  maxFrameBytes: FRAME_BYTES_MAX,
});

/** The first frame of a console stream: whose console. */
const consoleOpenSchema = z.object({
  instance: z.string().min(1).max(253),
  hypervisor: z.enum(hypervisors),
});
export type ConsoleOpen = z.infer<typeof consoleOpenSchema>;

async function* socketChunks(socket: Socket): AsyncGenerator<Uint8Array> {
  for await (const data of socket) {
    const bytes = data as Buffer;
    for (let at = 0; at < bytes.byteLength; at += CHUNK_BYTES) yield bytes.subarray(at, at + CHUNK_BYTES);
  }
}

/** Carries the socket's bytes out as frames and the incoming frames into the socket, until both sides end. */
async function joinSocket(
  socket: Socket,
  incoming: AsyncIterable<Uint8Array>,
  send: (frames: AsyncIterable<Uint8Array>) => Promise<void>,
  prefix: readonly Uint8Array[] = [],
): Promise<void> {
  const outgoing = async function* () {
    yield* prefix;
    yield* socketChunks(socket);
  };
  const sending = send(outgoing()).catch(() => socket.destroy());
  try {
    for await (const frame of incoming) if (!socket.write(frame)) await once(socket, 'drain');
  } finally {
    socket.end();
  }
  await sending;
}

/** Serves console streams on this node: each one joined to the console socket `consolePath` names. */
export function serveConsoles(
  transport: Pick<Transport, 'handleStream'>,
  options: {
    readonly consolePath: (open: ConsoleOpen) => string;
    readonly log: Logger;
  },
): void {
  transport.handleStream(consoleStream, (stream, from) => {
    void serveOne(stream, from).catch((error: unknown) => {
      const reason = asCorralError(error);
      options.log.warn({ peer: from, code: reason.code, reason: reason.message }, 'closed a console stream');
      stream.abort(reason);
    });
  });

  async function serveOne(stream: FrameStream, from: NodeId): Promise<void> {
    const frames = stream.frames[Symbol.asyncIterator]();
    const first = await frames.next();
    if (first.done) return;
    const open = decodeFrame(first.value, consoleOpenSchema, FRAME_BYTES_MAX);
    const socket = createConnection({ path: options.consolePath(open) });
    await once(socket, 'connect');
    options.log.info({ peer: from, instance: open.instance }, 'console attached from another node');
    await joinSocket(socket, { [Symbol.asyncIterator]: () => frames }, (out) => stream.send(out));
  }
}

/**
 * Opens a one-time unix socket under `dir` whose first client is joined to the console of `open` on `peer`;
 * resolves with the socket's path. The socket goes away once used, or unused after a while.
 */
export async function forwardConsole(options: {
  readonly transport: Pick<Transport, 'openStream'>;
  readonly peer: NodeId;
  readonly open: ConsoleOpen;
  readonly dir: string;
  readonly log: Logger;
}): Promise<string> {
  // A directory only this user reaches: the socket is a way into the guest.
  await mkdir(options.dir, { recursive: true, mode: 0o700 });
  const path = join(options.dir, `console-${randomBytes(6).toString('hex')}.sock`);
  const server = createServer();
  const retire = () => {
    clearTimeout(unused);
    server.close();
    void rm(path, { force: true });
  };
  const unused = setTimeout(retire, UNUSED_BRIDGE_MS);
  server.once('connection', (socket) => {
    retire();
    void (async () => {
      const stream = await options.transport.openStream(options.peer, consoleStream);
      await joinSocket(socket, stream.frames, (out) => stream.send(out), [
        encodeFrame(options.open, FRAME_BYTES_MAX),
      ]);
    })().catch((error: unknown) => {
      const reason = asCorralError(error);
      options.log.warn(
        { peer: options.peer, instance: options.open.instance, reason: reason.message },
        'console forwarding ended',
      );
      socket.destroy();
    });
  });
  server.listen(path);
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([error]) => {
      retire();
      throw new CorralError(
        'unavailable',
        `cannot open a console socket at ${path}: ${(error as Error).message}`,
      );
    }),
  ]);
  return path;
}
