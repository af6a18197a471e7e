import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { commandLines } from '../../src/alloc/report.js';
import { type SqueezeOptions, squeezePlan } from '../../src/alloc/squeeze.js';
import { buildState } from '../../src/alloc/state.js';
import { parseTextBackend } from '../../src/alloc/text-backend.js';

/** Ganeti's own hsqueeze test data; expected values are what Ganeti 3.0.2's hsqueeze prints for them. */
const load = (name: string) => {
  const snapshot = parseTextBackend(
    readFileSync(new URL(`../ganeti-htools/data/${name}`, import.meta.url), 'utf8'),
    name,
  );
  return { state: buildState(snapshot), std: snapshot.clusterPolicy.std };
};

const squeeze = (name: string, options: Partial<SqueezeOptions> = {}) => {
  const { state, std } = load(name);
  return squeezePlan(state, std, { minResources: 2, targetResources: 2, ...options });
};
const names = (nodes: readonly { name: string }[]) => nodes.map((n) => n.name);

describe('hsqueeze', () => {
  it('powers off what the remaining nodes can take over', () => {
    // hsqueeze -v -v -t hsqueeze-underutilized.data
    const plan = squeeze('hsqueeze-underutilized.data');
    expect(names(plan.offlineCandidates)).toEqual([
      'node-01-001',
      'node-01-002',
      'node-01-003',
      'node-01-004',
      'node-01-005',
    ]);
    expect(plan.action).toBe('offline');
    expect(names(plan.nodes)).toEqual(['node-01-004', 'node-01-005']);
  });

  it('moves the instances away first, in hbal’s job sets', () => {
    // hsqueeze --target-resources=0 -C -t hsqueeze-underutilized.data
    const { state, std } = load('hsqueeze-underutilized.data');
    const plan = squeezePlan(state, std, { minResources: 2, targetResources: 0 });
    expect(names(plan.nodes)).toEqual(['node-01-002', 'node-01-003', 'node-01-004', 'node-01-005']);
    expect(plan.balance === null ? [] : commandLines(state, plan.balance)).toEqual([
      '',
      'echo jobset 1, 2 jobs',
      '  echo job 1/1',
      '  check',
      '  gnt-instance migrate -f -n node-01-000 inst-20',
      '  echo job 1/2',
      '  check',
      '  gnt-instance migrate -f -n node-01-001 inst-30',
      '',
      'echo jobset 2, 2 jobs',
      '  echo job 2/1',
      '  check',
      '  gnt-instance migrate -f -n node-01-000 inst-40',
      '  echo job 2/2',
      '  check',
      '  gnt-instance migrate -f -n node-01-001 inst-50',
    ]);
  });

  it('powers on the fewest standby nodes that give the minimal room', () => {
    // hsqueeze -v -v -t hsqueeze-overutilized.data
    const plan = squeeze('hsqueeze-overutilized.data');
    expect(names(plan.onlineCandidates)).toEqual([
      'node-01-002',
      'node-01-004',
      'node-01-005',
      'node-01-006',
    ]);
    expect(plan.action).toBe('online');
    expect(names(plan.nodes)).toEqual(['node-01-002', 'node-01-004']);
    expect(plan.enough).toBe(true);
    // --minimal-resources=4.0 --target-resources=5.0: all of them, and still not enough.
    const more = squeeze('hsqueeze-overutilized.data', { minResources: 4, targetResources: 5 });
    expect(names(more.nodes)).toEqual(['node-01-002', 'node-01-004', 'node-01-005', 'node-01-006']);
    expect(more.enough).toBe(false);
  });

  it('leaves nodes with local disks on, and does nothing when nothing fits', () => {
    // hsqueeze -v -v -t hsqueeze-mixed-instances.data: only node-01-001 qualifies, and goes.
    const plan = squeeze('hsqueeze-mixed-instances.data');
    expect(names(plan.offlineCandidates)).toEqual(['node-01-001']);
    expect(names(plan.nodes)).toEqual(['node-01-001']);
    // hsqueeze --minimal-resources=0 -t hsqueeze-overutilized.data: "No action".
    expect(squeeze('hsqueeze-overutilized.data', { minResources: 0 }).action).toBe('none');
  });
});
