import { describe, expect, it } from 'vitest';
import { runHaSimulation } from './ha-sim.js';

/** Seeds run in `npm test`; `npm run sim -- ha --seeds N` runs more. */
const SEEDS = 200;

describe('automatic failover under crashes, partitions, message loss and drifting clocks', () => {
  it(`never runs an instance twice, never outlives a lease the master counts run out, never starts a stale copy, loses no acknowledged write, and moves a dead node's instances within the bound (${SEEDS} seeds)`, async () => {
    const failures: string[] = [];
    const failovers: number[] = [];
    for (let seed = 1; seed <= SEEDS; seed++) {
      const result = await runHaSimulation({ seed });
      failovers.push(...result.failoverMs);
      if (result.violations.length > 0)
        failures.push(
          `seed ${seed}: ${result.violations.join('; ')} [${result.faults.join(', ')}; ${result.death}] replay: npm run sim -- ha --seed ${seed}`,
        );
    }
    expect(failures).toEqual([]);
    // The final deaths did move instances: most seeds kill a node that was primary to some.
    expect(failovers.length).toBeGreaterThan(SEEDS);
  }, 600_000);

  it('replays a seed exactly', async () => {
    expect(await runHaSimulation({ seed: 7 })).toEqual(await runHaSimulation({ seed: 7 }));
  }, 60_000);
});
