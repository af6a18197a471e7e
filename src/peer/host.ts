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
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: options.maxConnections ?? 512,
      // Cluster peers on one host share an address; libp2p's default of 5 new connections a second per
      // address would refuse members during a restart storm.
      inboundConnectionThreshold: 200,
      maxIncomingPendingConnections: 64,
    },
    services: {
      identify: identify({ protocolPrefix: 'corral' }),
      ping: hangUpOnTimeout(ping({ protocolPrefix: 'corral' })),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        fallbackToFloodsub: false,
        globalSignaturePolicy: 'StrictSign',
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
      }),
    },
  });
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
