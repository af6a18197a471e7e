import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/common/clock.js';
import type { NodeId } from '../../src/common/ids.js';
import { silentLogger } from '../../src/common/log.js';
import { seededRng } from '../../src/common/random.js';
import { waitFor } from '../../src/common/wait.js';
import { createGossipService, type GossipService } from '../../src/membership/gossip-service.js';
import { createHealthCollector } from '../../src/membership/health-collector.js';
import type { Libp2pTransport } from '../../src/peer/libp2p-transport.js';
import { startOpenPeer } from '../helpers/test-peer.js';

const running: { transport: Libp2pTransport; service: GossipService }[] = [];
afterEach(async () => {
  for (const { transport, service } of running.splice(0)) {
    service.stop();
    await transport.stop();
  }
});

describe('gossip service over libp2p', () => {
  it('sees its peers alive with their health, and a stopped one dead', async () => {
    const transports = await Promise.all([
      startOpenPeer(),
      startOpenPeer(),
      startOpenPeer(),
      startOpenPeer(),
    ]);
    const ids: NodeId[] = transports.map((transport) => transport.self);
    for (const transport of transports.slice(1))
      await transport.connect(transports[0]!.listenAddresses()[0]!);
    for (const [i, transport] of transports.entries()) {
      const health = createHealthCollector(
        { storageDirs: [tmpdir()] },
        {
          clock: systemClock,
          log: silentLogger,
          instances: () => ({ running: 0, memoryBytes: 0 }),
          configSerial: () => 1,
          raftRole: () => 'none',
        },
      );
      const service = createGossipService(
        // Fast timings, so that the test takes seconds (detection floor 4 × 500 ms), with a probe timeout a
        // loaded machine still meets: at 100 ms, members of a busy 2-core run flapped suspect and back.
        { config: { probeIntervalMs: 500, probeTimeoutMs: 400, heartbeatIntervalMs: 300 } },
        {
          transport,
          clock: systemClock,
          rng: seededRng(i + 1),
          log: silentLogger,
          health: () => health.current(),
          members: () => ids,
        },
      );
      running.push({ transport, service });
    }
    const observer = running[0]!.service;
    await waitFor(
      () => {
        const view = observer.view();
        return view.every((member) => member.state === 'alive' && member.health !== undefined)
          ? view
          : undefined;
      },
      { timeoutMs: 30_000, what: 'every member alive with a health record' },
    );

    const victim = running.pop()!;
    victim.service.stop();
    await victim.transport.stop();
    const dead = await waitFor(
      () =>
        running.every(
          ({ service }) =>
            service.view().find((member) => member.id === victim.transport.self)?.state === 'dead',
        ) || undefined,
      { timeoutMs: 30_000, what: 'every survivor to mark the stopped peer dead' },
    );
    expect(dead).toBe(true);
    expect(
      observer
        .view()
        .filter((member) => member.state !== 'alive')
        .map((member) => member.id),
    ).toEqual([victim.transport.self]);
  }, 80_000);
});
