import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { rspecFromISpec, runHspace, tieredSpecMap } from '../../src/alloc/capacity.js';
import { generateCluster } from '../../src/alloc/generate.js';
import { rollPlan } from '../../src/alloc/roll.js';
import { buildState } from '../../src/alloc/state.js';
import { parseTextBackend } from '../../src/alloc/text-backend.js';

const fixture = (name: string): string => readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8');

describe('rolling reboots', () => {
  it('never reboots both nodes of an instance together', () => {
    const state = buildState(
      generateCluster({ nodes: 30, minInstancesPerNode: 4, maxInstancesPerNode: 8, seed: 11 }),
    );
    const groups = rollPlan(state).groups.map((g) => g.nodes);
    expect(groups.flat().sort()).toEqual(state.nodes.map((n) => n.name).sort());
    for (const group of groups) {
      const down = new Set(group);
      for (const inst of state.instances) {
        const p = state.nodes[inst.pNode]?.name ?? '';
        const s = state.nodes[inst.sNode]?.name ?? '';
        expect(down.has(p) && down.has(s)).toBe(false);
      }
    }
  });

  it('finds hroller’s two groups on pairs of nodes, master last', () => {
    // hroller -t hroller-full.data (3.0.2); the file repeats an instance name, as Ganeti's loader allows.
    const text = fixture('hroller-full.data');
    const state = buildState(parseTextBackend(text, 'hroller', { allowDuplicateInstances: true }));
    const groups = rollPlan(state).groups.map((g) => g.nodes);
    expect(groups).toEqual([
      ['node-00', 'node-10', 'node-20', 'node-30'],
      ['node-01', 'node-11', 'node-21', 'node-31'],
    ]);
  });
});

describe('capacity', () => {
  // hspace --machine-readable -t hspace-tiered.data (capacity checks on): HTS_TSPEC='131072,1048576,4,12=3
  // 129984,1048320,4,12=1', HTS_ALLOC_INSTANCES=4, FAILMEM 2 and FAILN1 2 for the fifth standard instance.
  it('counts what hspace counts on the tiered example, tiered and standard, and names the limit', () => {
    const snapshot = parseTextBackend(fixture('hspace-tiered.data'), 'tiered');
    const policy = snapshot.clusterPolicy;
    const result = runHspace(buildState(snapshot), {
      template: 'plain',
      spindleUse: policy.std.spindleUse,
      tieredSpecs: policy.minMax.map((mm) => rspecFromISpec(mm.max)),
      standardSpec: rspecFromISpec(policy.std),
      limit: null,
      capacity: true,
      acceptExisting: false,
      independentGroups: false,
    });
    expect(
      tieredSpecMap(result.tiered.placed).map(({ spec, count }) => [spec.memoryMiB, spec.diskMiB, count]),
    ).toEqual([
      [131072, 1048576, 3],
      [129984, 1048320, 1],
    ]);
    expect(result.standard.placed).toHaveLength(4);
    expect(result.standard.failures.slice(0, 2)).toEqual([
      ['FailMem', 2],
      ['FailN1', 2],
    ]);
  });
});
