import type { NodeId } from '../common/ids.js';
import type { Credentials } from './callers.js';
import type { MessageProtocol, RequestProtocol, StreamProtocol, Topic } from './protocol.js';

export interface RequestOptions {
  readonly signal?: AbortSignal;
  /** Overrides the protocol's default deadline. */
  readonly timeoutMs?: number;
  /** What the protocol's callers rule asks of us (a master's term, an enrolment code, a join token). */
  readonly credentials?: Credentials;
}

export interface RequestContext {
  readonly from: NodeId;
  /** What the caller showed; the transport has already checked it against the protocol's callers. */
  readonly credentials: Credentials;
  /** Aborted at the protocol's deadline, when the caller goes away, or when the transport stops. */
  readonly signal: AbortSignal;
}

/** Answers one request; a thrown CorralError travels back to the caller as a typed error frame. */
export type RequestHandler<Req, Res> = (request: Req, context: RequestContext) => Promise<Res>;

export type MessageHandler<M> = (from: NodeId, message: M) => void;

export type PeerEvent =
  | { readonly type: 'connected' | 'disconnected'; readonly peer: NodeId }
  /** The peer told us where it listens (libp2p identify); addresses change when a node restarts elsewhere. */
  | { readonly type: 'identified'; readonly peer: NodeId; readonly addresses: readonly string[] };

/**
 * One side of a stream of frames: what the peer sends, and a way to send ours. A frame over the protocol's
 * cap, either way, or an abort breaks the stream: the peer's frames then fail with closed.
 */
export interface FrameStream {
  /** The peer's frames, in order, until it ends its side; fails when the stream breaks. */
  readonly frames: AsyncIterable<Uint8Array>;
  /** Sends these frames in order, then ends our side. */
  send(frames: AsyncIterable<Uint8Array>): Promise<void>;
  /** Ends both sides at once. */
  abort(reason: Error): void;
}

export type StreamHandler = (stream: FrameStream, from: NodeId) => void;

/**
 * How the layers above the peer layer talk to other nodes. Every payload is a validated, size-capped
 * CBOR frame; the libp2p and in-memory implementations behave alike (test/peer/transport-compliance.ts holds
 * both to it), so the simulator runs the real code.
 */
export interface Transport {
  readonly self: NodeId;
  /** Sends one request and waits for its answer; rejects with a CorralError (timeout, unreachable, or the remote's error). */
  request<Req, Res>(
    peer: NodeId,
    protocol: RequestProtocol<Req, Res>,
    body: Req,
    options?: RequestOptions,
  ): Promise<Res>;
  /** Serves a protocol; each request reaches the handler only once the protocol's callers rule admits it. */
  handle<Req, Res>(protocol: RequestProtocol<Req, Res>, handler: RequestHandler<Req, Res>): void;
  /** Checks that a peer answers (a ping); resolves to the round trip in ms, rejects with a CorralError. */
  ping(peer: NodeId, options?: RequestOptions): Promise<number>;
  /**
   * Queues a one-way message on the long-lived stream to that peer. Delivery is best effort: messages are
   * kept in order while the stream lives and dropped when it breaks or its queue is full, as with datagrams.
   * A message over the protocol's cap is logged and dropped here.
   */
  send<M>(peer: NodeId, protocol: MessageProtocol<M>, message: M): void;
  onMessage<M>(protocol: MessageProtocol<M>, handler: MessageHandler<M>): void;
  /**
   * Opens a stream of frames to that peer; it is the peer's handler for the protocol that answers. Rejects
   * with unknown_protocol when the peer serves none; a caller the peer refuses sees the stream reset.
   */
  openStream(peer: NodeId, protocol: StreamProtocol, options?: RequestOptions): Promise<FrameStream>;
  handleStream(protocol: StreamProtocol, handler: StreamHandler): void;
  publish<M>(topic: Topic<M>, message: M): Promise<void>;
  /** Returns the function that unsubscribes. */
  subscribe<M>(topic: Topic<M>, handler: MessageHandler<M>): () => void;
  onPeer(handler: (event: PeerEvent) => void): () => void;
  connectedPeers(): NodeId[];
  /** Connects to an address whose owner we may not know yet; resolves to the owner's ID. */
  connect(address: string, options?: RequestOptions): Promise<NodeId>;
  /**
   * Asks the cluster where a peer listens now (kad-dht peer routing), even one this node is not connected to
   * or knows only old addresses of; rejects with not_found when no one knows it.
   */
  findPeer(peer: NodeId, options?: RequestOptions): Promise<string[]>;
  /**
   * Records where a peer listens and keeps a connection to it, reconnecting when it drops; when those
   * addresses do not answer, it looks the peer up with findPeer.
   */
  keepConnected(peer: NodeId, addresses: readonly string[]): Promise<void>;
  /** The addresses other nodes can reach this one at. */
  listenAddresses(): string[];
  stop(): Promise<void>;
}
