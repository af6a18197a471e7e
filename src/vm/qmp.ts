import { createConnection, type Socket } from 'node:net';
import { CorralError, type ErrorCode } from '../common/errors.js';

/**
 * A client of QEMU's machine protocol (QMP) over a unix socket: JSON objects, one a line. It reads the
 * greeting, leaves capabilities negotiation mode, then sends commands tagged with ids (so that several may
 * be in flight) and hands the asynchronous events QEMU sends between answers (SHUTDOWN, RESET, MIGRATION, …)
 * to whoever waits for them. The human monitor is never used: its text is not an interface.
 */

export interface QmpEvent {
  readonly event: string;
  readonly data: Readonly<Record<string, unknown>>;
  /** QEMU's own wall-clock stamp of the event. */
  readonly timestampMs: number;
}

export interface QmpClient {
  /** Runs one command; resolves with its `return` value, rejects with a CorralError for a QMP error. */
  execute(command: string, args?: Readonly<Record<string, unknown>>, timeoutMs?: number): Promise<unknown>;
  /** The next event of that name (and whose data `matches`, when given) that arrives after this call. */
  nextEvent(
    name: string,
    timeoutMs: number,
    matches?: (data: Readonly<Record<string, unknown>>) => boolean,
  ): Promise<QmpEvent>;
  /** Resolves once the connection is closed, by either side. */
  readonly closed: Promise<void>;
  isClosed(): boolean;
  close(): void;
}

export interface QmpConnectOptions {
  /** For connecting, the greeting and the negotiation together. */
  readonly timeoutMs: number;
  /** For a command that is given no timeout of its own. */
  readonly commandTimeoutMs?: number;
}

/** QEMU's answers are small; a longer line means the peer is not QMP. */
export const qmpLineBytesMax = 1024 * 1024;
const defaultCommandTimeoutMs = 10_000;

/** QMP's error classes, as a Corral error code: what the caller can do about it. */
export function qmpErrorCode(errorClass: string): ErrorCode {
  switch (errorClass) {
    case 'DeviceNotFound':
      return 'not_found';
    case 'DeviceNotActive':
      return 'conflict';
    case 'KVMMissingCap':
      return 'unavailable';
    default:
      // GenericError and CommandNotFound: the command did not fit this QEMU, which is Corral's mistake.
      return 'internal';
  }
}

interface Pending {
  readonly command: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: CorralError) => void;
  readonly timer: NodeJS.Timeout;
}

interface EventWaiter {
  readonly name: string;
  readonly matches?: ((data: Readonly<Record<string, unknown>>) => boolean) | undefined;
  readonly resolve: (event: QmpEvent) => void;
  readonly reject: (error: CorralError) => void;
  readonly timer: NodeJS.Timeout;
}

type Message = Record<string, unknown>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function toEvent(message: Message): QmpEvent {
  const stamp = isRecord(message.timestamp) ? message.timestamp : {};
  const seconds = typeof stamp.seconds === 'number' ? stamp.seconds : 0;
  const micros = typeof stamp.microseconds === 'number' ? stamp.microseconds : 0;
  return {
    event: String(message.event),
    data: isRecord(message.data) ? message.data : {},
    timestampMs: seconds * 1000 + Math.floor(micros / 1000),
  };
}

