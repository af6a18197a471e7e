import { z } from 'zod';
import type { Timer } from '../common/clock.js';
import { CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import { silentLogger } from '../common/log.js';
import { checkShape, decodeFrame, encodeFrame } from './codec.js';
import { type Reply, replySchema } from './envelope.js';
import {
  type MessageProtocol,
  type ProtocolId,
  type RequestProtocol,
  requestProtocol,
  type Topic,
} from './protocol.js';
import type { SimNetwork } from './sim-network.js';
import type { MessageHandler, PeerEvent, RequestHandler, RequestOptions, Transport } from './transport.js';

/** What crosses the simulated network: frames are real CBOR bytes, capped as on the wire. */
export type Packet =
  | {
      readonly kind: 'request';
      readonly id: number;
      readonly protocol: ProtocolId;
      readonly frame: Uint8Array;
    }
  | { readonly kind: 'reply'; readonly id: number; readonly frame: Uint8Array }
  | { readonly kind: 'message'; readonly protocol: ProtocolId; readonly frame: Uint8Array }
  | { readonly kind: 'gossip'; readonly topic: string; readonly frame: Uint8Array };

type Served = (from: NodeId, id: number, frame: Uint8Array) => void;

/** Every in-memory transport answers this, as every libp2p host answers the ping protocol. */
const pingProtocol = requestProtocol({
  name: 'ping',
  major: 1,
  request: z.object({}),
  response: z.object({}),
  maxFrameBytes: 64,
});

export function memoryAddress(node: NodeId): string {
  return `/memory/${node}`;
}

/** Every in-memory transport of one simulated cluster, over one SimNetwork. */
export class MemoryHub {
  readonly transports = new Map<NodeId, MemoryTransport>();
  private readonly peerHandlers = new Set<(event: PeerEvent, at: NodeId) => void>();

  constructor(
    readonly network: SimNetwork<Packet>,
    private readonly log: Logger = silentLogger,
  ) {}

  /** Starts (or restarts, after a crash) the transport of one node. */
  join(node: NodeId): MemoryTransport {
    const transport = new MemoryTransport(node, this, this.log.child({ node }));
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
  private nextRequestId = 0;
  private stopped = false;

  constructor(
    readonly self: NodeId,
    private readonly hub: MemoryHub,
    private readonly log: Logger,
  ) {
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
      this.hub.network.send(this.self, peer, { kind: 'request', id, protocol: protocol.id, frame });
    });
    if (!reply.ok) throw new CorralError(reply.error.code, reply.error.message);
    return checkShape(reply.body, protocol.response);
  }

  handle<Req, Res>(protocol: RequestProtocol<Req, Res>, handler: RequestHandler<Req, Res>): void {
    this.requestHandlers.set(protocol.id, (from, id, frame) => {
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
      handler(request, { from, signal: new AbortController().signal }).then(
        (body) => reply({ ok: true, body }),
        (error: unknown) => {
          const failure = error instanceof CorralError ? error : new CorralError('internal', String(error));
          reply({ ok: false, error: failure.toWire() });
        },
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
      handler(from, decodeFrame(frame, protocol.message, protocol.maxFrameBytes)),
    );
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
      handler(from, decodeFrame(frame, topic.message, topic.maxFrameBytes));
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
        if (served) served(from, packet.id, packet.frame);
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
