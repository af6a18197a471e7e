import type { IdentifyResult, Message, PeerId, Stream } from '@libp2p/interface';
import { KEEP_ALIVE, TopicValidatorResult } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { decode as decodeLengthPrefixed, encode as encodeLengthPrefixed } from 'it-length-prefixed';
import { pipe } from 'it-pipe';
import { type Pushable, pushable } from 'it-pushable';
import { untilAborted } from '../common/abort.js';
import { systemClock } from '../common/clock.js';
import { deadline } from '../common/deadline.js';
import { asCorralError, CorralError } from '../common/errors.js';
import { asNodeId, type NodeId } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import { type CallerCheck, type Credentials, checkCaller, RefusalLog } from './callers.js';
import { decodeFrame, encodeFrame } from './codec.js';
import { lengthPrefixedBatches } from './frame-batches.js';
import type { Host } from './host.js';
import { pingProtocol } from './ping-protocol.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  type MessageProtocol,
  type RequestProtocol,
  type StreamProtocol,
  type Topic,
} from './protocol.js';
import { RPC_PROTOCOL, RpcClientChannel, serveRpcChannel } from './rpc-channel.js';
import {
  answerOf,
  encodeMessage,
  type IncomingRequest,
  type ServingNode,
  serveRequest,
  unknownProtocolReply,
} from './serve-request.js';
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

export interface Libp2pTransportLimits {
  /** The largest frame any protocol may declare. */
  readonly maxFrameBytes: number;
  /** Requests waiting for answers from one peer. */
  readonly maxPendingPerPeer: number;
  /** Requests one inbound channel may have running here at once; more are refused as busy. */
  readonly maxInFlightPerChannel: number;
  /** Concurrent inbound message streams per protocol per connection. */
  readonly maxInboundStreams: number;
  /** Messages waiting on one outbound message stream before new ones are dropped. */
  readonly maxQueuedMessages: number;
}

/** Lookups of a member that does not answer at its known addresses, and the pause between them. */
const DHT_LOOKUPS = 5;
const DHT_LOOKUP_PAUSE_MS = 2_000;

/** The multiaddr code of /p2p/<peer ID>, which addresses we store leave off. */
const P2P_CODE = 421;
/** Well inside the peer store's one-hour address age. */
const KEPT_ADDRESSES_REFRESH_MS = 10 * 60_000;
/** Parsed peer IDs kept at most; far more than a cluster's members. */
const PEER_ID_CACHE_SIZE = 4096;

const defaultLimits: Libp2pTransportLimits = {
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxPendingPerPeer: 4096,
  maxInFlightPerChannel: 1024,
  maxInboundStreams: 64,
  maxQueuedMessages: 4096,
};

interface OutboundMessages {
  readonly queue: Pushable<Uint8Array>;
  queued: number;
}

/**
 * The Transport over a libp2p host: requests (pings too) on one RPC channel per peer, one long-lived stream
 * per peer for messages.
 */
export class Libp2pTransport implements Transport {
  readonly self: NodeId;
  private readonly outbound = new Map<string, OutboundMessages>();
  private readonly channels = new Map<NodeId, Promise<RpcClientChannel>>();
  private readonly servers = new Map<string, (incoming: IncomingRequest) => Promise<Uint8Array>>();
  private readonly refusals: RefusalLog;
  private readonly serving: ServingNode;
  private readonly topicHandlers = new Map<string, Set<MessageHandler<unknown>>>();
  /**
   * The addresses last given to the peer store per peer, and when: merging a peer record costs a protobuf round
   * trip, so it is skipped while they stay the same and fresh (the store forgets addresses an hour old).
   */
  private readonly keptAddresses = new Map<NodeId, { readonly key: string; readonly atMs: number }>();
  /**
   * Parsed peer IDs: a PeerId computes its string form once, and libp2p's connection table is keyed by it, so a
   * fresh parse per call costs a base58 decode and encode each time (every member, on every config change).
   */
  private readonly peerIds = new Map<NodeId, PeerId>();
  private readonly stopping = new AbortController();
  private readonly limits: Libp2pTransportLimits;

