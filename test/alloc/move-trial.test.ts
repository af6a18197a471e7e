import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateCluster } from '../../src/alloc/generate.js';
import { ScoreAccumulator } from '../../src/alloc/metrics.js';
import { MoveTrial } from '../../src/alloc/move-trial.js';
import { applyMove, type Move } from '../../src/alloc/moves.js';
import { buildState, type ClusterState, isFailMode, noNode } from '../../src/alloc/state.js';
import { parseTextBackend } from '../../src/alloc/text-backend.js';

const dataDir = new URL('../ganeti-htools/data/', import.meta.url);

/** htools' test clusters that load: tags, locations, forthcoming instances, exclusive storage, offline nodes. */
function htoolsClusters(): [string, ClusterState][] {
  const clusters: [string, ClusterState][] = [];
  for (const name of readdirSync(dataDir).filter((f) => f.endsWith('.data'))) {
    try {
      const text = readFileSync(new URL(name, dataDir), 'utf8');
      clusters.push([name, buildState(parseTextBackend(text, name, { allowDuplicateInstances: true }))]);
    } catch {
      // The files made to be refused.
    }
  }
  return clusters;
}

function everyMove(node: number): Move[] {
  return [
    { kind: 'failover' },
    { kind: 'failover-to-any', node },
    { kind: 'replace-primary', node },
    { kind: 'replace-secondary', node },
    { kind: 'replace-and-failover', node },
    { kind: 'failover-and-replace', node },
  ];
}

/** What a trial makes of a move, and what applyMove and the accumulator make of it: an error, a refusal or a score. */
function both(
  state: ClusterState,
  acc: ScoreAccumulator,
  trial: MoveTrial,
  inst: number,
  move: Move,
  force: boolean,
) {
  const instance = state.instances[inst];
  if (instance === undefined) throw new RangeError('no instance');
  const built = (() => {
    try {
      const result = applyMove(state.nodes, instance, move, force);
      if (isFailMode(result)) return null;
      return { score: acc.trial(result.changes), touched: result.changes.map(([before]) => before.idx) };
    } catch (error) {
      return (error as Error).message;
    }
  })();
  const tried = (() => {
    try {
      const score = trial.score(state.nodes, instance, move, force, acc);
      return score === null ? null : { score, touched: trial.touchedNodes() };
    } catch (error) {
      return (error as Error).message;
    }
  })();
  return { built, tried };
}

describe('MoveTrial', () => {
  it('scores every move of every htools test cluster as applyMove does, bit for bit', () => {
    let compared = 0;
    for (const [name, state] of htoolsClusters()) {
      const acc = new ScoreAccumulator(state.nodes);
      const trial = new MoveTrial();
      for (const inst of state.instances)
        for (const target of state.nodes)
          for (const move of everyMove(target.idx))
            for (const force of [false, true]) {
              const { built, tried } = both(state, acc, trial, inst.idx, move, force);
              expect(tried, `${name}: ${inst.name} ${JSON.stringify(move)} force=${force}`).toEqual(built);
              compared++;
            }
    }
    expect(compared).toBeGreaterThan(10_000);
  });

  it('scores a kind of move to many targets as it scores the moves one by one, bit for bit', () => {
    let compared = 0;
    for (const [name, state] of htoolsClusters()) {
      const acc = new ScoreAccumulator(state.nodes);
      const trial = new MoveTrial();
      for (const inst of state.instances) {
        if (inst.sNode === noNode || inst.sNode === inst.pNode) continue;
        const targets = state.nodes.map((n) => n.idx).filter((n) => n !== inst.pNode && n !== inst.sNode);
        for (const kind of [
          'replace-primary',
          'replace-secondary',
          'replace-and-failover',
          'failover-and-replace',
        ] as const)
          for (const force of [false, true]) {
            const scores: (number | null)[] = [];
            trial.scoreTargets(state.nodes, inst, kind, targets, force, acc, scores);
            const oneByOne = targets.map((node) =>
              trial.score(state.nodes, inst, { kind, node }, force, acc),
            );
            expect(scores, `${name}: ${inst.name} ${kind} force=${force}`).toEqual(oneByOne);
            compared += targets.length;
          }
      }
    }
    expect(compared).toBeGreaterThan(1_000);
  });

  it('scores a generated cluster’s moves as applyMove does, bit for bit', () => {
    const state = buildState(
      generateCluster({ nodes: 20, minInstancesPerNode: 5, maxInstancesPerNode: 15, seed: 11 }),
    );
    const acc = new ScoreAccumulator(state.nodes);
    const trial = new MoveTrial();
    for (const inst of state.instances.slice(0, 40))
      for (const target of state.nodes)
        for (const move of everyMove(target.idx)) {
          const { built, tried } = both(state, acc, trial, inst.idx, move, false);
          expect(tried).toEqual(built);
        }
  });
});
