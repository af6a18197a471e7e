import { describe, expect, it } from 'vitest';
import { runMembershipSimulation } from '../../simulations/membership-sim.js';

describe('membership simulation', () => {
  it('converges, detects a killed node on every survivor soon after the suspicion floor, with no false dead', async () => {
    const result = await runMembershipSimulation({ seed: 11, nodes: 60 });
    expect(result).toMatchObject({
      converged: true,
      undetectedBy: 0,
      falseDead: 0,
      heartbeatIntervalMs: 6000,
    });
    expect(result.detectionAllMs).toBeGreaterThanOrEqual(result.suspicionFloorMs);
    // Found by some prober within a few rounds, and the rumour reaches everyone in one hop.
    expect(result.detectionAllMs!).toBeLessThan(result.suspicionFloorMs + 5000);
    expect(result.detectionAllMs! - result.detectionFirstMs!).toBeLessThan(100);
    // 59 heartbeats every 6 s, plus one ping and its answer a second.
    expect(result.messagesPerNodePerSecond.gossip).toBeCloseTo(9.83, 0);
    expect(result.messagesPerNodePerSecond.probe).toBeCloseTo(2, 0);
  });

  it('replays a seed exactly', async () => {
    const figures = async (seed: number) => {
      const { wallMs: _, ...rest } = await runMembershipSimulation({ seed, nodes: 30 });
      return rest;
    };
    expect(await figures(5)).toEqual(await figures(5));
  });
});
