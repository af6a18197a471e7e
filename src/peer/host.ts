import { type GossipsubEvents, gossipsub } from '@chainsafe/libp2p-gossipsub';
import { yamux } from '@chainsafe/libp2p-yamux';
import { type Identify, identify } from '@libp2p/identify';
import { isPeerId, type Libp2p, type PubSub } from '@libp2p/interface';
import { type KadDHT, kadDHT, passthroughMapper } from '@libp2p/kad-dht';
import { type Ping, type PingComponents, ping } from '@libp2p/ping';
import { type TCPSocketOptions, tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { type GateInit, gatedNoise } from './gated-encrypter.js';
import type { NodeIdentity } from './identity.js';
import type { PeerBlocklist } from './peer-block.js';

export type HostServices = {
  identify: Identify;
  ping: Ping;
  pubsub: PubSub<GossipsubEvents>;
  dht: KadDHT;
};

export type Host = Libp2p<HostServices>;

export interface HostOptions {
  readonly identity: NodeIdentity;
  /** Multiaddrs to listen on, e.g. /ip4/127.0.0.2/tcp/7400. */
  readonly listen: readonly string[];
  readonly gate: GateInit;
  readonly maxConnections?: number;
  /** Gossip frames larger than this are dropped on arrival. */
  readonly maxGossipBytes?: number;
  /** Peers refused at the connection gater (partition simulations without root). */
  readonly blocklist?: PeerBlocklist;
}

/** The libp2p node every Corral daemon runs: TCP, Noise behind the cluster gate, Yamux, gossipsub and kad-dht. */
export async function createHost(options: HostOptions): Promise<Host> {
  return createLibp2p({
    privateKey: options.identity.privateKey,
    addresses: { listen: [...options.listen] },
    transports: [tcp({ dialOpts: dialFrom(options.listen) })],
    ...(options.blocklist !== undefined && { connectionGater: options.blocklist.gater() }),
    connectionEncrypters: [gatedNoise(options.gate)],
    // Streams any one connection may carry at once, whatever their protocol (yamux's default is 1,000). A
    // member opens a handful: one RPC channel each way, one message stream per message protocol, gossip,
    // identify, ping, the odd DHT query, console and dump transfers. More are reset at once.
    streamMuxers: [yamux({ maxInboundStreams: 256, maxOutboundStreams: 256 })],
    connectionManager: {
      // Every node keeps a connection to every other (cluster-service.ts, followConfig), so a cluster at its
      // limit of 1,024 members needs 1,023 on each node; twice that leaves room for two nodes that dial each
      // other at once (two connections until one is pruned) and for joiners. Past it, libp2p refuses inbound
      // connections and prunes its least valued ones.
      maxConnections: options.maxConnections ?? 2048,
      // Connections still in their Noise handshake. One that never finishes holds its slot for libp2p's
      // upgrade timeout (10 s), so a stranger holding them all could keep members out that long. A handshake
      // takes milliseconds on a LAN, so 128 at a time still let a whole 1,000-node cluster back in within a
      // few of its reconnection retries after this node restarts.
      maxIncomingPendingConnections: 128,
      // New inbound connections a second from one IP address. A member opens one and keeps it; only nodes
      // that share an address (behind NAT, in containers, on a test host) open many, and libp2p's default of 5
      // would refuse members of such a cluster during a restart storm. 200 a second still admits a
      // 1,000-node cluster behind one address within seconds, and keeps one host from flooding the gate.
      inboundConnectionThreshold: 200,
    },
    services: {
      // One identify exchange each way per connection, as libp2p's defaults (and the spec) have it.
      identify: identify({ protocolPrefix: 'corral', maxInboundStreams: 1, maxOutboundStreams: 1 }),
      // SWIM may ping a peer for itself while it pings the same peer for another node (an indirect probe):
      // two outbound pings per connection, and twice that inbound for the two sides' overlaps. With libp2p's
      // default of one outbound, the second ping would fail and count as the peer not answering.
      ping: hangUpOnTimeout(ping({ protocolPrefix: 'corral', maxInboundStreams: 4, maxOutboundStreams: 2 })),
      // Gossipsub's own stream limits stay libp2p's (32 in, 64 out a connection): it keeps one stream each
      // way per peer, but after a partition heals it opens new ones while stale ones may still count, and a
      // tight limit there could keep a healed node out of the gossip until its connection is replaced.
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        fallbackToFloodsub: false,
        globalSignaturePolicy: 'StrictSign',
        fastMsgIdFn: sourceAndSeqno,
        maxInboundDataLength: options.maxGossipBytes ?? 1024 * 1024,
        // Gossipsub's guard against Sybils on a public network scores down peers that share an IP (past 10,
        // by the square of the surplus) until their messages are dropped. Only cluster members get past the
        // gate here, and members may well share one address (behind NAT, in containers, on a test host):
        // with 20 on one IP, each node heard the heartbeats of 3 others and a user event reached no one.
        scoreParams: { IPColocationFactorWeight: 0 },
      }),
      dht: kadDHT({
        protocol: '/corral/kad/1.0.0',
        clientMode: false,
        // Cluster addresses are private by nature; the public DHT's filter would drop every one of them.
        peerInfoMapper: passthroughMapper,
        // libp2p's defaults, on purpose: the routing-table refresh queries every prefix length at once, and in
        // a small cluster those queries all go to the same few peers.
        maxInboundStreams: 32,
        maxOutboundStreams: 64,
      }),
    },
  });
}

