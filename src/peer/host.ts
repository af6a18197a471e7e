import { type GossipsubEvents, gossipsub } from '@chainsafe/libp2p-gossipsub';
import { yamux } from '@chainsafe/libp2p-yamux';
import { type Identify, identify } from '@libp2p/identify';
import type { Libp2p, PubSub } from '@libp2p/interface';
import { type KadDHT, kadDHT, passthroughMapper } from '@libp2p/kad-dht';
import { type Ping, ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { createLibp2p } from 'libp2p';
import { type GateInit, gatedNoise } from './gated-encrypter.js';
import type { NodeIdentity } from './identity.js';

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
}

/** The libp2p node every Corral daemon runs: TCP, Noise behind the cluster gate, Yamux, gossipsub and kad-dht. */
export async function createHost(options: HostOptions): Promise<Host> {
  return createLibp2p({
    privateKey: options.identity.privateKey,
    addresses: { listen: [...options.listen] },
    transports: [tcp()],
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
      ping: ping({ protocolPrefix: 'corral' }),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        fallbackToFloodsub: false,
        globalSignaturePolicy: 'StrictSign',
        maxInboundDataLength: options.maxGossipBytes ?? 1024 * 1024,
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