  constructor(
    private readonly host: Host,
    private readonly log: Logger,
    /** Judges every inbound request, message, stream and gossip author against its protocol's callers. */
    private readonly check: CallerCheck,
    limits: Partial<Libp2pTransportLimits> = {},
  ) {
    this.self = asNodeId(host.peerId.toString());
    this.limits = { ...defaultLimits, ...limits };
    this.refusals = new RefusalLog(log, () => performance.now());
    this.serving = { self: this.self, check, refusals: this.refusals, log, clock: systemClock };
    host.services.pubsub.addEventListener('message', (event) => this.onGossip(event.detail));
    this.handle(pingProtocol, async () => ({}));
    void host.handle(
      RPC_PROTOCOL,
      ({ stream, connection }) => {
        const from = asNodeId(connection.remotePeer.toString());
        const options = {
          maxFrameBytes: this.limits.maxFrameBytes,
          maxInFlight: this.limits.maxInFlightPerChannel,
          stopping: this.stopping.signal,
          log: this.log,
        };
        serveRpcChannel(from, stream, options, (protocol, body, peer, credentials, signal) =>
          this.serveRpc(protocol, body, peer, credentials, signal),
        );
      },
      { maxInboundStreams: 16 },
    );
  }

  async request<Req, Res>(
    peer: NodeId,
    protocol: RequestProtocol<Req, Res>,
    body: Req,
    options: RequestOptions = {},
  ): Promise<Res> {
    this.checkCap(protocol);
    const timeoutMs = options.timeoutMs ?? protocol.timeoutMs;
    const frame = encodeFrame(body, protocol.maxFrameBytes);
    const limit = deadline(timeoutMs, [this.stopping.signal, options.signal]);
    let call: ReturnType<RpcClientChannel['call']> | undefined;
    try {
      // A call already abandoned is not sent, even on a channel that is open.
      limit.signal.throwIfAborted();
      const channel = await this.channelTo(peer, limit.signal);
      limit.signal.throwIfAborted();
      call = channel.call(protocol.id, frame, options.credentials);
      return answerOf(await untilAborted(call.reply, limit.signal), protocol);
    } catch (error) {
      if (limit.expired()) {
        throw new CorralError('timeout', `${peer} did not answer ${protocol.id} within ${timeoutMs} ms`);
      }
      // The caller gave up, or this transport is stopping: say so, not what the abort interrupted.
      if (limit.signal.aborted) throw asCorralError(limit.signal.reason, 'aborted');
      throw streamError(error, protocol.maxFrameBytes);
    } finally {
      call?.cancel();
      limit.dispose();
    }
  }

  /**
   * The channel to a peer, open or opening; concurrent callers share one dial. A channel leaves the map when
   * it closes or fails to open, so the next request dials afresh.
   */
  private channelTo(peer: NodeId, signal: AbortSignal): Promise<RpcClientChannel> {
    const known = this.channels.get(peer);
    if (known !== undefined) return known;
    const forget = () => {
      if (this.channels.get(peer) === opening) this.channels.delete(peer);
    };
    const opening = this.host.dialProtocol(this.peerId(peer), RPC_PROTOCOL, { signal }).then(
      (stream) =>
        new RpcClientChannel(peer, stream, this.limits.maxFrameBytes, this.limits.maxPendingPerPeer, forget),
      (error: Error) => {
        forget();
        throw new CorralError('unreachable', `cannot reach ${peer}: ${error.message}`);
      },
    );
    this.channels.set(peer, opening);
    return opening;
  }

  handle<Req, Res>(protocol: RequestProtocol<Req, Res>, handler: RequestHandler<Req, Res>): void {
    this.checkCap(protocol);
    this.servers.set(
      protocol.id,
      (incoming) =>
        new Promise((respond) => serveRequest(this.serving, protocol, handler, incoming, respond)),
    );
  }

