import type { Clock } from '../common/clock.js';
import type { NodeId } from '../common/ids.js';
import type { Transport } from '../peer/transport.js';

/**
 * When this node last had a connection to each peer: now while connected, the moment it dropped otherwise,
 * and this daemon's start for a peer never seen (so a grace period counts from our own start, not from 1970).
 */
export class ConnectionLiveness {
  private readonly droppedAtMs = new Map<NodeId, number>();
  private readonly connected = new Set<NodeId>();
  private readonly startedMs: number;

  constructor(
    transport: Transport,
    private readonly clock: Clock,
  ) {
    this.startedMs = clock.wallMs();
    for (const peer of transport.connectedPeers()) this.connected.add(peer);
    transport.onPeer((event) => {
      if (event.type === 'connected') this.connected.add(event.peer);
      if (event.type === 'disconnected' && this.connected.delete(event.peer))
        this.droppedAtMs.set(event.peer, this.clock.wallMs());
    });
  }

  lastHeardMs(peer: NodeId): number {
    if (this.connected.has(peer)) return this.clock.wallMs();
    return this.droppedAtMs.get(peer) ?? this.startedMs;
  }

  isConnected(peer: NodeId): boolean {
    return this.connected.has(peer);
  }
}
