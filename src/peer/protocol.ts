import type { z } from 'zod';
import type { Callers } from './callers.js';

/** A versioned protocol ID: `/corral/<name>/<major>`. */
export type ProtocolId = `/corral/${string}/${number}`;

/** Frames larger than this are refused unless a protocol says otherwise. */
export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024;

const protocolName = /^[a-z][a-z0-9-]{0,47}$/;

export function protocolId(name: string, major: number): ProtocolId {
  if (!protocolName.test(name) || !Number.isInteger(major) || major < 1) {
    throw new RangeError(`bad protocol name or version: ${name}/${major}`);
  }
  return `/corral/${name}/${major}`;
}

interface ProtocolBase {
  readonly id: ProtocolId;
  /** Who may call it; the transport checks before the handler runs. */
  readonly callers: Callers;
  /** The largest frame this protocol accepts, in either direction. */
  readonly maxFrameBytes: number;
}

/** One request, one response, on a fresh stream. */
export interface RequestProtocol<Req, Res> extends ProtocolBase {
  readonly kind: 'request';
  readonly request: z.ZodType<Req>;
  readonly response: z.ZodType<Res>;
  /** How long a caller waits for the answer unless it says otherwise. */
  readonly timeoutMs: number;
}

/** One-way messages, kept in order on a long-lived stream per peer. */
export interface MessageProtocol<M> extends ProtocolBase {
  readonly kind: 'message';
  readonly message: z.ZodType<M>;
}

/**
 * A long-lived stream of frames in both directions between two nodes, for what is neither a request nor a
 * message: a session whose bytes flow as they come (an instance's serial console).
 */
export interface StreamProtocol extends ProtocolBase {
  readonly kind: 'stream';
}

/** A gossip topic; messages reach every subscriber that can be reached. */
export interface Topic<M> {
  readonly kind: 'topic';
  /** Whose messages reach the handlers: the signed author is checked, not the peer that relayed it. */
  readonly callers: Callers;
  readonly name: `corral/${string}/${number}`;
  readonly message: z.ZodType<M>;
  readonly maxFrameBytes: number;
}

export function requestProtocol<Req, Res>(spec: {
  name: string;
  major: number;
  callers: Callers;
  request: z.ZodType<Req>;
  response: z.ZodType<Res>;
  timeoutMs?: number;
  maxFrameBytes?: number;
}): RequestProtocol<Req, Res> {
  return {
    kind: 'request',
    id: protocolId(spec.name, spec.major),
    callers: spec.callers,
    request: spec.request,
    response: spec.response,
    timeoutMs: spec.timeoutMs ?? 10_000,
    maxFrameBytes: spec.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
  };
}

export function messageProtocol<M>(spec: {
  name: string;
  major: number;
  callers: Callers;
  message: z.ZodType<M>;
  maxFrameBytes?: number;
}): MessageProtocol<M> {
  return {
    kind: 'message',
    id: protocolId(spec.name, spec.major),
    callers: spec.callers,
    message: spec.message,
    maxFrameBytes: spec.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
  };
}

export function topic<M>(spec: {
  name: string;
  major: number;
  callers: Callers;
  message: z.ZodType<M>;
  maxFrameBytes?: number;
}): Topic<M> {
  protocolId(spec.name, spec.major);
  return {
    kind: 'topic',
    name: `corral/${spec.name}/${spec.major}`,
    callers: spec.callers,
    message: spec.message,
    maxFrameBytes: spec.maxFrameBytes ?? 64 * 1024,
  };
}

export function streamProtocol(spec: {
  name: string;
  major: number;
  callers: Callers;
  maxFrameBytes?: number;
}): StreamProtocol {
  return {
    kind: 'stream',
    id: protocolId(spec.name, spec.major),
    callers: spec.callers,
    maxFrameBytes: spec.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
  };
}