  private serveRpc(
    protocol: string,
    body: Uint8Array,
    from: NodeId,
    credentials: Credentials,
    signal: AbortSignal,
  ): Promise<Uint8Array> {
    const server = this.servers.get(protocol);
    if (server === undefined) return Promise.resolve(unknownProtocolReply(this.self, protocol));
    return server({ from, credentials, body, signal });
  }

  private checkCap(protocol: { id: string; maxFrameBytes: number }): void {
    if (protocol.maxFrameBytes > this.limits.maxFrameBytes) {
      throw new CorralError(
        'internal',
        `${protocol.id} allows ${protocol.maxFrameBytes}-byte frames, over the transport's ${this.limits.maxFrameBytes}`,
      );
    }
  }

  /**
   * A ping that times out hangs up the connections to that peer, so the next one dials afresh. After a
   * partition heals, an old TCP connection may sit in retransmission backoff for seconds more (its timer
   * doubles each time), which holds back the very heartbeat that would refute a suspicion; a new connection
   * gets through at once. The connection is dropped only on a timeout, not on a refusal or a closed stream.
   */
  async ping(peer: NodeId, options: RequestOptions = {}): Promise<number> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const startedMs = performance.now();
    try {
      await this.request(peer, pingProtocol, {}, { ...options, timeoutMs });
      return performance.now() - startedMs;
    } catch (error) {
      const failure = asCorralError(error, 'unreachable');
      if (failure.code !== 'timeout') throw failure;
      void this.host.hangUp(this.peerId(peer)).catch(() => undefined);
      throw new CorralError('timeout', `${peer} did not answer a ping within ${timeoutMs} ms`);
    }
  }

  send<M>(peer: NodeId, protocol: MessageProtocol<M>, message: M): void {
    const frame = encodeMessage(this.log, peer, protocol, message);
    if (frame === undefined) return;
    const key = `${peer} ${protocol.id}`;
    let outbound = this.outbound.get(key);
    if (outbound === undefined) {
      outbound = this.openOutbound(key, peer, protocol);
      this.outbound.set(key, outbound);
    }
    if (outbound.queued >= this.limits.maxQueuedMessages) {
      this.log.debug({ peer, protocol: protocol.id }, 'message queue full; dropped a message');
      return;
    }
    outbound.queued++;
    outbound.queue.push(frame);
  }

  private openOutbound<M>(key: string, peer: NodeId, protocol: MessageProtocol<M>): OutboundMessages {
    const outbound: OutboundMessages = {
      queued: 0,
      queue: pushable<Uint8Array>({ onEnd: () => this.dropOutbound(key, outbound) }),
    };
    void (async () => {
      try {
        const limit = deadline(10_000, [this.stopping.signal]);
        const stream = await this.host
          .dialProtocol(this.peerId(peer), protocol.id, { signal: limit.signal })
          .finally(() => limit.dispose());
        await stream.sink(lengthPrefixedBatches(outbound.queue, () => outbound.queued--));
      } catch (error) {
        this.log.debug(
          { peer, protocol: protocol.id, reason: (error as Error).message },
          'message stream ended',
        );
      } finally {
        outbound.queue.end();
        this.dropOutbound(key, outbound);
      }
    })();
    return outbound;
  }

  private dropOutbound(key: string, outbound: OutboundMessages): void {
    // Only the entry that ended: a newer stream to the same peer may already have replaced it.
    if (this.outbound.get(key) === outbound) this.outbound.delete(key);
  }

  onMessage<M>(protocol: MessageProtocol<M>, handler: MessageHandler<M>): void {
    void this.host.handle(
      protocol.id,
      ({ stream, connection }) => {
        const from = asNodeId(connection.remotePeer.toString());
        void pipe(
          stream.source,
          (source) => decodeLengthPrefixed(source, { maxDataLength: protocol.maxFrameBytes }),
          async (frames) => {
            for await (const frame of frames) {
              // Checked per message, not per stream: a node removed from the cluster loses its say at once.
              await checkCaller(this.check, this.refusals, protocol.id, protocol.callers, from, {});
              handler(from, decodeFrame(frame.subarray(), protocol.message, protocol.maxFrameBytes));
            }
          },
        ).catch((error: unknown) => {
          const reason = streamError(error, protocol.maxFrameBytes);
          if (reason.code !== 'closed') {
            this.log.warn(
              { peer: from, protocol: protocol.id, code: reason.code, reason: reason.message },
              'closed a message stream',
            );
          }
          stream.abort(reason);
        });
      },
      { maxInboundStreams: this.limits.maxInboundStreams },
    );
  }

  async openStream(
    peer: NodeId,
    protocol: StreamProtocol,
    options: RequestOptions = {},
  ): Promise<FrameStream> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const limit = deadline(timeoutMs, [this.stopping.signal, options.signal]);
    try {
      const stream = await this.host.dialProtocol(this.peerId(peer), protocol.id, {
        signal: limit.signal,
      });
      return framed(stream, protocol);
    } catch (error) {
      if (limit.expired())
        throw new CorralError('timeout', `${peer} did not open ${protocol.id} within ${timeoutMs} ms`);
      if (limit.signal.aborted) throw asCorralError(limit.signal.reason, 'aborted');
      const failure = streamError(error, protocol.maxFrameBytes);
      if (failure.code === 'unknown_protocol')
        throw new CorralError('unknown_protocol', `${peer} does not speak ${protocol.id}`);
      throw failure;
    } finally {
      limit.dispose();
    }
  }

  handleStream(protocol: StreamProtocol, handler: StreamHandler): void {
    void this.host.handle(
      protocol.id,
      ({ stream, connection }) => {
        const from = asNodeId(connection.remotePeer.toString());
        checkCaller(this.check, this.refusals, protocol.id, protocol.callers, from, {}).then(
          () => handler(framed(stream, protocol), from),
          (refusal: Error) => stream.abort(refusal),
        );
      },
      { maxInboundStreams: this.limits.maxInboundStreams },
    );
  }

  async publish<M>(topic: Topic<M>, message: M): Promise<void> {
    await this.host.services.pubsub.publish(topic.name, encodeFrame(message, topic.maxFrameBytes));
  }

  subscribe<M>(topic: Topic<M>, handler: MessageHandler<M>): () => void {
    let handlers = this.topicHandlers.get(topic.name);
    if (handlers === undefined) {
      handlers = new Set();
      this.topicHandlers.set(topic.name, handlers);
      this.validateAuthors(topic);
      this.host.services.pubsub.subscribe(topic.name);
    }
    const entry: MessageHandler<unknown> = (from, raw) => {
      handler(from, decodeFrame(raw as Uint8Array, topic.message, topic.maxFrameBytes));
    };
    handlers.add(entry);
    return () => {
      handlers.delete(entry);
      if (handlers.size === 0) {
        this.topicHandlers.delete(topic.name);
        this.host.services.pubsub.unsubscribe(topic.name);
        this.host.services.pubsub.topicValidators.delete(topic.name);
      }
    };
  }

  /**
   * Gossip from an author outside the topic's callers is neither delivered nor relayed. The signed author is
   * judged, not the mesh peer that passed the message on; 'ignore' rather than 'reject', so that a member
   * relaying a node this one has not yet heard was added loses no score for it.
   */
  private validateAuthors(topic: Topic<unknown>): void {
    this.host.services.pubsub.topicValidators.set(topic.name, async (_relay, msg) => {
      if (msg.type !== 'signed') return TopicValidatorResult.Ignore;
      const author = asNodeId(msg.from.toString());
      try {
        await checkCaller(this.check, this.refusals, topic.name, topic.callers, author, {});
        return TopicValidatorResult.Accept;
      } catch {
        return TopicValidatorResult.Ignore;
      }
    });
  }

  private onGossip(msg: Message): void {
    const handlers = this.topicHandlers.get(msg.topic);
    if (handlers === undefined || msg.type !== 'signed') return;
    const from = asNodeId(msg.from.toString());
    for (const handler of handlers) {
      try {
        handler(from, msg.data);
      } catch (error) {
        const reason = streamError(error, 0);
        this.log.warn(
          { peer: from, topic: msg.topic, code: reason.code, reason: reason.message },
          'dropped a gossip message',
        );
      }
    }
  }

  onPeer(handler: (event: PeerEvent) => void): () => void {
    const connected = (event: CustomEvent<{ toString(): string }>) =>
      handler({ type: 'connected', peer: asNodeId(event.detail.toString()) });
    const disconnected = (event: CustomEvent<{ toString(): string }>) =>
      handler({ type: 'disconnected', peer: asNodeId(event.detail.toString()) });
    const identified = (event: CustomEvent<IdentifyResult>) =>
      handler({
        type: 'identified',
        peer: asNodeId(event.detail.peerId.toString()),
        addresses: event.detail.listenAddrs.map((address) => address.decapsulateCode(P2P_CODE).toString()),
      });
    this.host.addEventListener('peer:connect', connected);
    this.host.addEventListener('peer:disconnect', disconnected);
    this.host.addEventListener('peer:identify', identified);
    return () => {
      this.host.removeEventListener('peer:connect', connected);
      this.host.removeEventListener('peer:disconnect', disconnected);
      this.host.removeEventListener('peer:identify', identified);
    };
  }

  connectedPeers(): NodeId[] {
    return this.host.getPeers().map((peer) => asNodeId(peer.toString()));
  }

  async connect(address: string, options: RequestOptions = {}): Promise<NodeId> {
    let target: ReturnType<typeof multiaddr>;
    try {
      target = multiaddr(address);
    } catch {
      throw new CorralError(
        'bad_request',
        `not a multiaddr: ${address} (expected e.g. /ip4/127.0.0.2/tcp/7400)`,
      );
    }
    const limit = deadline(options.timeoutMs ?? 10_000, [this.stopping.signal, options.signal]);
    try {
      const connection = await this.host.dial(target, { signal: limit.signal });
      return asNodeId(connection.remotePeer.toString());
    } catch (error) {
      throw new CorralError('unreachable', `cannot connect to ${address}: ${(error as Error).message}`);
    } finally {
      limit.dispose();
    }
  }

  private peerId(peer: NodeId): PeerId {
    let id = this.peerIds.get(peer);
    if (id === undefined) {
      // Peers come and go over a daemon's life; a bound keeps the strangers that called once from piling up.
      if (this.peerIds.size >= PEER_ID_CACHE_SIZE) this.peerIds.clear();
      id = peerIdFromString(peer);
      this.peerIds.set(peer, id);
    }
    return id;
  }

  async keepConnected(peer: NodeId, addresses: readonly string[]): Promise<void> {
    // Called on every configuration change (every job): the peer store is written only when the addresses moved.
    const key = addresses.join(' ');
    const kept = this.keptAddresses.get(peer);
    const now = performance.now();
    if (kept?.key !== key || now - kept.atMs > KEPT_ADDRESSES_REFRESH_MS) {
      const multiaddrs = addresses.flatMap((address) => {
        try {
          return [multiaddr(address)];
        } catch {
          return [];
        }
      });
      await this.host.peerStore.merge(this.peerId(peer), {
        multiaddrs,
        tags: { [KEEP_ALIVE]: { value: 1 } },
      });
      this.keptAddresses.set(peer, { key, atMs: now });
    }
    if (this.host.getConnections(this.peerId(peer)).length === 0) void this.dialOrFind(peer);
  }

  /** Dials a peer at the addresses known; if none answers, asks the DHT where it is now and dials there. */
  private async dialOrFind(peer: NodeId): Promise<void> {
    const limit = deadline(10_000, [this.stopping.signal]);
    try {
      await this.host.dial(this.peerId(peer), { signal: limit.signal });
      return;
    } catch (error) {
      this.log.debug(
        { peer, reason: (error as Error).message },
        'member not reachable at its known addresses',
      );
    } finally {
      limit.dispose();
    }
    // A few lookups, spaced out: the peers that know where it is now may learn it only a moment later.
    for (let attempt = 1; attempt <= DHT_LOOKUPS; attempt++) {
      if (this.stopping.signal.aborted || this.host.getConnections(this.peerId(peer)).length > 0) return;
      try {
        // findPeer stores what it finds, so this dial and libp2p's own reconnections use the new addresses.
        const addresses = await this.findPeer(peer);
        const retry = deadline(10_000, [this.stopping.signal]);
        await this.host.dial(this.peerId(peer), { signal: retry.signal }).finally(() => retry.dispose());
        this.log.info({ peer, addresses }, 'found a member at new addresses through the DHT');
        return;
      } catch (error) {
        this.log.debug({ peer, attempt, reason: (error as Error).message }, 'member not reachable yet');
      }
      await new Promise((resolve) => setTimeout(resolve, DHT_LOOKUP_PAUSE_MS).unref());
    }
  }

  async findPeer(peer: NodeId, options: RequestOptions = {}): Promise<string[]> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const limit = deadline(timeoutMs, [this.stopping.signal, options.signal]);
    try {
      // Past the local peer store: what it holds may be the very addresses that stopped answering.
      const found = await this.host.peerRouting.findPeer(this.peerId(peer), {
        signal: limit.signal,
        useCache: false,
      });
      return found.multiaddrs.map((address) => address.decapsulateCode(P2P_CODE).toString());
    } catch (error) {
      if (limit.expired())
        throw new CorralError('timeout', `no one said where ${peer} is within ${timeoutMs} ms`);
      throw new CorralError('not_found', `no one knows where ${peer} is: ${(error as Error).message}`);
    } finally {
      limit.dispose();
    }
  }

  listenAddresses(): string[] {
    return this.host.getMultiaddrs().map((address) => address.decapsulateCode(P2P_CODE).toString());
  }

  async stop(): Promise<void> {
    this.stopping.abort(new CorralError('closed', 'the transport is stopping'));
    for (const outbound of this.outbound.values()) outbound.queue.end();
    for (const channel of this.channels.values())
      void channel.then(
        (open) => open.close(),
        () => undefined,
      );
    await this.host.stop();
  }
}

