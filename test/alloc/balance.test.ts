import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { balanceGroup, defaultBalanceOptions } from '../../src/alloc/balance.js';
import { generateCluster } from '../../src/alloc/generate.js';
import { splitJobSets } from '../../src/alloc/jobs.js';
import { scoreBreakdown } from '../../src/alloc/metrics.js';
import { findViolations } from '../../src/alloc/policy.js';
import { buildState, groupNodes, toSnapshot } from '../../src/alloc/state.js';
import { parseTextBackend } from '../../src/alloc/text-backend.js';

const small = () =>
  buildState(generateCluster({ nodes: 10, minInstancesPerNode: 10, maxInstancesPerNode: 20, seed: 3 }));

describe('balancing', () => {
  it('follows hbal move for move on a small group', () => {
    const state = small();
    const result = balanceGroup(state, groupNodes(state, 0));
    // hbal 3.0.2 on the same cluster: "improved from 33.66348856 to 2.04676173", 37 moves.
    expect(result.initialScore).toBeCloseTo(33.66348856, 7);
    expect(result.finalScore).toBeCloseTo(2.04676173, 7);
    expect(result.steps).toHaveLength(37);
  });

  it('leaves no broken constraint and agrees with a fresh load of its result', () => {
    const state = small();
    const result = balanceGroup(state, groupNodes(state, 0));
    expect(findViolations(result.final.nodes, result.final.instances)).toEqual([]);
    const reloaded = buildState(toSnapshot(result.final));
    expect(scoreBreakdown(reloaded.nodes).score).toBeCloseTo(result.finalScore, 9);
  });

  it('lowers the score with every step and respects --max-length', () => {
    const state = small();
    const result = balanceGroup(state, groupNodes(state, 0), { ...defaultBalanceOptions, maxLength: 5 });
    expect(result.steps).toHaveLength(5);
    const scores = [result.initialScore, ...result.steps.map((s) => s.score)];
    for (let k = 1; k < scores.length; k++) expect(scores[k]).toBeLessThan(scores[k - 1] as number);
  });

  it('moves only failovers without disk moves, and nothing of an excluded instance', () => {
    const state = buildState(
      generateCluster({ nodes: 10, minInstancesPerNode: 10, maxInstancesPerNode: 20, seed: 3 }),
      {
        excludedInstances: ['inst-1', 'inst-2'],
      },
    );
    const result = balanceGroup(state, groupNodes(state, 0), { ...defaultBalanceOptions, diskMoves: false });
    expect(result.steps.length).toBeGreaterThan(0);
    expect(result.steps.every((s) => s.move.kind === 'failover')).toBe(true);
    expect(result.steps.some((s) => s.instance === 0 || s.instance === 1)).toBe(false);
  });

  it('groups steps that touch disjoint nodes into one job set', () => {
    const state = small();
    const sets = splitJobSets(balanceGroup(state, groupNodes(state, 0)).steps);
    for (const set of sets) {
      const perStep = set.map(
        (s) => new Set([s.from.primary, s.from.secondary, s.to.primary, s.to.secondary]),
      );
      const all = perStep.flatMap((nodes) => [...nodes]);
      expect(new Set(all).size).toBe(all.length);
    }
  });

  it('finds nothing to do where hbal finds nothing (exclusion tags, N+1 failures)', () => {
    for (const name of ['hbal-excl-tags.data', 'n1-failure.data']) {
      const state = buildState(
        parseTextBackend(readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8'), name),
      );
      expect(balanceGroup(state, groupNodes(state, 0)).steps).toEqual([]);
    }
  });

  it('evacuates an offline node in --evac-mode', () => {
    const snapshot = generateCluster({ nodes: 8, minInstancesPerNode: 6, maxInstancesPerNode: 10, seed: 5 });
    const offline = {
      ...snapshot,
      nodes: snapshot.nodes.map((n, k) => (k === 0 ? { ...n, offline: true } : n)),
    };
    const state = buildState(offline);
    const result = balanceGroup(state, groupNodes(state, 0), { ...defaultBalanceOptions, evacMode: true });
    const offlineNode = result.final.nodes[0];
    expect(offlineNode?.pCount).toBe(0);
  });
});
