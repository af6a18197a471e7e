import { type Pushable, pushable } from 'it-pushable';
import { untilAborted } from '../common/abort.js';
import type { Clock } from '../common/clock.js';
import { deadline } from '../common/deadline.js';
import { asCorralError, CorralError, type WireError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import { type CallerCheck, checkCallerThen, NO_CREDENTIALS, type RefusalLog } from './callers.js';
import type { ProtocolId, StreamProtocol } from './protocol.js';
import type { FrameStream, RequestOptions, StreamHandler } from './transport.js';

/** What the streams of the in-memory transport send over the simulated network. */
export type StreamPacket =
  | { readonly kind: 'stream-open'; readonly stream: number; readonly protocol: ProtocolId }
  /** The acceptor's answer to an open, as multistream-select's: it serves the protocol, or why not. */
  | { readonly kind: 'stream-opened'; readonly stream: number; readonly error?: WireError }
  | {
      readonly kind: 'stream-frame';
      readonly stream: number;
      readonly toOpener: boolean;
      readonly seq: number;
      readonly frame: Uint8Array;
    }
  /** `frames`: how many frames came before the end; absent for a reset, which breaks both sides. */
  | {
      readonly kind: 'stream-end';
      readonly stream: number;
      readonly toOpener: boolean;
      readonly frames?: number;
    };

/** What the streams need of the transport they belong to. */
export interface StreamLink {
  readonly self: NodeId;
  readonly clock: Clock;
  readonly check: CallerCheck;
  readonly refusals: RefusalLog;
  /** Aborts when the transport stops. */
  readonly stopping: AbortSignal;
  send(to: NodeId, packet: StreamPacket): void;
}

/** How long opening a stream may take unless the caller says otherwise, as on libp2p. */
const OPEN_TIMEOUT_MS = 10_000;

/** Which end of a stream: the node that opened it, or the one that accepted it. */
type StreamRole = 'opener' | 'acceptor';

/** One end of a stream: the peer's frames put back in order (the network may reorder them), and ours. */
interface Side {
  readonly peer: NodeId;
  readonly id: number;
  readonly role: StreamRole;
  readonly maxFrameBytes: number;
  readonly queue: Pushable<Uint8Array>;
  next: number;
  readonly held: Map<number, Uint8Array>;
  endAt?: number;
  readEnded: boolean;
  writeEnded: boolean;
  /** Set once the stream is broken; our sends fail with it. */
  broken?: CorralError;
}

interface Opening {
  readonly peer: NodeId;
  readonly resolve: () => void;
  readonly reject: (error: CorralError) => void;
}

/**
 * The streams of one in-memory transport, behaving as libp2p's do: opening waits for the peer to say it
 * serves the protocol, each side ends on its own, an abort or a frame over the cap breaks both sides, and a
 * peer that leaves breaks every stream with it. Frames travel as packets the transport sends as reliably as
 * a TCP connection would: reordered, never lost while the path holds.
 */
export class MemoryStreams {
  private readonly handlers = new Map<ProtocolId, { protocol: StreamProtocol; handler: StreamHandler }>();
  private readonly sides = new Map<string, Side>();
  private readonly opening = new Map<number, Opening>();
  private nextId = 0;

  constructor(private readonly link: StreamLink) {}

  handle(protocol: StreamProtocol, handler: StreamHandler): void {
    this.handlers.set(protocol.id, { protocol, handler });
  }

  async open(peer: NodeId, protocol: StreamProtocol, options: RequestOptions): Promise<FrameStream> {
    const timeoutMs = options.timeoutMs ?? OPEN_TIMEOUT_MS;
    const limit = deadline(timeoutMs, [this.link.stopping, options.signal], this.link.clock);
    const id = this.nextId++;
    let side: Side | undefined;
    try {
      limit.signal.throwIfAborted();
      side = this.addSide(peer, id, 'opener', protocol.maxFrameBytes);
      const opened = new Promise<void>((resolve, reject) => this.opening.set(id, { peer, resolve, reject }));
      this.link.send(peer, { kind: 'stream-open', stream: id, protocol: protocol.id });
      await untilAborted(opened, limit.signal);
      return this.frameStream(side);
    } catch (error) {
      // A late acceptance finds the stream reset.
      if (side !== undefined)
        this.breakSide(side, new CorralError('closed', 'the stream was not opened'), true);
      if (limit.expired())
        throw new CorralError('timeout', `${peer} did not open ${protocol.id} within ${timeoutMs} ms`);
      if (limit.signal.aborted) throw asCorralError(limit.signal.reason, 'aborted');
      throw error;
    } finally {
      this.opening.delete(id);
      limit.dispose();
    }
  }

  receive(from: NodeId, packet: StreamPacket): void {
    switch (packet.kind) {
      case 'stream-open':
        this.accept(from, packet.stream, packet.protocol);
        return;
      case 'stream-opened': {
        const opening = this.opening.get(packet.stream);
        if (opening === undefined || opening.peer !== from) return;
        if (packet.error === undefined) opening.resolve();
        else opening.reject(new CorralError(packet.error.code, packet.error.message));
        return;
      }
      case 'stream-frame': {
        const side = this.sides.get(sideKey(from, packet.toOpener ? 'opener' : 'acceptor', packet.stream));
        // A frame for a stream this side no longer has (it broke, or this node restarted) resets the
        // sender's, as TCP answers with RST: otherwise a stream whose reset a cut network lost would wait
        // for answers for ever.
        if (side === undefined) {
          this.link.send(from, { kind: 'stream-end', stream: packet.stream, toOpener: !packet.toOpener });
          return;
        }
        // A duplicate of a frame already delivered is dropped.
        if (packet.seq < side.next) return;
        if (packet.frame.byteLength > side.maxFrameBytes) {
          const refusal = new CorralError(
            'frame_too_large',
            `frame exceeds the ${side.maxFrameBytes}-byte limit`,
          );
          this.breakSide(side, refusal, true);
          return;
        }
        side.held.set(packet.seq, packet.frame);
        this.drain(side);
        return;
      }
      case 'stream-end': {
        const side = this.sides.get(sideKey(from, packet.toOpener ? 'opener' : 'acceptor', packet.stream));
        if (side === undefined) return;
        if (packet.frames === undefined)
          this.breakSide(side, new CorralError('closed', 'the stream was closed by the other side'), false);
        else {
          side.endAt = packet.frames;
          this.drain(side);
        }
        return;
      }
    }
  }

  /** The peer is gone, as a closed connection: its streams break and opening one to it fails. */
  peerLeft(peer: NodeId): void {
    const gone = new CorralError('closed', `the connection to ${peer} closed`);
    for (const side of [...this.sides.values()]) if (side.peer === peer) this.breakSide(side, gone, false);
    for (const opening of this.opening.values())
      if (opening.peer === peer)
        opening.reject(new CorralError('unreachable', `the connection to ${peer} closed`));
  }

  stop(): void {
    const stopped = new CorralError('closed', 'the transport stopped');
    for (const side of [...this.sides.values()]) this.breakSide(side, stopped, false);
  }

  private accept(from: NodeId, id: number, protocol: ProtocolId): void {
    // A duplicated open finds the stream there already.
    if (this.sides.has(sideKey(from, 'acceptor', id))) return;
    const served = this.handlers.get(protocol);
    if (served === undefined) {
      const error = {
        code: 'unknown_protocol',
        message: `${this.link.self} does not speak ${protocol}`,
      } as const;
      this.link.send(from, { kind: 'stream-opened', stream: id, error });
      return;
    }
    const side = this.addSide(from, id, 'acceptor', served.protocol.maxFrameBytes);
    this.link.send(from, { kind: 'stream-opened', stream: id });
    // As on libp2p, the caller is judged once the protocol is agreed: a refused opener sees its stream reset.
    checkCallerThen(
      this.link.check,
      this.link.refusals,
      protocol,
      served.protocol.callers,
      from,
      NO_CREDENTIALS,
      () => served.handler(this.frameStream(side), from),
      (refusal) => this.breakSide(side, refusal, true),
    );
  }

  private addSide(peer: NodeId, id: number, role: StreamRole, maxFrameBytes: number): Side {
    const side: Side = {
      peer,
      id,
      role,
      maxFrameBytes,
      queue: pushable<Uint8Array>(),
      next: 0,
      held: new Map(),
      readEnded: false,
      writeEnded: false,
    };
    this.sides.set(sideKey(peer, role, id), side);
    return side;
  }

  private frameStream(side: Side): FrameStream {
    const toOpener = side.role === 'acceptor';
    return {
      frames: side.queue,
      send: async (frames) => {
        let seq = 0;
        for await (const frame of frames) {
          if (side.broken !== undefined) throw side.broken;
          if (frame.byteLength > side.maxFrameBytes) {
            const refusal = new CorralError(
              'frame_too_large',
              `a frame of ${frame.byteLength} bytes exceeds the ${side.maxFrameBytes}-byte limit`,
            );
            this.breakSide(side, refusal, true);
            throw refusal;
          }
          this.link.send(side.peer, { kind: 'stream-frame', stream: side.id, toOpener, seq: seq++, frame });
        }
        if (side.broken !== undefined) throw side.broken;
        this.link.send(side.peer, { kind: 'stream-end', stream: side.id, toOpener, frames: seq });
        side.writeEnded = true;
        this.forgetWhenDone(side);
      },
      abort: (reason) => this.breakSide(side, asCorralError(reason), true),
    };
  }

  /** Delivers what is now in order; ends the peer's side once every frame before its end has come. */
  private drain(side: Side): void {
    for (let frame = side.held.get(side.next); frame !== undefined; frame = side.held.get(side.next)) {
      side.held.delete(side.next++);
      side.queue.push(frame);
    }
    if (side.endAt !== undefined && side.next >= side.endAt) {
      side.queue.end();
      side.readEnded = true;
      this.forgetWhenDone(side);
    }
  }

  /**
   * Breaks one side: our reader fails with `reason`, our sends from now on with closed, and, when this side
   * broke it, the peer's side is reset.
   */
  private breakSide(side: Side, reason: CorralError, resetPeer: boolean): void {
    const key = sideKey(side.peer, side.role, side.id);
    if (this.sides.get(key) !== side) return;
    this.sides.delete(key);
    side.broken = new CorralError('closed', 'the stream is closed');
    side.queue.end(reason);
    if (resetPeer)
      this.link.send(side.peer, { kind: 'stream-end', stream: side.id, toOpener: side.role === 'acceptor' });
  }

  private forgetWhenDone(side: Side): void {
    const key = sideKey(side.peer, side.role, side.id);
    if (side.readEnded && side.writeEnded && this.sides.get(key) === side) this.sides.delete(key);
  }
}

function sideKey(peer: NodeId, role: StreamRole, id: number): string {
  return `${peer} ${role} ${id}`;
}
