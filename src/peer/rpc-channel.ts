import type { Stream } from '@libp2p/interface';
import { decode as decodeLengthPrefixed } from 'it-length-prefixed';
import { pipe } from 'it-pipe';
import { type Pushable, pushable } from 'it-pushable';
import { z } from 'zod';
import { CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import { type Credentials, credentialsSchema, NO_CREDENTIALS } from './callers.js';
import { bytesSchema, decodeFrame, encodeFrame } from './codec.js';
import { encodeError } from './envelope.js';
import { lengthPrefixedBatches } from './frame-batches.js';
import { protocolId } from './protocol.js';
import { streamError } from './stream-errors.js';

/**
 * Requests travel multiplexed on one long-lived stream per peer pair (opened by the caller), rather than a
 * stream each: a new stream costs a muxer handshake and a protocol negotiation, which dominated round trips.
 * Each frame names the request's own protocol ID, so handlers stay per protocol and the body keeps its cap.
 */
export const RPC_PROTOCOL = protocolId('rpc', 1);
/** Room for the frame header around a body, credentials included. */
export const RPC_HEADER_BYTES = 1024;

export const rpcFrameSchema = z.discriminatedUnion('t', [
  z.object({
    t: z.literal('q'),
    i: z.number().int().nonnegative(),
    p: z.string().max(128),
    /** The caller's credentials, judged against the protocol's callers before its handler runs. */
    c: credentialsSchema.optional(),
    b: bytesSchema,
  }),
  z.object({ t: z.literal('r'), i: z.number().int().nonnegative(), b: bytesSchema }),
]);
export type RpcFrame = z.infer<typeof rpcFrameSchema>;

interface PendingCall {
  readonly resolve: (reply: Uint8Array) => void;
  readonly reject: (error: CorralError) => void;
}

/** Both ends of a channel write frames through a bounded queue that ends when the stream does. */
function frameWriter(stream: Stream, onEnd: (error?: Error) => void): Pushable<Uint8Array> {
  const queue = pushable<Uint8Array>();
  void stream.sink(lengthPrefixedBatches(queue)).then(
    () => onEnd(),
    (error: Error) => onEnd(error),
  );
  return queue;
}

/** The caller's side of a channel to one peer: sends requests, matches replies to them by ID. */
export class RpcClientChannel {
  private readonly pending = new Map<number, PendingCall>();
  private readonly writer: Pushable<Uint8Array>;
  private nextId = 0;
  private closedWith: CorralError | undefined;

  constructor(
    readonly peer: NodeId,
    private readonly stream: Stream,
    private readonly maxFrameBytes: number,
    private readonly maxPending: number,
    private readonly onClosed: () => void,
  ) {
    this.writer = frameWriter(stream, (error) => this.close(error));
    void pipe(
      stream.source,
      (source) => decodeLengthPrefixed(source, { maxDataLength: maxFrameBytes + RPC_HEADER_BYTES }),
      async (frames) => {
        for await (const frame of frames) {
          const decoded = decodeFrame(frame.subarray(), rpcFrameSchema, maxFrameBytes + RPC_HEADER_BYTES);
          if (decoded.t !== 'r')
            throw new CorralError('bad_frame', 'a request frame arrived on the caller side');
          const call = this.pending.get(decoded.i);
          this.pending.delete(decoded.i);
          call?.resolve(decoded.b);
        }
      },
    ).then(
      () => this.close(),
      (error: unknown) => this.close(error),
    );
  }

  /** Sends one request body; resolves to the encoded reply. The caller owns the deadline and calls cancel. */
  call(
    protocol: string,
    body: Uint8Array,
    credentials: Credentials | undefined,
  ): { reply: Promise<Uint8Array>; cancel: () => void } {
    const id = this.nextId++;
    const reply = new Promise<Uint8Array>((resolve, reject) => {
      if (this.closedWith) return reject(this.closedWith);
      if (this.pending.size >= this.maxPending) {
        return reject(
          new CorralError('unavailable', `${this.maxPending} requests already in flight to ${this.peer}`),
        );
      }
      this.pending.set(id, { resolve, reject });
      this.writer.push(
        encodeFrame(
          { t: 'q', i: id, p: protocol, ...(credentials !== undefined && { c: credentials }), b: body },
          this.maxFrameBytes + RPC_HEADER_BYTES,
        ),
      );
    });
    return { reply, cancel: () => this.pending.delete(id) };
  }

  close(error?: unknown): void {
    if (this.closedWith) return;
    const reason = error === undefined ? undefined : streamError(error, this.maxFrameBytes);
    this.closedWith = new CorralError(
      'unreachable',
      `the connection to ${this.peer} closed${reason ? `: ${reason.message}` : ''}`,
    );
    for (const call of this.pending.values()) call.reject(this.closedWith);
    this.pending.clear();
    this.writer.end();
    if (error !== undefined) this.stream.abort(reason ?? new Error('closed'));
    else void this.stream.close().catch(() => undefined);
    this.onClosed();
  }
}

/** Answers one request; resolves to the encoded reply envelope, capped by its protocol (never rejects). */
export type ServeRequest = (
  protocol: string,
  body: Uint8Array,
  from: NodeId,
  credentials: Credentials,
  signal: AbortSignal,
) => Promise<Uint8Array>;

/** The answering side of a channel: runs up to maxInFlight requests at once and writes replies as they finish. */
export function serveRpcChannel(
  from: NodeId,
  stream: Stream,
  options: { maxFrameBytes: number; maxInFlight: number; stopping: AbortSignal; log: Logger },
  serve: ServeRequest,
): void {
  const { maxFrameBytes, log } = options;
  const channel = new AbortController();
  const onStop = () => channel.abort(new CorralError('closed', 'the transport is stopping'));
  options.stopping.addEventListener('abort', onStop, { once: true });
  const writer = frameWriter(stream, () => channel.abort(new CorralError('closed', 'channel closed')));
  let inFlight = 0;
  const reply = (id: number, body: Uint8Array) => {
    if (channel.signal.aborted) return;
    writer.push(encodeFrame({ t: 'r', i: id, b: body }, maxFrameBytes + RPC_HEADER_BYTES));
  };
  void pipe(
    stream.source,
    (source) => decodeLengthPrefixed(source, { maxDataLength: maxFrameBytes + RPC_HEADER_BYTES }),
    async (frames) => {
      for await (const frame of frames) {
        const request = decodeFrame(frame.subarray(), rpcFrameSchema, maxFrameBytes + RPC_HEADER_BYTES);
        if (request.t !== 'q')
          throw new CorralError('bad_frame', 'a reply frame arrived on the answering side');
        if (inFlight >= options.maxInFlight) {
          const busy = { code: 'unavailable', message: `busy: ${inFlight} requests in flight` } as const;
          reply(request.i, encodeError(busy));
          continue;
        }
        inFlight++;
        void serve(request.p, request.b, from, request.c ?? NO_CREDENTIALS, channel.signal).then((answer) => {
          inFlight--;
          reply(request.i, answer);
        });
      }
    },
  )
    .catch((error: unknown) => {
      const reason = streamError(error, maxFrameBytes);
      if (reason.code !== 'closed') {
        log.warn({ peer: from, code: reason.code, reason: reason.message }, 'closed an rpc channel');
      }
      stream.abort(reason);
    })
    .finally(() => {
      writer.end();
      channel.abort(new CorralError('closed', 'channel closed'));
      options.stopping.removeEventListener('abort', onStop);
    });
}
