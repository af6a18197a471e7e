import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { scoreBreakdown } from '../../src/alloc/metrics.js';
import { buildState, groupNodes } from '../../src/alloc/state.js';
import { parseTextBackend } from '../../src/alloc/text-backend.js';

const fixture = (name: string): string => readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8');

function groupScore(file: string, groupName: string): number {
  const state = buildState(parseTextBackend(fixture(file), file));
  const group = state.groups.find((g) => g.spec.name === groupName);
  if (!group) throw new Error(`no group ${groupName}`);
  const nodes = groupNodes(state, group.idx).map((i) => state.nodes[i]!);
  return scoreBreakdown(nodes).score;
}

// The initial scores hbal 3.0.2 prints for these files (`hbal -t FILE [-G GROUP] -v -v -v`).
describe('cluster score', () => {
  it.each([
    ['hbal-excl-tags.data', 'group-01', 3.671875],
    ['n1-failure.data', 'group-01', 22.37526844],
    ['hbal-split-insts.data', 'group-01', 0.00585938],
    ['hbal-split-insts.data', 'group-02', 0.00195312],
  ])('%s, %s scores as in hbal', (file, group, expected) => {
    expect(groupScore(file, group)).toBeCloseTo(expected, 7);
  });

  it('reports every component with hbal’s names and weights', () => {
    const state = buildState(parseTextBackend(fixture('n1-failure.data'), 'n1-failure.data'));
    const byName = Object.fromEntries(scoreBreakdown(state.nodes).components.map((c) => [c.name, c.value]));
    expect(byName.n1_cnt).toBe(16);
    expect(byName.disk_load_cv).toBeCloseTo(2, 9);
    expect(byName.vcpu_ratio_cv).toBeCloseTo(0.0625, 9);
    expect(byName.reserved_mem_rtotal).toBeCloseTo(2, 9);
  });
});
