import { CorralError } from '../../src/common/errors.js';
import { asNodeId } from '../../src/common/ids.js';
import { seededRng } from '../../src/common/random.js';
import { SimClock } from '../../src/common/sim-clock.js';
import { MemoryHub, type MemoryTransport, type Packet } from '../../src/peer/memory-transport.js';
import { SimNetwork } from '../../src/peer/sim-network.js';
import { transportCompliance } from './transport-compliance.js';

/** Simulated time a case may take before it is judged stuck: far beyond any deadline the suite sets. */
const SIMULATED_LIMIT_MS = 60_000;

/**
 * The simulator's transports on a healthy simulated network: time moves only as `until` steps the clock,
 * one timer at a time, letting promise callbacks run in between.
 */
transportCompliance('in-memory', async ({ size, check, log }) => {
  const clock = new SimClock();
  const hub = new MemoryHub(new SimNetwork<Packet>(clock, seededRng(1)), log, () => check);
  let joined = 0;
  const join = async (): Promise<MemoryTransport> => hub.join(asNodeId(`node-${joined++}`));
  const nodes: MemoryTransport[] = [];
  for (let i = 0; i < size; i++) nodes.push(await join());
  return {
    nodes,
    join,
    async until(check, what) {
      const limitMs = clock.monotonicMs() + SIMULATED_LIMIT_MS;
      for (;;) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        const value = check();
        if (value !== undefined) return value;
        const dueMs = clock.nextDueMs();
        if (dueMs === undefined || dueMs > limitMs)
          throw new CorralError('timeout', `nothing left to happen, still waiting for ${what}`);
        clock.step();
      }
    },
    stop: async () => {
      for (const transport of [...hub.transports.values()]) await transport.stop();
    },
  };
});
