import { type Pushable, pushable } from 'it-pushable';
import { z } from 'zod';
import type { Timer } from '../common/clock.js';
import { CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import { silentLogger } from '../common/log.js';
import {
  type CallerCheck,
  type Callers,
  type Credentials,
  checkCallerThen,
  NO_CREDENTIALS,
  RefusalLog,
} from './callers.js';
import { checkShape, decodeFrame, encodeFrame } from './codec.js';
import { type Reply, replySchema } from './envelope.js';
import {
  type MessageProtocol,
  type ProtocolId,
  type RequestProtocol,
  requestProtocol,
  type StreamProtocol,
  type Topic,
} from './protocol.js';
import type { SimNetwork } from './sim-network.js';
import type {
  FrameStream,
  MessageHandler,
  PeerEvent,
  RequestHandler,
  RequestOptions,
  StreamHandler,
  Transport,
} from './transport.js';

/** What crosses the simulated network: frames are real CBOR bytes, capped as on the wire. */
export type Packet =
  | {
      readonly kind: 'request';
      readonly id: number;
      readonly protocol: ProtocolId;
      readonly credentials?: Credentials;
      readonly frame: Uint8Array;
    }
  | { readonly kind: 'reply'; readonly id: number; readonly frame: Uint8Array }
  | { readonly kind: 'message'; readonly protocol: ProtocolId; readonly frame: Uint8Array }
  | { readonly kind: 'gossip'; readonly topic: string; readonly frame: Uint8Array }
  | { readonly kind: 'stream-open'; readonly stream: number; readonly protocol: ProtocolId }
  | {
      readonly kind: 'stream-frame';
      readonly stream: number;
      readonly toOpener: boolean;
      readonly seq: number;
      readonly frame: Uint8Array;
    }
  /** `frames`: how many frames came before the end; absent for an abort. */
  | {
      readonly kind: 'stream-end';
      readonly stream: number;
      readonly toOpener: boolean;
      readonly frames?: number;
    };

/** The receiving end of a stream: frames put back in order, as the simulated network may reorder them. */
interface StreamInbox {
  readonly queue: Pushable<Uint8Array>;
  next: number;
  readonly held: Map<number, Uint8Array>;
  endAt?: number;
}

/** Which end of a stream: the node that opened it, or the one that accepted it. */
type StreamRole = 'opener' | 'acceptor';

type Served = (from: NodeId, id: number, frame: Uint8Array, credentials: Credentials) => void;

/** Every in-memory transport answers this, as every libp2p host answers the ping protocol. */
const pingProtocol = requestProtocol({
  name: 'ping',
  major: 1,
  callers: 'anyone',
  request: z.object({}),
  response: z.object({}),
  maxFrameBytes: 64,
});

export function memoryAddress(node: NodeId): string {
  return `/memory/${node}`;
}

/**
 * The simulated cluster's own rule when a simulation gives none: every node of the hub is a member, and the
 * master's term is not judged (a simulation that tests the fence injects the node's real check).
 */
function hubMembers(hub: MemoryHub): CallerCheck {
  return (callers: Callers, from: NodeId) => {
    if (callers !== 'anyone' && !hub.transports.has(from))
      throw new CorralError('not_member', `${from} is not a node of this simulated cluster`);
  };
}

/** Every in-memory transport of one simulated cluster, over one SimNetwork. */
export class MemoryHub {
  readonly transports = new Map<NodeId, MemoryTransport>();
  private readonly peerHandlers = new Set<(event: PeerEvent, at: NodeId) => void>();

  constructor(
    readonly network: SimNetwork<Packet>,
    private readonly log: Logger = silentLogger,
    /** Each node's caller check, as its daemon would build it. */
    private readonly callerCheck: (node: NodeId) => CallerCheck = () => hubMembers(this),
  ) {}

  /** Starts (or restarts, after a crash) the transport of one node. */
  join(node: NodeId): MemoryTransport {
    const transport = new MemoryTransport(node, this, this.log.child({ node }), this.callerCheck(node));
    this.transports.set(node, transport);
    this.network.attach(node, (from, packet) => transport.receive(from, packet));
    this.announce(node, 'connected');
    return transport;
  }

  leave(node: NodeId): void {
    if (!this.transports.delete(node)) return;
    this.network.detach(node);
    this.announce(node, 'disconnected');
  }

  onPeer(handler: (event: PeerEvent, at: NodeId) => void): () => void {
    this.peerHandlers.add(handler);
    return () => this.peerHandlers.delete(handler);
  }

  private announce(peer: NodeId, type: 'connected' | 'disconnected'): void {
    for (const at of this.transports.keys()) {
      if (at !== peer) for (const handler of this.peerHandlers) handler({ type, peer }, at);
    }
  }
}

interface PendingRequest {
  readonly resolve: (reply: Reply) => void;
  readonly reject: (error: CorralError) => void;
  readonly timer: Timer;
}

/**
 * The Transport for the deterministic simulator. Frames take the same codec, caps and schema checks as on
 * libp2p. Messages travel as datagrams (lost, duplicated or reordered as the network's faults say), which is
 * harsher than a stream that breaks and reconnects, so a protocol that survives here survives there.
 */
export class MemoryTransport implements Transport {
  private readonly requestHandlers = new Map<ProtocolId, Served>();
  private readonly messageHandlers = new Map<ProtocolId, (from: NodeId, frame: Uint8Array) => void>();
  private readonly topicHandlers = new Map<string, Set<(from: NodeId, frame: Uint8Array) => void>>();
  private readonly pending = new Map<number, PendingRequest>();
  private readonly streamHandlers = new Map<
    ProtocolId,
    { protocol: StreamProtocol; handler: StreamHandler }
  >();
  /** The frames arriving on each open stream, by peer, role and stream number. */
  private readonly inboxes = new Map<string, StreamInbox>();
  private nextRequestId = 0;
  private nextStreamId = 0;
  private stopped = false;
  private readonly refusals: RefusalLog;

  constructor(
    readonly self: NodeId,
    private readonly hub: MemoryHub,
    private readonly log: Logger,
    private readonly check: CallerCheck,
  ) {
    this.refusals = new RefusalLog(log, () => hub.network.clock.monotonicMs());
    this.handle(pingProtocol, async () => ({}));
  }

  async request<Req, Res>(
    peer: NodeId,
    protocol: RequestProtocol<Req, Res>,
    body: Req,
    options: RequestOptions = {},
  ): Promise<Res> {
    if (this.stopped) throw new CorralError('closed', 'the transport is stopped');
    const frame = encodeFrame(body, protocol.maxFrameBytes);
    const timeoutMs = options.timeoutMs ?? protocol.timeoutMs;
    const id = this.nextRequestId++;
    const reply = await new Promise<Reply>((resolve, reject) => {
      const timer = this.hub.network.clock.setTimer(timeoutMs, () => {
        this.pending.delete(id);
        reject(new CorralError('timeout', `${peer} did not answer ${protocol.id} within ${timeoutMs} ms`));
      });
      this.pending.set(id, { resolve, reject, timer });
      options.signal?.addEventListener(
        'abort',
        () => this.settle(id)?.reject(new CorralError('aborted', 'the request was aborted')),
        {
          once: true,
        },
      );
      this.hub.network.send(this.self, peer, {
        kind: 'request',
        id,
        protocol: protocol.id,
        ...(options.credentials !== undefined && { credentials: options.credentials }),
        frame,
      });
    });
    if (!reply.ok) throw new CorralError(reply.error.code, reply.error.message);
    return checkShape(reply.body, protocol.response);
  }

  handle<Req, Res>(protocol: RequestProtocol<Req, Res>, handler: RequestHandler<Req, Res>): void {
    this.requestHandlers.set(protocol.id, (from, id, frame, credentials) => {
      const reply = (answer: Reply) => {
        if (this.stopped) return;
        let bytes: Uint8Array;
        try {
          bytes = encodeFrame(answer, protocol.maxFrameBytes);
        } catch (error) {
          bytes = encodeFrame({ ok: false, error: (error as CorralError).toWire() }, protocol.maxFrameBytes);
        }
        this.hub.network.send(this.self, from, { kind: 'reply', id, frame: bytes });
      };
      const serve = () => {
        let request: Req;
        try {
          request = decodeFrame(frame, protocol.request, protocol.maxFrameBytes);
        } catch (error) {
          const refusal = error as CorralError;
          this.log.warn(
            { peer: from, protocol: protocol.id, code: refusal.code, reason: refusal.message },
            'refused a request',
          );
          reply({ ok: false, error: refusal.toWire() });
          return;
        }
        handler(request, { from, credentials, signal: new AbortController().signal }).then(
          (body) => reply({ ok: true, body }),
          (error: unknown) => {
            const failure = error instanceof CorralError ? error : new CorralError('internal', String(error));
            reply({ ok: false, error: failure.toWire() });
          },
        );
      };
      checkCallerThen(
        this.check,
        this.refusals,
        protocol.id,
        protocol.callers,
        from,
        credentials,
        serve,
        (refusal) => reply({ ok: false, error: refusal.toWire() }),
      );
    });
  }

  async ping(peer: NodeId, options: RequestOptions = {}): Promise<number> {
    const clock = this.hub.network.clock;
    const startedMs = clock.monotonicMs();
    await this.request(peer, pingProtocol, {}, options);
    return clock.monotonicMs() - startedMs;
  }

  send<M>(peer: NodeId, protocol: MessageProtocol<M>, message: M): void {
    if (this.stopped) return;
    const frame = encodeFrame(message, protocol.maxFrameBytes);
    this.hub.network.send(this.self, peer, { kind: 'message', protocol: protocol.id, frame });
  }

  onMessage<M>(protocol: MessageProtocol<M>, handler: MessageHandler<M>): void {
    this.messageHandlers.set(protocol.id, (from, frame) =>
      checkCallerThen(this.check, this.refusals, protocol.id, protocol.callers, from, NO_CREDENTIALS, () =>
        handler(from, decodeFrame(frame, protocol.message, protocol.maxFrameBytes)),
      ),
    );
  }

  async openStream(peer: NodeId, protocol: StreamProtocol): Promise<FrameStream> {
    if (this.stopped) throw new CorralError('closed', 'the transport is stopped');
    const id = this.nextStreamId++;
    const side = this.streamSide(peer, id, 'opener', protocol.maxFrameBytes);
    this.hub.network.send(this.self, peer, { kind: 'stream-open', stream: id, protocol: protocol.id });
    return side;
  }

  handleStream(protocol: StreamProtocol, handler: StreamHandler): void {
    this.streamHandlers.set(protocol.id, { protocol, handler });
  }

  /**
   * One end of a stream over the simulated network. Frames travel as packets, so a stream is only as reliable
   * as the simulated links: nothing in the simulations streams, and the real transport runs over TCP.
   */
  private streamSide(peer: NodeId, id: number, role: StreamRole, maxFrameBytes: number): FrameStream {
    const key = streamKey(peer, role, id);
    const queue = pushable<Uint8Array>();
    this.inboxes.set(key, { queue, next: 0, held: new Map() });
    const toOpener = role === 'acceptor';
    return {
      frames: queue,
      send: async (frames) => {
        let seq = 0;
        for await (const frame of frames) {
          if (frame.byteLength > maxFrameBytes)
            throw new CorralError('frame_too_large', `frame exceeds the ${maxFrameBytes}-byte limit`);
          this.hub.network.send(this.self, peer, {
            kind: 'stream-frame',
            stream: id,
            toOpener,
            seq: seq++,
            frame,
          });
        }
        this.hub.network.send(this.self, peer, { kind: 'stream-end', stream: id, toOpener, frames: seq });
      },
      abort: () => {
        this.endInbox(key);
        this.hub.network.send(this.self, peer, { kind: 'stream-end', stream: id, toOpener });
      },
    };
  }

  private endInbox(key: string): void {
    this.inboxes.get(key)?.queue.end();
    this.inboxes.delete(key);
  }

  /** Delivers what is now in order; ends the stream once every frame before its end has come. */
  private drain(key: string, inbox: StreamInbox): void {
    for (let frame = inbox.held.get(inbox.next); frame !== undefined; frame = inbox.held.get(inbox.next)) {
      inbox.held.delete(inbox.next++);
      inbox.queue.push(frame);
    }
    if (inbox.endAt !== undefined && inbox.next >= inbox.endAt) this.endInbox(key);
  }

  async publish<M>(topic: Topic<M>, message: M): Promise<void> {
    if (this.stopped) throw new CorralError('closed', 'the transport is stopped');
    const frame = encodeFrame(message, topic.maxFrameBytes);
    for (const [node, transport] of this.hub.transports) {
      if (node !== this.self && transport.subscribes(topic.name)) {
        this.hub.network.send(this.self, node, { kind: 'gossip', topic: topic.name, frame });
      }
    }
  }

  subscribe<M>(topic: Topic<M>, handler: MessageHandler<M>): () => void {
    let handlers = this.topicHandlers.get(topic.name);
    if (handlers === undefined) {
      handlers = new Set();
      this.topicHandlers.set(topic.name, handlers);
    }
    const entry = (from: NodeId, frame: Uint8Array) =>
      checkCallerThen(this.check, this.refusals, topic.name, topic.callers, from, NO_CREDENTIALS, () =>
        handler(from, decodeFrame(frame, topic.message, topic.maxFrameBytes)),
      );
    handlers.add(entry);
    return () => {
      handlers.delete(entry);
      if (handlers.size === 0) this.topicHandlers.delete(topic.name);
    };
  }

  subscribes(topicName: string): boolean {
    return this.topicHandlers.has(topicName);
  }

  onPeer(handler: (event: PeerEvent) => void): () => void {
    return this.hub.onPeer((event, at) => {
      if (at === this.self) handler(event);
    });
  }

  connectedPeers(): NodeId[] {
    const network = this.hub.network;
    return [...this.hub.transports.keys()].filter(
      (peer) => peer !== this.self && network.canReach(this.self, peer) && network.canReach(peer, this.self),
    );
  }

  async connect(address: string): Promise<NodeId> {
    const peer = [...this.hub.transports.keys()].find((node) => memoryAddress(node) === address);
    if (peer === undefined || !this.hub.network.canReach(this.self, peer)) {
      throw new CorralError('unreachable', `cannot connect to ${address}`);
    }
    return peer;
  }

  /** Every node reaches every other unless the network says otherwise: nothing to remember. */
  async keepConnected(): Promise<void> {}

  /** Every node of the hub is found, by its one address, while the network lets this node reach it. */
  async findPeer(peer: NodeId): Promise<string[]> {
    if (!this.hub.transports.has(peer) || !this.hub.network.canReach(this.self, peer))
      throw new CorralError('not_found', `no one knows where ${peer} is`);
    return [memoryAddress(peer)];
  }

  listenAddresses(): string[] {
    return [memoryAddress(this.self)];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const id of [...this.pending.keys()]) {
      this.settle(id)?.reject(new CorralError('closed', 'the transport stopped'));
    }
    for (const inbox of this.inboxes.values())
      inbox.queue.end(new CorralError('closed', 'the transport stopped'));
    this.inboxes.clear();
    this.hub.leave(this.self);
  }

  /** Called by the hub for every packet that reaches this node. */
  receive(from: NodeId, packet: Packet): void {
    if (this.stopped) return;
    try {
      this.dispatch(from, packet);
    } catch (error) {
      const reason = error instanceof CorralError ? error : new CorralError('internal', String(error));
      this.log.warn(
        { peer: from, kind: packet.kind, code: reason.code, reason: reason.message },
        'dropped a packet',
      );
    }
  }

  private dispatch(from: NodeId, packet: Packet): void {
    switch (packet.kind) {
      case 'request': {
        const served = this.requestHandlers.get(packet.protocol);
        if (served) served(from, packet.id, packet.frame, packet.credentials ?? NO_CREDENTIALS);
        else {
          const error = {
            code: 'unknown_protocol',
            message: `${this.self} does not speak ${packet.protocol}`,
          } as const;
          const frame = encodeFrame({ ok: false, error }, 1024);
          this.hub.network.send(this.self, from, { kind: 'reply', id: packet.id, frame });
        }
        return;
      }
      case 'reply': {
        // A duplicate or late reply finds nothing pending and is ignored.
        this.settle(packet.id)?.resolve(decodeFrame(packet.frame, replySchema, packet.frame.byteLength));
        return;
      }
      case 'message':
        this.messageHandlers.get(packet.protocol)?.(from, packet.frame);
        return;
      case 'gossip':
        for (const handler of this.topicHandlers.get(packet.topic) ?? []) handler(from, packet.frame);
        return;
      case 'stream-open': {
        const served = this.streamHandlers.get(packet.protocol);
        if (served === undefined)
          this.hub.network.send(this.self, from, {
            kind: 'stream-end',
            stream: packet.stream,
            toOpener: true,
          });
        else
          checkCallerThen(
            this.check,
            this.refusals,
            packet.protocol,
            served.protocol.callers,
            from,
            NO_CREDENTIALS,
            () =>
              served.handler(
                this.streamSide(from, packet.stream, 'acceptor', served.protocol.maxFrameBytes),
                from,
              ),
            () =>
              this.hub.network.send(this.self, from, {
                kind: 'stream-end',
                stream: packet.stream,
                toOpener: true,
              }),
          );
        return;
      }
      case 'stream-frame': {
        const key = streamKey(from, packet.toOpener ? 'opener' : 'acceptor', packet.stream);
        const inbox = this.inboxes.get(key);
        // A duplicate of a frame already delivered is dropped.
        if (inbox === undefined || packet.seq < inbox.next) return;
        inbox.held.set(packet.seq, packet.frame);
        this.drain(key, inbox);
        return;
      }
      case 'stream-end': {
        const key = streamKey(from, packet.toOpener ? 'opener' : 'acceptor', packet.stream);
        const inbox = this.inboxes.get(key);
        if (inbox === undefined) return;
        if (packet.frames === undefined) this.endInbox(key);
        else {
          inbox.endAt = packet.frames;
          this.drain(key, inbox);
        }
        return;
      }
    }
  }

  private settle(id: number): PendingRequest | undefined {
    const pending = this.pending.get(id);
    if (pending === undefined) return undefined;
    this.pending.delete(id);
    pending.timer.cancel();
    return pending;
  }
}

function streamKey(peer: NodeId, role: StreamRole, id: number): string {
  return `${peer} ${role} ${id}`;
}
