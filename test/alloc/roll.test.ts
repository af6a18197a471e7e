import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type RollOptions, rollPlan } from '../../src/alloc/roll.js';
import { buildState } from '../../src/alloc/state.js';
import { parseTextBackend } from '../../src/alloc/text-backend.js';

/** Ganeti's own hroller test data; expected values are what Ganeti 3.0.2's hroller prints for them. */
const load = (name: string) => {
  const text = readFileSync(new URL(`../ganeti-htools/data/${name}`, import.meta.url), 'utf8');
  return buildState(parseTextBackend(text, name, { allowDuplicateInstances: true }));
};

const plan = (name: string, options: RollOptions = {}) => rollPlan(load(name), options);
const names = (name: string, options: RollOptions = {}) =>
  plan(name, options).groups.map((g) => g.nodes.join(','));

describe('hroller', () => {
  it('splits a colour class until its non-redundant instances fit elsewhere, master last', () => {
    // hroller -v -v -v -t unique-reboot-order.data
    const result = plan('unique-reboot-order.data');
    expect(result.graph).toBe('array (0,2) [(0,[0,1]),(1,[1,2,0]),(2,[1])]');
    expect(result.stats).toBe('Dcolor: 2 (1,2) TIE Dsatur: 2 (1,2) TIE LF: 2 (1,2)');
    expect(result.groups.map((g) => g.nodes.join(','))).toEqual([
      'node-01-002',
      'node-01-003',
      'node-01-001',
    ]);
  });

  it('keeps colour classes whole when non-redundant instances may go down', () => {
    // hroller --ignore-non-redundant [-O node-01-003] -t unique-reboot-order.data
    expect(names('unique-reboot-order.data', { ignoreNonRedundant: true })).toEqual([
      'node-01-002',
      'node-01-003,node-01-001',
    ]);
    // --skip-non-redundant leaves out the nodes holding them.
    expect(names('unique-reboot-order.data', { skipNonRedundant: true })).toEqual(['node-01-002']);
  });

  it('only pairs DRBD nodes for offline maintenance', () => {
    // hroller -v -v -v --offline-maintenance -t hroller-online.data
    const result = plan('hroller-online.data', { offlineMaintenance: true });
    expect(result.graph).toBe('array (0,3) [(0,[1]),(1,[2,0]),(2,[3,1]),(3,[2])]');
    expect(result.groups.map((g) => g.nodes.join(','))).toEqual([
      'node-01-002,node-01-004',
      'node-01-001,node-01-003',
    ]);
    // Without it, primaries sharing a secondary conflict too.
    expect(names('hroller-online.data')).toEqual(['node-01-001,node-01-004', 'node-01-002', 'node-01-003']);
  });

  it('moves non-redundant instances away, and says where', () => {
    // hroller --print-moves -t hroller-nonredundant.data
    const result = plan('hroller-nonredundant.data');
    expect(result.groups.map((g) => g.nodes.join(','))).toEqual([
      'node-01-002,node-01-003',
      'node-01-004,node-01-005',
      'node-01-001,node-01-000',
    ]);
    expect(result.groups[0]?.moves).toEqual([
      { instance: 'inst-20', primary: 'node-01-001', secondary: null },
      { instance: 'inst-21', primary: 'node-01-000', secondary: null },
      { instance: 'inst-30', primary: 'node-01-005', secondary: null },
      { instance: 'inst-31', primary: 'node-01-004', secondary: null },
    ]);
  });

  it('evacuates nodes fully: migrations, then new secondaries', () => {
    // hroller --print-moves --full-evacuation -t hroller-full.data (whose instance names repeat)
    const result = plan('hroller-full.data', { fullEvacuation: true });
    expect(result.groups.map((g) => g.nodes.join(','))).toEqual([
      'node-01,node-11',
      'node-00,node-10',
      'node-20,node-30',
      'node-21,node-31',
    ]);
    const moves = (k: number) =>
      result.groups[k]?.moves.map((m) => `${m.instance} ${m.primary} ${m.secondary}`);
    expect(moves(0)).toEqual([
      'inst-00 node-00 node-20',
      'inst-00 node-00 node-10',
      'inst-10 node-10 node-21',
      'inst-11 node-10 node-00',
    ]);
    expect(moves(3)).toEqual([
      'inst-20 node-20 node-01',
      'inst-21 node-20 node-00',
      'inst-30 node-30 node-11',
      'inst-31 node-30 node-10',
    ]);
  });

  it('reports what cannot be done', () => {
    // hroller --full-evacuation -t unique-reboot-order.data: "Error: Not enough capacity to move secondaries"
    expect(plan('unique-reboot-order.data', { fullEvacuation: true }).failure).toBe(
      'Not enough capacity to move secondaries',
    );
    // hroller --skip-non-redundant -t hroller-nonredundant.data: "Error: Cannot create node graph"
    expect(() => plan('hroller-nonredundant.data', { skipNonRedundant: true })).toThrow(
      'Cannot create node graph',
    );
  });

  it('restricts to tagged nodes, colouring the span of their indices', () => {
    // hroller -v -v -v --node-tags=red -t multiple-tags.data
    const result = plan('multiple-tags.data', { nodeTags: ['red'] });
    expect(result.graph).toBe('array (0,4) [(0,[0]),(1,[]),(2,[]),(3,[]),(4,[4])]');
    expect(result.groups.map((g) => g.nodes.join(','))).toEqual(['node-01-004,node-01-005,node-01-001']);
  });
});
