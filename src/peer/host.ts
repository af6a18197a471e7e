import { type GossipsubEvents, gossipsub } from '@chainsafe/libp2p-gossipsub';
import { yamux } from '@chainsafe/libp2p-yamux';
import { type Identify, identify } from '@libp2p/identify';
import type { Libp2p, PubSub } from '@libp2p/interface';
import { type KadDHT, kadDHT, passthroughMapper } from '@libp2p/kad-dht';
import { type Ping, ping } from '@libp2p/ping';
import { type TCPSocketOptions, tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { type GateInit, gatedNoise } from './gated-encrypter.js';
import type { NodeIdentity } from './identity.js';
import type { PeerBlocklist } from './peer-block.js';
import { sendWindowUpdatesAtHalf } from './yamux-window-updates.js';

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
  sendWindowUpdatesAtHalf();
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
    // libp2p's connection monitor opens a ping stream on every connection every 10 s, and it pings under
    // /ipfs/, a protocol no node here serves: each try was a stream, a refused negotiation and a reset, four
    // a second on each node of a 20-node cluster. SWIM's probes already ping every member over the RPC
    // channel, and a ping that times out hangs up the connection (libp2p-transport.ts), so the monitor is off.
    connectionMonitor: { enabled: false },
    services: {
      // One identify exchange each way per connection, as libp2p's defaults (and the spec) have it.
      identify: identify({ protocolPrefix: 'corral', maxInboundStreams: 1, maxOutboundStreams: 1 }),
      // kad-dht's routing table pings its peers (SWIM's probes travel on the RPC channel instead).
      ping: ping({ protocolPrefix: 'corral' }),
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
        // Every member keeps a connection to every other and publishes to all of them itself (flood publish),
        // so the mesh only relays around a link that is down. Gossipsub's public-network degrees (6 mesh
        // peers, up to 12) made each node receive every heartbeat seven or eight times, each copy a frame to
        // decrypt and decode, and most of an idle daemon's work. Two relays (at least two, at most four) still
        // cover a broken link; three, as until 2026-12-08, cost idle members a tenth more CPU at 20 nodes.
        D: 2,
        Dlo: 2,
        Dhi: 4,
        Dscore: 1,
        Dout: 1,
        // No IHAVE gossip: it offers peers outside the mesh the IDs of recent messages they missed, but here every
        // peer had the message from its publisher and from the mesh, so it was only a frame each way to a few
        // peers every second (a quarter of a member's gossip frames at 20 members).
        Dlazy: 0,
        gossipFactor: 0,
        // IDONTWANT (gossipsub 1.2) tells every mesh peer, for each message over the threshold, not to send it:
        // a control frame per peer per message, sent after the copies it means to stop were already on their way
        // (heartbeats are ~800 bytes, over the default 512). Only messages large enough to be worth it use it.
        idontwantMinDataSize: 16 * 1024,
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
