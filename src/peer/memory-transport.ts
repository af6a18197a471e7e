import { multiaddr } from '@multiformats/multiaddr';
import { untilAborted } from '../common/abort.js';
import type { Clock } from '../common/clock.js';
import { deadline } from '../common/deadline.js';
import { asCorralError, CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import { InvariantError } from '../common/invariant.js';
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
import { decodeFrame, encodeFrame } from './codec.js';
import { MemoryStreams, type StreamPacket } from './memory-streams.js';
import { pingProtocol } from './ping-protocol.js';
import type { MessageProtocol, ProtocolId, RequestProtocol, StreamProtocol, Topic } from './protocol.js';
import {
  answerOf,
  encodeMessage,
  type ServingNode,
  serveRequest,
  unknownProtocolReply,
} from './serve-request.js';
import type { SimNetwork } from './sim-network.js';
import { streamError } from './stream-errors.js';
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
  | StreamPacket;

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

  /** The node's process is gone: as a closed connection, its peers' calls and streams with it end at once. */
  leave(node: NodeId): void {
    if (!this.transports.delete(node)) return;
    this.network.detach(node);
    for (const transport of this.transports.values()) transport.peerLeft(node);
    this.announce(node, 'disconnected');
  }

  /**
   * `at` gives up on its connection to `peer`, as a daemon does when its gossip's ping times out (host.ts): the
   * calls in flight between them fail at once rather than wait out their timeouts. A simulation without the
   * gossip service calls it for the links a partition cuts.
   */
  hangUp(at: NodeId, peer: NodeId): void {
    this.transports.get(at)?.peerLeft(peer);
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
  readonly peer: NodeId;
  readonly resolve: (reply: Uint8Array) => void;
  readonly reject: (error: CorralError) => void;
}

/** A request being served: its handler's signal aborts when the caller leaves or this transport stops. */
interface ServedCall {
  readonly from: NodeId;
  readonly controller: AbortController;
}

/** Handlers of one topic, and the callers rule of the first subscription, as libp2p's topic validator has. */
interface TopicHandlers {
  readonly callers: Callers;
  readonly entries: Set<(from: NodeId, frame: Uint8Array) => void>;
}

/**
 * The Transport for the deterministic simulator. It behaves as the libp2p transport does: the same codec,
 * caps, schema and caller checks, errors and deadlines, held to it by the compliance suite in test/peer. Two
 * differences remain, both in one-way messages. They travel as datagrams, lost, duplicated or reordered as
 * the network's faults say, which is harsher than a stream that breaks and reconnects, so a protocol that
 * survives here survives there. And a malformed or refused message costs only itself, where libp2p closes
 * the stream it came on and loses what was queued behind it: best effort either way. Requests and streams
 * are as reliable as libp2p's connections: delayed and reordered, but lost only with a cut path.
 */
export class MemoryTransport implements Transport {
  private readonly requestHandlers = new Map<
    ProtocolId,
    (from: NodeId, id: number, frame: Uint8Array, credentials: Credentials) => void
  >();
  private readonly messageHandlers = new Map<ProtocolId, (from: NodeId, frame: Uint8Array) => void>();
  private readonly topicHandlers = new Map<string, TopicHandlers>();
  private readonly pending = new Map<number, PendingRequest>();
  private readonly served = new Set<ServedCall>();
  private readonly streams: MemoryStreams;
  private readonly stopping = new AbortController();
  private readonly serving: ServingNode;
  private readonly clock: Clock;
  private nextRequestId = 0;

  constructor(
    readonly self: NodeId,
    private readonly hub: MemoryHub,
    private readonly log: Logger,
    check: CallerCheck,
  ) {
    this.clock = hub.network.clock;
    const refusals = new RefusalLog(log, () => this.clock.monotonicMs());
    this.serving = { self, check, refusals, log, clock: this.clock };
    this.streams = new MemoryStreams({
      self,
      clock: this.clock,
      check,
      refusals,
      stopping: this.stopping.signal,
      send: (to, packet) => this.sendPacket(to, packet),
    });
    this.handle(pingProtocol, async () => ({}));
  }

  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  async request<Req, Res>(
    peer: NodeId,
    protocol: RequestProtocol<Req, Res>,
    body: Req,
    options: RequestOptions = {},
  ): Promise<Res> {
    const frame = encodeFrame(body, protocol.maxFrameBytes);
    const timeoutMs = options.timeoutMs ?? protocol.timeoutMs;
    const limit = deadline(timeoutMs, [this.stopping.signal, options.signal], this.clock);
    const id = this.nextRequestId++;
    try {
      // A call already abandoned is not sent.
      limit.signal.throwIfAborted();
      this.mustBeRunning(peer);
      const reply = new Promise<Uint8Array>((resolve, reject) =>
        this.pending.set(id, { peer, resolve, reject }),
      );
      this.sendPacket(peer, {
        kind: 'request',
        id,
        protocol: protocol.id,
        ...(options.credentials !== undefined && { credentials: options.credentials }),
        frame,
      });
      return answerOf(await untilAborted(reply, limit.signal), protocol);
    } catch (error) {
      if (limit.expired())
        throw new CorralError('timeout', `${peer} did not answer ${protocol.id} within ${timeoutMs} ms`);
      if (limit.signal.aborted) throw asCorralError(limit.signal.reason, 'aborted');
      throw error;
    } finally {
      this.pending.delete(id);
      limit.dispose();
    }
  }

  /** A peer whose process is not running refuses the connection at once, as a closed TCP port does. */
  private mustBeRunning(peer: NodeId): void {
    if (!this.hub.transports.has(peer))
      throw new CorralError('unreachable', `cannot reach ${peer}: not running`);
  }

  handle<Req, Res>(protocol: RequestProtocol<Req, Res>, handler: RequestHandler<Req, Res>): void {
    this.requestHandlers.set(protocol.id, (from, id, body, credentials) => {
      const call: ServedCall = { from, controller: new AbortController() };
      this.served.add(call);
      serveRequest(
        this.serving,
        protocol,
        handler,
        { from, credentials, body, signal: call.controller.signal },
        (reply) => {
          this.served.delete(call);
          this.sendPacket(from, { kind: 'reply', id, frame: reply });
        },
      );
    });
  }

  async ping(peer: NodeId, options: RequestOptions = {}): Promise<number> {
    const startedMs = this.clock.monotonicMs();
    await this.request(peer, pingProtocol, {}, options);
    return this.clock.monotonicMs() - startedMs;
  }

  send<M>(peer: NodeId, protocol: MessageProtocol<M>, message: M): void {
    const frame = encodeMessage(this.log, peer, protocol, message);
    if (frame === undefined) return;
    this.sendPacket(peer, { kind: 'message', protocol: protocol.id, frame });
  }

  onMessage<M>(protocol: MessageProtocol<M>, handler: MessageHandler<M>): void {
    const { check, refusals } = this.serving;
    this.messageHandlers.set(protocol.id, (from, frame) =>
      checkCallerThen(check, refusals, protocol.id, protocol.callers, from, NO_CREDENTIALS, () =>
        this.deliver(from, { protocol: protocol.id }, () =>
          handler(from, decodeFrame(frame, protocol.message, protocol.maxFrameBytes)),
        ),
      ),
    );
  }

  async openStream(
    peer: NodeId,
    protocol: StreamProtocol,
    options: RequestOptions = {},
  ): Promise<FrameStream> {
    if (this.stopped) throw new CorralError('closed', 'the transport is stopped');
    this.mustBeRunning(peer);
    return this.streams.open(peer, protocol, options);
  }

  handleStream(protocol: StreamProtocol, handler: StreamHandler): void {
    this.streams.handle(protocol, handler);
  }

  async publish<M>(topic: Topic<M>, message: M): Promise<void> {
    if (this.stopped) throw new CorralError('closed', 'the transport is stopped');
    const frame = encodeFrame(message, topic.maxFrameBytes);
    for (const [node, transport] of this.hub.transports) {
      if (node !== this.self && transport.subscribes(topic.name)) {
        this.sendPacket(node, { kind: 'gossip', topic: topic.name, frame });
      }
    }
  }

  subscribe<M>(topic: Topic<M>, handler: MessageHandler<M>): () => void {
    let handlers = this.topicHandlers.get(topic.name);
    if (handlers === undefined) {
      handlers = { callers: topic.callers, entries: new Set() };
      this.topicHandlers.set(topic.name, handlers);
    }
    const entry = (from: NodeId, frame: Uint8Array) =>
      handler(from, decodeFrame(frame, topic.message, topic.maxFrameBytes));
    handlers.entries.add(entry);
    return () => {
      handlers.entries.delete(entry);
      if (handlers.entries.size === 0) this.topicHandlers.delete(topic.name);
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
    try {
      multiaddr(address);
    } catch {
      throw new CorralError(
        'bad_request',
        `not a multiaddr: ${address} (expected e.g. ${memoryAddress(this.self)})`,
      );
    }
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
    if (this.stopped) return;
    const stopping = new CorralError('closed', 'the transport is stopping');
    // Pending requests and stream opens end through their deadlines, which follow this signal.
    this.stopping.abort(stopping);
    for (const call of this.served) call.controller.abort(stopping);
    this.streams.stop();
    // A node restarted since has a transport of its own, which stays.
    if (this.hub.transports.get(this.self) === this) this.hub.leave(this.self);
  }

  /** Called by the hub when a peer's process is gone: what this node had going with it ends now. */
  peerLeft(peer: NodeId): void {
    const gone = `the connection to ${peer} closed`;
    for (const pending of this.pending.values())
      if (pending.peer === peer) pending.reject(new CorralError('unreachable', gone));
    for (const call of this.served)
      if (call.from === peer) call.controller.abort(new CorralError('closed', gone));
    this.streams.peerLeft(peer);
  }

  /** Called by the hub for every packet that reaches this node. */
  receive(from: NodeId, packet: Packet): void {
    if (this.stopped) return;
    try {
      this.dispatch(from, packet);
    } catch (error) {
      if (error instanceof InvariantError) throw error;
      const reason = streamError(error, 0);
      this.log.warn(
        { peer: from, kind: packet.kind, code: reason.code, reason: reason.message },
        'dropped a packet',
      );
    }
  }

  /**
   * One-way messages and gossip are datagrams, lost, duplicated or reordered as the faults say. Requests,
   * replies and streams ride a connection in libp2p (TCP), which loses nothing while a path exists: here they
   * are delayed and reordered alike, never lost or duplicated, and dropped only when the path is cut.
   */
  private sendPacket(to: NodeId, packet: Packet): void {
    if (this.stopped) return;
    const { network } = this.hub;
    if (packet.kind === 'message' || packet.kind === 'gossip') network.send(this.self, to, packet);
    else network.sendReliably(this.self, to, packet, network.drawDelayMs());
  }

  private dispatch(from: NodeId, packet: Packet): void {
    switch (packet.kind) {
      case 'request': {
        const served = this.requestHandlers.get(packet.protocol);
        if (served) served(from, packet.id, packet.frame, packet.credentials ?? NO_CREDENTIALS);
        else
          this.sendPacket(from, {
            kind: 'reply',
            id: packet.id,
            frame: unknownProtocolReply(this.self, packet.protocol),
          });
        return;
      }
      case 'reply':
        // A duplicate or late reply finds nothing pending and is ignored.
        this.pending.get(packet.id)?.resolve(packet.frame);
        return;
      case 'message':
        this.messageHandlers.get(packet.protocol)?.(from, packet.frame);
        return;
      case 'gossip':
        this.deliverGossip(from, packet.topic, packet.frame);
        return;
      default:
        this.streams.receive(from, packet);
    }
  }

  /** The author is judged once per message, as libp2p's topic validator does; each handler decodes for itself. */
  private deliverGossip(from: NodeId, topicName: string, frame: Uint8Array): void {
    const handlers = this.topicHandlers.get(topicName);
    if (handlers === undefined) return;
    const { check, refusals } = this.serving;
    checkCallerThen(check, refusals, topicName, handlers.callers, from, NO_CREDENTIALS, () => {
      for (const entry of handlers.entries)
        this.deliver(from, { topic: topicName }, () => entry(from, frame));
    });
  }

  /**
   * Hands one message to its handler; one that is malformed, or that its handler throws at, is logged and
   * dropped. (Delivery may come after an asynchronous caller check, where nothing else would catch it.) A
   * broken invariant is not the message's fault: it goes on up, to stop the simulation that runs this hub.
   */
  private deliver(
    from: NodeId,
    what: { protocol: ProtocolId } | { topic: string },
    deliver: () => void,
  ): void {
    try {
      deliver();
    } catch (error) {
      if (error instanceof InvariantError) throw error;
      const reason = streamError(error, 0);
      this.log.warn({ peer: from, ...what, code: reason.code, reason: reason.message }, 'dropped a message');
    }
  }
}
