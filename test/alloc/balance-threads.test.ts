import { describe, expect, it } from 'vitest';
import { balanceGroup, defaultBalanceOptions } from '../../src/alloc/balance.js';
import type * as Threads from '../../src/alloc/balance-threads.js';
import { generateCluster } from '../../src/alloc/generate.js';
import { buildState, groupNodes } from '../../src/alloc/state.js';

// The threads run compiled code: the module comes from dist/ (npm test builds first), so that its worker
// script is there beside it.
const { balanceGroupInThreads } = (await import(
  new URL('../../dist/src/alloc/balance-threads.js', import.meta.url).href
)) as typeof Threads;

/** A seeded generated cluster, and its one group's nodes. */
function generated(nodes: number, maxInstancesPerNode: number, seed: number) {
  const snapshot = generateCluster({ nodes, minInstancesPerNode: 10, maxInstancesPerNode, seed });
  const state = buildState(snapshot);
  return { snapshot, state, members: groupNodes(state, 0) };
}

describe('balancing in threads', () => {
  it('makes the same moves with the same scores as the search in one thread', async () => {
    // 100 nodes: large enough for the pruned search and for threads.
    const { snapshot, state, members } = generated(100, 40, 7);
    const options = { ...defaultBalanceOptions, maxLength: 150 };
    const alone = balanceGroup(state, members, options);
    const threaded = await balanceGroupInThreads(snapshot, {}, members, options, 2);
    expect(threaded.steps.length).toBe(150);
    expect(threaded.steps).toEqual(alone.steps);
    expect(threaded.finalScore).toBe(alone.finalScore);
  });

  it('runs a group too small for threads in this thread, with the same result', async () => {
    const { snapshot, state, members } = generated(10, 20, 3);
    const alone = balanceGroup(state, members);
    const threaded = await balanceGroupInThreads(snapshot, {}, members, defaultBalanceOptions, 2);
    expect(threaded.steps).toEqual(alone.steps);
  });

  it('gives up with the reason when a thread cannot start', async () => {
    const { snapshot, members } = generated(100, 40, 7);
    const missing = new URL('./no-such-worker.js', import.meta.url);
    await expect(
      balanceGroupInThreads(snapshot, {}, members, defaultBalanceOptions, 2, missing),
    ).rejects.toThrow(/no-such-worker|Cannot find module/);
  });
});
