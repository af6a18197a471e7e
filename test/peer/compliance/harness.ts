import { z } from 'zod';
import type { CorralError } from '../../../src/common/errors.js';
import type { LogFields, Logger } from '../../../src/common/log.js';
import type { CallerCheck } from '../../../src/peer/callers.js';
import { messageProtocol, requestProtocol, streamProtocol, topic } from '../../../src/peer/protocol.js';
import type { Transport } from '../../../src/peer/transport.js';

/** Transports under test, each connected to every other. */
export interface TransportCluster {
  readonly nodes: readonly Transport[];
  /** Starts one more node with the same check and log, connected to none yet. */
  join(): Promise<Transport>;
  /**
   * Lets time pass, real or simulated, until `check` returns a value, and returns it; fails when that does
   * not happen within a limit far above what any case needs.
   */
  until<T>(check: () => T | undefined, what: string): Promise<T>;
  /** Stops every node it started; a node a case stopped already may be stopped again. */
  stop(): Promise<void>;
}

/** The nodes of a cluster of two or three, by position: a, b and c in the cases. */
export type Pair = [Transport, Transport];
export type Trio = [Transport, Transport, Transport];

export interface ClusterSetup {
  readonly size: number;
  /** Every node's caller check. */
  readonly check: CallerCheck;
  /** Where every node logs. */
  readonly log: Logger;
}

export type TransportFactory = (setup: ClusterSetup) => Promise<TransportCluster>;

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: LogFields;
}

/** What a section of the suite gets: a way to start a cluster, and what its nodes logged. */
export interface Harness {
  start(size: number, check?: CallerCheck): Promise<TransportCluster>;
  readonly lines: LogLine[];
}

export function recordingLog(lines: LogLine[], base: LogFields = {}): Logger {
  const line = (level: LogLine['level']) => (fields: LogFields, message: string) =>
    lines.push({ level, message, fields: { ...base, ...fields } });
  return {
    debug: line('debug'),
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
    child: (fields) => recordingLog(lines, { ...base, ...fields }),
  };
}

/** How a call ended, once time has let it end. */
export async function outcome<T>(
  cluster: TransportCluster,
  call: Promise<T>,
): Promise<{ value?: T; error?: CorralError }> {
  let ended: { value?: T; error?: CorralError } | undefined;
  call.then(
    (value) => {
      ended = { value };
    },
    (error: CorralError) => {
      ended = { error };
    },
  );
  return cluster.until(() => ended, 'the call to end');
}

/** The error a call ends with; fails the case when it succeeds. */
export async function failure(cluster: TransportCluster, call: Promise<unknown>): Promise<CorralError> {
  const ended = await outcome(cluster, call);
  if (ended.error === undefined)
    throw new Error(`expected a failure, got ${JSON.stringify(ended.value)?.slice(0, 200)}`);
  return ended.error;
}

/** How the frames of one side of a stream ended: what came, and the error if they failed. */
export async function drain(
  cluster: TransportCluster,
  frames: AsyncIterable<Uint8Array>,
): Promise<{ frames: string[]; error?: CorralError }> {
  const heard: string[] = [];
  const reading = (async () => {
    for await (const frame of frames) heard.push(new TextDecoder().decode(frame));
  })();
  const ended = await outcome(cluster, reading);
  return { frames: heard, ...(ended.error !== undefined && { error: ended.error }) };
}

export function text(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}

export async function* framesOf(...values: readonly (string | Uint8Array)[]): AsyncGenerator<Uint8Array> {
  for (const value of values) yield typeof value === 'string' ? text(value) : value;
}

/** A node's answer to echo: what it was sent, and whom the transport said it came from. */
const echoed = z.strictObject({ text: z.string(), from: z.string() });

/** The protocols of the suite; the loose and wide forms share their IDs, as a peer of another version would. */
export const echo = requestProtocol({
  name: 'compliance-echo',
  major: 1,
  callers: 'member',
  request: z.strictObject({ text: z.string() }),
  response: echoed,
  timeoutMs: 5_000,
  maxFrameBytes: 1024,
});

/** The same protocol on a peer that allows bigger frames. */
export const wideEcho = { ...echo, maxFrameBytes: 64 * 1024 };

/** The same protocol on a peer that sends and accepts anything where `text` is. */
export const looseEcho = requestProtocol({
  name: 'compliance-echo',
  major: 1,
  callers: 'member',
  request: z.strictObject({ text: z.unknown() }),
  response: z.strictObject({ text: z.unknown(), from: z.string() }),
  timeoutMs: 5_000,
  maxFrameBytes: 1024,
});

/** Only the master may call it: the check judges the term in the caller's credentials. */
export const masterEcho = { ...echo, id: '/corral/compliance-master/1', callers: 'master' } as const;

export const note = messageProtocol({
  name: 'compliance-note',
  major: 1,
  callers: 'member',
  message: z.strictObject({ seq: z.number().int() }),
  maxFrameBytes: 1024,
});

export const looseNote = messageProtocol({
  name: 'compliance-note',
  major: 1,
  callers: 'member',
  message: z.strictObject({ seq: z.unknown() }),
  maxFrameBytes: 1024,
});

export const wideNote = { ...looseNote, maxFrameBytes: 64 * 1024 };

export const shout = streamProtocol({
  name: 'compliance-shout',
  major: 1,
  callers: 'member',
  maxFrameBytes: 1024,
});

export const wideShout = { ...shout, maxFrameBytes: 64 * 1024 };

export const news = topic({
  name: 'compliance-news',
  major: 1,
  callers: 'member',
  message: z.strictObject({ headline: z.string() }),
  maxFrameBytes: 1024,
});

export const looseNews = topic({
  name: 'compliance-news',
  major: 1,
  callers: 'member',
  message: z.strictObject({ headline: z.unknown() }),
  maxFrameBytes: 1024,
});

export const sports = topic({
  name: 'compliance-sports',
  major: 1,
  callers: 'member',
  message: z.strictObject({ headline: z.string() }),
  maxFrameBytes: 1024,
});

/** A handler for echo that answers at once, naming the caller. */
export function echoBack(transport: Transport): void {
  transport.handle(echo, async ({ text }, { from }) => ({ text, from }));
}
