import { waitFor } from '../../src/common/wait.js';
import type { Libp2pTransport } from '../../src/peer/libp2p-transport.js';
import { startOpenPeer } from '../helpers/test-peer.js';
import { transportCompliance } from './transport-compliance.js';

/** Real libp2p hosts on loopback, each dialled by every later one; time is real, so cases poll. */
transportCompliance('libp2p', async ({ size, check, log }) => {
  const started: Libp2pTransport[] = [];
  const join = async () => {
    const transport = await startOpenPeer({ check, log });
    started.push(transport);
    return transport;
  };
  const nodes: Libp2pTransport[] = [];
  for (let i = 0; i < size; i++) nodes.push(await join());
  for (const [i, node] of nodes.entries())
    for (const earlier of nodes.slice(0, i)) await node.connect(earlier.listenAddresses()[0]!);
  return {
    nodes,
    join,
    until: (check, what) => waitFor(check, { timeoutMs: 10_000, intervalMs: 5, what }),
    stop: async () => {
      await Promise.all(started.map((transport) => transport.stop()));
    },
  };
});
