import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { capacity } from '../../src/alloc/capacity.js';
import { generateCluster } from '../../src/alloc/generate.js';
import { rebootGroups } from '../../src/alloc/roll.js';
import { buildState } from '../../src/alloc/state.js';
import { parseTextBackend } from '../../src/alloc/text-backend.js';

const fixture = (name: string): string => readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8');

describe('rolling reboots', () => {
  it('never reboots both nodes of an instance together', () => {
    const state = buildState(
      generateCluster({ nodes: 30, minInstancesPerNode: 4, maxInstancesPerNode: 8, seed: 11 }),
    );
    const groups = rebootGroups(state);
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
    const text = fixture('hroller-full.data').replace(
      'inst-00|128|1024|1|running|Y|node-01',
      'inst-01|128|1024|1|running|Y|node-01',
    );
    const groups = rebootGroups(buildState(parseTextBackend(text, 'hroller')));
    expect(groups).toEqual([
      ['node-00', 'node-10', 'node-20', 'node-30'],
      ['node-01', 'node-11', 'node-21', 'node-31'],
    ]);
  });
});

describe('capacity', () => {
  it('counts what hspace counts on the tiered example, and names the limit', () => {
    const state = buildState(parseTextBackend(fixture('hspace-tiered.data'), 'tiered'));
    const std = { memoryMiB: 129024, diskMiB: 1047552, vcpus: 4, spindleUse: 1 };
    const result = capacity(state, { from: std }, { template: 'plain' });
    expect(result.total).toBe(4);
    expect(result.limitedBy[0]?.mode).toBe('FailMem');
  });
});
