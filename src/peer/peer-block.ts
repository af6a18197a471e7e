import type { ConnectionGater, PeerId } from '@libp2p/interface';
import { CorralError } from '../common/errors.js';

/** Peers one call may block; far more than any cluster has members. */
export const MAX_BLOCKED_PEERS = 1024;

/**
 * Peers this node refuses to talk to, for partition simulations run without root (with root they drop
 * packets with iptables instead). As the libp2p connection gater it refuses dials to them and their
 * connections; the caller hangs up what was already open. A libp2p connection carries both directions, so a
 * blocked peer is cut off both ways.
 */
export class PeerBlocklist {
  private blocked: ReadonlySet<string> = new Set();

  /** Replaces the blocked set; returns the peers newly blocked, whose open connections must be closed. */
  replace(peers: readonly string[]): string[] {
    if (peers.length > MAX_BLOCKED_PEERS)
      throw new CorralError('bad_request', `block at most ${MAX_BLOCKED_PEERS} peers at once`);
    const previous = this.blocked;
    this.blocked = new Set(peers);
    return peers.filter((peer) => !previous.has(peer));
  }

  has(peer: PeerId): boolean {
    return this.blocked.has(peer.toString());
  }

  gater(): ConnectionGater {
    return {
      denyDialPeer: (peer) => this.has(peer),
      denyInboundEncryptedConnection: (peer) => this.has(peer),
      denyOutboundEncryptedConnection: (peer) => this.has(peer),
    };
  }
}