/**
 * Gossipsub checks a message's signature before it looks the message up among those already seen, unless a
 * fast ID lets it drop the copy first: every node receives each heartbeat from several mesh peers, and
 * verifying each copy (ed25519, 10 nodes) took a seventh of an idle daemon's CPU. Source and sequence number
 * are what a signed message's ID is made of anyway; only a copy that passed validation is remembered, so a
 * forgery cannot take a real message's place.
 */
function sourceAndSeqno(message: { from?: Uint8Array; seqno?: Uint8Array }): string {
  const from = message.from ?? new Uint8Array();
  const seqno = message.seqno ?? new Uint8Array();
  return `${Buffer.from(from.buffer, from.byteOffset, from.byteLength).toString('base64')}/${Buffer.from(seqno.buffer, seqno.byteOffset, seqno.byteLength).toString('base64')}`;
}

/**
 * A node that listens on one specific address dials from it too, so that its peers (and firewall rules, and
 * the partition simulations' iptables rules) see one address per node; otherwise the kernel picks the source.
 */
function dialFrom(listen: readonly string[]): TCPSocketOptions {
  const only = listen.length === 1 ? multiaddr(listen[0]!).toOptions() : undefined;
  if (only === undefined || only.host === '0.0.0.0' || only.host === '::') return {};
  // @libp2p/tcp hands these options to net.connect as they are; its type leaves localAddress out.
  const options: TCPSocketOptions & { localAddress: string } = { localAddress: only.host };
  return options;
}

/**
 * A ping that times out hangs up the connections to that peer, so the next one dials afresh. After a
 * partition heals, an old TCP connection may sit in retransmission backoff for seconds more (its timer
 * doubles each time), which holds back the very heartbeat that would refute a suspicion; a new connection
 * gets through at once. The connection is dropped only on a timeout, not on a refusal or a closed stream.
 */
function hangUpOnTimeout(
  factory: (components: PingComponents) => Ping,
): (components: PingComponents) => Ping {
  return (components) => {
    const service = factory(components);
    const inner = service.ping.bind(service);
    // Patched on the instance, not wrapped: libp2p starts and stops the service object itself.
    service.ping = async (peer, options) => {
      try {
        return await inner(peer, options);
      } catch (error) {
        if (options?.signal?.aborted && isPeerId(peer))
          void components.connectionManager.closeConnections(peer).catch(() => undefined);
        throw error;
      }
    };
    return service;
  };
}
