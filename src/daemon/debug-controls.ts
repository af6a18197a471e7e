import type { Clock } from '../common/clock.js';
import { parseNodeId } from '../peer/identity.js';
import type { PeerBlocklist } from '../peer/peer-block.js';
import type { Transport } from '../peer/transport.js';
import type { ControlHandlers } from './control-server.js';
import { type ProbeRecorder, preciseWallMs, probeTopic, runEchoLoad } from './diagnostics.js';

type DebugOp = 'debug-echo' | 'debug-probe' | 'debug-probe-stats' | 'debug-partition';

export interface DebugControlDeps {
  readonly transport: Pick<Transport, 'request' | 'publish'>;
  readonly probes: Pick<ProbeRecorder, 'take'>;
  readonly blocklist: Pick<PeerBlocklist, 'replace'>;
  /** Closes every open connection to the peer, so that a partition starts at once. */
  readonly hangUp: (peer: string) => Promise<void>;
  readonly clock: Pick<Clock, 'setTimer'>;
}

/** `corral debug`: load and delivery measurements, and partitions made without root (the benchmarks' tools). */
export function debugControls(deps: DebugControlDeps): Pick<ControlHandlers, DebugOp> {
  const { transport, probes, blocklist, hangUp, clock } = deps;
  return {
    'debug-echo': (request) => runEchoLoad(transport, { ...request, peer: parseNodeId(request.peer) }),
    async 'debug-probe'(request) {
      for (let seq = 0; seq < request.count; seq++) {
        await transport.publish(probeTopic, { seq, sentAtMs: preciseWallMs() });
        if (request.intervalMs > 0)
          await new Promise((resolve) => clock.setTimer(request.intervalMs, () => resolve(undefined)));
      }
      return { published: request.count };
    },
    'debug-probe-stats': async () => ({ delaysMs: probes.take() }),
    async 'debug-partition'(request) {
      const added = blocklist.replace(request.peers.map(parseNodeId));
      await Promise.all(added.map((peer) => hangUp(peer).catch(() => undefined)));
      return { blocked: request.peers.length };
    },
  };
}