/**
 * A libp2p stream as frames: each one length-prefixed, none over the protocol's cap either way. A frame over
 * the cap, sent or received, breaks the stream for both sides, as a malformed frame closes any other stream.
 */
function framed(stream: Stream, protocol: StreamProtocol): FrameStream {
  const cap = protocol.maxFrameBytes;
  const broken = (error: unknown) => {
    const reason = streamError(error, cap);
    stream.abort(reason);
    return reason;
  };
  async function* frames(): AsyncGenerator<Uint8Array> {
    try {
      for await (const frame of decodeLengthPrefixed(stream.source, { maxDataLength: cap }))
        yield frame.subarray();
    } catch (error) {
      throw broken(error);
    }
  }
  /** Each frame with its length prefix as one chunk: one muxer frame and one encryption, not two. */
  async function* prefixed(outgoing: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const frame of outgoing) {
      if (frame.byteLength > cap)
        throw new CorralError(
          'frame_too_large',
          `a frame of ${frame.byteLength} bytes exceeds the ${cap}-byte limit of ${protocol.id}`,
        );
      yield encodeLengthPrefixed.single(frame).subarray();
    }
  }
  return {
    frames: frames(),
    send: async (outgoing) => {
      // Past an abort or reset, libp2p fails the write with an error of its own making; ours says why.
      if (stream.status !== 'open') throw new CorralError('closed', 'the stream is closed');
      try {
        await stream.sink(prefixed(outgoing));
      } catch (error) {
        throw stream.status === 'open' ? broken(error) : streamError(error, cap);
      }
    },
    abort: (reason) => stream.abort(reason),
  };
}
