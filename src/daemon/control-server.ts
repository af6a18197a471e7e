import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { asCorralError, CorralError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { decodeFrame, encodeFrame } from '../peer/codec.js';
import type { Reply } from '../peer/envelope.js';
import { FrameReader, writeFrame } from '../peer/socket-framing.js';
import { type ControlRequest, controlRequestSchema } from './control-protocol.js';
import { CONTROL_FRAME_BYTES, type ControlResponse } from './control-replies.js';

type ControlOp = ControlRequest['op'];

/**
 * The daemon's answer to each control request, one handler per op: as with the master's opcode table, a
 * missing handler, or one that takes or gives the wrong shape, does not compile.
 */
export type ControlHandlers = {
  readonly [Op in ControlOp]: (request: Extract<ControlRequest, { op: Op }>) => Promise<ControlResponse<Op>>;
};

/**
 * How long a client has to send its whole request. The CLI sends it at once; only the answer may take long
 * (job-wait holds it up to a minute, a join or a console for as long as they take), and that wait is not
 * limited.
 */
export const CONTROL_REQUEST_TIMEOUT_MS = 5_000;
/**
 * A connection may carry one request after another (a job's submission and its watch, a tool's many calls):
 * after an answer, the next request may take this long to come before the connection is closed.
 */
export const CONTROL_KEEP_ALIVE_MS = 60_000;
/**
 * Connections served at once. Each CLI command holds one while it waits for its answer, so this is how many
 * commands (job watches, joins) may wait together; one more is answered at once that the daemon is busy.
 */
export const MAX_CONTROL_CONNECTIONS = 128;
/** A connection refused for the cap is answered and closed; the client has this long to read the answer. */
const REFUSED_LINGER_MS = 1_000;
/** Dropped connections are logged once per reason per window, with how many were dropped meanwhile. */
const DROP_LOG_WINDOW_MS = 60_000;

/**
 * The daemon's local endpoint for the CLI: requests are answered one at a time on each connection, on a unix
 * socket only its owner can open (mode 0600, whatever the umask), so local root is the authority, as with
 * Ganeti's master socket.
 */
export async function serveControl(path: string, handlers: ControlHandlers, log: Logger): Promise<Server> {
  // A socket file left by a daemon that was killed would make listen fail.
  await rm(path, { force: true });
  const drops = dropLog(log);
  let open = 0;
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    if (open >= MAX_CONTROL_CONNECTIONS) {
      drops('busy', `refused control connections: ${MAX_CONTROL_CONNECTIONS} were open`);
      refuse(socket);
      return;
    }
    open++;
    socket.once('close', () => open--);
    void answer(socket, handlers, log, () =>
      drops(
        'idle',
        `dropped control connections that sent no whole request in ${CONTROL_REQUEST_TIMEOUT_MS} ms`,
      ),
    );
  });
  await listenPrivately(server, path);
  server.on('error', (error) => log.error({ err: error }, 'control socket failed'));
  return server;
}

/**
 * Binds under umask 077, so that the socket is never open to others, not even for an instant, then sets 0600
 * outright. (listen's readableAll and writableAll only ever widen the mode; without them it follows the umask.)
 * The bind happens within listen() itself, so the umask is back before anything else runs.
 */
async function listenPrivately(server: Server, path: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const umask = process.umask(0o077);
    try {
      server.listen({ path }, () => resolve());
    } finally {
      process.umask(umask);
    }
  });
  await chmod(path, 0o600);
}

/** Answers the connection's requests one after another until the client closes it or falls silent. */
async function answer(
  socket: Socket,
  handlers: ControlHandlers,
  log: Logger,
  onIdle: () => void,
): Promise<void> {
  const reader = new FrameReader(socket, CONTROL_FRAME_BYTES);
  try {
    for (let first = true; ; first = false) {
      let request: ControlRequest | undefined;
      let reply: Reply;
      try {
        request = await readRequest(reader, socket, first ? onIdle : undefined);
        if (request === undefined) return;
        reply = { ok: true, body: await dispatch(handlers, request) };
      } catch (error) {
        // Dropped for idling, or the client went away: there is no one to answer.
        if (socket.destroyed) return;
        const failure = asCorralError(error);
        if (failure.code === 'internal') log.error({ err: error }, 'control request failed');
        reply = { ok: false, error: failure.toWire() };
      }
      try {
        await writeFrame(socket, encodeFrame(reply, CONTROL_FRAME_BYTES));
      } catch (error) {
        log.debug({ reason: (error as Error).message }, 'control client went away');
        return;
      }
      // A request that could not be read leaves nothing sure about where the next one starts.
      if (request === undefined) return;
    }
  } finally {
    reader.detach();
    socket.end();
  }
}

/** TypeScript cannot pair a request with its own op's handler in a table lookup; the table's type does. */
function dispatch(handlers: ControlHandlers, request: ControlRequest): Promise<unknown> {
  const handler = handlers[request.op] as (request: ControlRequest) => Promise<unknown>;
  return handler(request);
}

/**
 * The next request, or undefined once the client has closed the connection. The connection is destroyed (and
 * so the read fails) once the client has had its time: CONTROL_REQUEST_TIMEOUT_MS for its first request, which
 * `onIdle` reports, CONTROL_KEEP_ALIVE_MS for each one after.
 */
async function readRequest(
  reader: FrameReader,
  socket: Socket,
  onIdle: (() => void) | undefined,
): Promise<ControlRequest | undefined> {
  const timeoutMs = onIdle === undefined ? CONTROL_KEEP_ALIVE_MS : CONTROL_REQUEST_TIMEOUT_MS;
  const timer = setTimeout(() => {
    onIdle?.();
    socket.destroy(new CorralError('timeout', `no whole request within ${timeoutMs} ms`));
  }, timeoutMs);
  try {
    const frame = await reader.next();
    return frame === undefined ? undefined : decodeFrame(frame, controlRequestSchema, CONTROL_FRAME_BYTES);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Answers at once that the daemon is busy, without reading the request. The socket stays open a moment for
 * the client to send its request and read the answer (closing at once would fail its write instead).
 */
function refuse(socket: Socket): void {
  const busy = new CorralError(
    'unavailable',
    `the daemon is already serving ${MAX_CONTROL_CONNECTIONS} control connections; try again when some have finished`,
  );
  socket.resume();
  writeFrame(socket, encodeFrame({ ok: false, error: busy.toWire() }, CONTROL_FRAME_BYTES)).then(
    () => socket.end(),
    () => socket.destroy(),
  );
  setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
}

/** Logs each reason the first time, then at most once per window with the number dropped since. */
function dropLog(log: Logger): (reason: string, message: string) => void {
  const seen = new Map<string, { sinceMs: number; held: number }>();
  return (reason, message) => {
    const nowMs = performance.now();
    const entry = seen.get(reason);
    if (entry !== undefined && nowMs - entry.sinceMs < DROP_LOG_WINDOW_MS) {
      entry.held++;
      return;
    }
    log.warn({ reason, count: (entry?.held ?? 0) + 1 }, message);
    seen.set(reason, { sinceMs: nowMs, held: 0 });
  };
}