export async function connectQmp(path: string, options: QmpConnectOptions): Promise<QmpClient> {
  const socket = createConnection({ path });
  const client = new Connection(socket, path, options.commandTimeoutMs ?? defaultCommandTimeoutMs);
  const timer = setTimeout(
    () =>
      client.fail(new CorralError('timeout', `QMP at ${path} did not answer within ${options.timeoutMs} ms`)),
    options.timeoutMs,
  );
  try {
    await client.greeted;
    await client.execute('qmp_capabilities', {}, options.timeoutMs);
    return client;
  } catch (error) {
    client.close();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

class Connection implements QmpClient {
  readonly greeted: Promise<void>;
  readonly closed: Promise<void>;
  private readonly pending = new Map<number, Pending>();
  private readonly waiters = new Set<EventWaiter>();
  private nextId = 1;
  private buffered = '';
  private failure: CorralError | undefined;
  private onGreeting: { resolve: () => void; reject: (error: CorralError) => void } | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly path: string,
    private readonly commandTimeoutMs: number,
  ) {
    this.greeted = new Promise((resolve, reject) => {
      this.onGreeting = { resolve, reject };
    });
    // A failed connect rejects `greeted`; nobody else may be listening yet.
    this.greeted.catch(() => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.receive(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const refused = error.code === 'ENOENT' || error.code === 'ECONNREFUSED';
      this.fail(
        new CorralError(
          'unavailable',
          refused
            ? `QMP socket ${path} accepts no connection (${error.code}): is QEMU running?`
            : `QMP connection to ${path} failed: ${error.message}`,
          { cause: error },
        ),
      );
    });
    socket.on('close', () =>
      this.fail(new CorralError('unavailable', `QMP connection to ${path} closed (QEMU exited?)`)),
    );
  }

  execute(
    command: string,
    args: Readonly<Record<string, unknown>> = {},
    timeoutMs?: number,
  ): Promise<unknown> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    const limitMs = timeoutMs ?? this.commandTimeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // A late answer finds no entry and is dropped.
        this.pending.delete(id);
        reject(
          new CorralError('timeout', `QMP ${command} at ${this.path} got no answer within ${limitMs} ms`),
        );
      }, limitMs);
      this.pending.set(id, { command, resolve, reject, timer });
      this.socket.write(`${JSON.stringify({ execute: command, arguments: args, id })}\n`);
    });
  }

  nextEvent(
    name: string,
    timeoutMs: number,
    matches?: (data: Readonly<Record<string, unknown>>) => boolean,
  ): Promise<QmpEvent> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const waiter: EventWaiter = {
        name,
        matches,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(
            new CorralError('timeout', `QEMU at ${this.path} sent no ${name} event within ${timeoutMs} ms`),
          );
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  isClosed(): boolean {
    return this.failure !== undefined;
  }

  close(): void {
    this.fail(new CorralError('closed', `QMP connection to ${this.path} was closed by Corral`));
  }

  /** Ends the connection: everything still waiting is rejected with the reason. */
  fail(reason: CorralError): void {
    if (this.failure !== undefined) return;
    this.failure = reason;
    this.socket.destroy();
    this.onGreeting?.reject(reason);
    for (const entry of this.pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(reason);
    }
    this.pending.clear();
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(reason);
    }
    this.waiters.clear();
  }

  private receive(chunk: string): void {
    this.buffered += chunk;
    for (;;) {
      const end = this.buffered.indexOf('\n');
      if (end < 0) break;
      const line = this.buffered.slice(0, end).trim();
      this.buffered = this.buffered.slice(end + 1);
      if (line !== '') this.handleLine(line);
      if (this.failure !== undefined) return;
    }
    if (this.buffered.length > qmpLineBytesMax) {
      this.fail(
        new CorralError('frame_too_large', `QMP at ${this.path} sent a line over ${qmpLineBytesMax} bytes`),
      );
    }
  }

  private handleLine(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      this.fail(
        new CorralError(
          'bad_frame',
          `QMP at ${this.path} sent a line that is not JSON: ${line.slice(0, 80)}`,
        ),
      );
      return;
    }
    if (!isRecord(message)) {
      this.fail(new CorralError('bad_frame', `QMP at ${this.path} sent a message that is not an object`));
      return;
    }
    if ('QMP' in message) {
      this.onGreeting?.resolve();
      this.onGreeting = undefined;
    } else if ('event' in message) {
      this.handleEvent(toEvent(message));
    } else if ('return' in message || 'error' in message) {
      this.handleAnswer(message);
    }
  }

  private handleEvent(event: QmpEvent): void {
    for (const waiter of this.waiters) {
      if (waiter.name !== event.event || waiter.matches?.(event.data) === false) continue;
      clearTimeout(waiter.timer);
      this.waiters.delete(waiter);
      waiter.resolve(event);
    }
  }

  private handleAnswer(message: Message): void {
    const id = typeof message.id === 'number' ? message.id : undefined;
    const entry = id === undefined ? undefined : this.pending.get(id);
    if (id === undefined || entry === undefined) return;
    this.pending.delete(id);
    clearTimeout(entry.timer);
    if ('return' in message) {
      entry.resolve(message.return);
      return;
    }
    const error = isRecord(message.error) ? message.error : {};
    const errorClass = typeof error.class === 'string' ? error.class : 'GenericError';
    const desc = typeof error.desc === 'string' ? error.desc : 'no description';
    entry.reject(
      new CorralError(qmpErrorCode(errorClass), `QMP ${entry.command} failed (${errorClass}): ${desc}`),
    );
  }
}
