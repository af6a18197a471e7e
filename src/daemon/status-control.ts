import { CORRAL_VERSION } from '../common/version.js';
import type { MemberStore } from '../membership/member-store.js';
import type { Transport } from '../peer/transport.js';
import type { DaemonStatus } from './control-replies.js';
import type { ControlHandlers } from './control-server.js';

export interface StatusControlDeps {
  readonly transport: Pick<Transport, 'self' | 'connectedPeers' | 'listenAddresses'>;
  readonly members: Pick<MemberStore, 'list'>;
  readonly name: string;
  /** performance.now() when the daemon started, for its uptime. */
  readonly startedMs: number;
}

/** `corral status`: who this daemon is, where it listens, which members it is connected to, its memory. */
export function statusControl(deps: StatusControlDeps): Pick<ControlHandlers, 'status'> {
  return {
    async status(request) {
      // For memory checks: a heap figure after a full collection says what is really retained.
      if (request.collectGarbage && typeof globalThis.gc === 'function') globalThis.gc();
      return daemonStatus(deps);
    },
  };
}

function daemonStatus({ transport, members, name, startedMs }: StatusControlDeps): DaemonStatus {
  const connected = new Set(transport.connectedPeers());
  const memory = process.memoryUsage();
  return {
    nodeId: transport.self,
    name,
    version: CORRAL_VERSION,
    addresses: transport.listenAddresses(),
    uptimeMs: Math.round(performance.now() - startedMs),
    members: members.list().map((member) => ({
      id: member.id,
      addrs: [...member.addrs],
      connected: member.id === transport.self || connected.has(member.id),
    })),
    memory: { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed },
  };
}
