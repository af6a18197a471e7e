import { describe, expect, it } from 'vitest';
import { ClusterState } from '../../src/cluster/cluster-state.js';
import { findInstance } from '../../src/cluster/config.js';
import { instanceStatus, type NodeReport, type StatusInput } from '../../src/cluster/instance-status.js';
import type { Mutation } from '../../src/cluster/mutations.js';
import { applyCommand, foundedCluster } from '../helpers/cluster-state.js';

const change = (state: ClusterState, mutation: Mutation) =>
  applyCommand(state, { type: 'config', atMs: 5, mutation });

/** A second node, node2 (n-2), able to host instances or not. */
function addNode2(state: ClusterState, vmCapable: boolean): void {
  change(state, {
    type: 'node-add',
    uuid: 'n-2',
    name: 'node2',
    id: 'peer2',
    addrs: ['/ip4/127.0.0.3/tcp/1'],
    primaryIp: '127.0.0.3',
    secondaryIp: '127.0.0.3',
    group: 'g-default',
    masterCandidate: true,
    masterCapable: true,
    vmCapable,
    drained: false,
    offline: false,
  });
}

function cluster(): ClusterState {
  const state = foundedCluster({ templates: ['diskless', 'file'] });
  addNode2(state, false);
  return state;
}

const web1: Extract<Mutation, { type: 'instance-add' }> = {
  type: 'instance-add',
  uuid: 'i-1',
  name: 'web1',
  primaryNode: 'n-1',
  secondaryNodes: [],
  os: 'noop',
  hypervisor: 'fake',
  hvParams: {},
  beParams: { maxmemMiB: 256 },
  osParams: {},
  diskTemplate: 'file',
  disks: [{ uuid: 'd-1', sizeMiB: 1024, mode: 'rw', format: 'raw' }],
  nics: [{ uuid: 'nic-1', mac: 'aa:00:00:00:00:01', mode: 'none', link: '' }],
  adminState: 'down',
  adminStateSource: 'admin',
  disksActive: false,
  tags: [],
};

describe('instances in the replicated configuration', () => {
  it('adds, changes and removes an instance, each change one serial', () => {
    const state = cluster();
    const serial = state.config!.serial;
    expect(change(state, web1)).toEqual({ ok: true });
    expect(findInstance(state.config!, 'web1')).toMatchObject({ primaryNode: 'n-1', serial: 1, ctimeMs: 5 });
    expect(change(state, { type: 'instance-set', uuid: 'i-1', changes: { adminState: 'up' } })).toEqual({
      ok: true,
    });
    expect(findInstance(state.config!, 'web1')).toMatchObject({ adminState: 'up', serial: 2 });
    expect(
      change(state, { type: 'tags', kind: 'instance', target: 'i-1', add: ['www'], remove: [] }),
    ).toEqual({ ok: true });
    expect(findInstance(state.config!, 'web1')?.tags).toEqual(['www']);
    expect(change(state, { type: 'instance-remove', uuid: 'i-1' })).toEqual({ ok: true });
    expect(findInstance(state.config!, 'web1')).toBeUndefined();
    expect(state.config!.serial).toBe(serial + 4);
  });

  it("refuses what breaks Ganeti's rules and changes nothing", () => {
    const state = cluster();
    change(state, web1);
    const before = state.config!;
    const refusals: [Mutation, RegExp][] = [
      [{ ...web1, uuid: 'i-2' }, /instance web1 already exists/],
      [{ ...web1, uuid: 'i-2', name: 'web2', primaryNode: 'n-2' }, /node2 is not vm capable/],
      [{ ...web1, uuid: 'i-2', name: 'web2', primaryNode: 'n-9' }, /node n-9 is not in the cluster/],
      [{ ...web1, uuid: 'i-2', name: 'web2', hypervisor: 'kvm' }, /hypervisor kvm is not enabled/],
      [
        { ...web1, uuid: 'i-2', name: 'web2', diskTemplate: 'sharedfile' },
        /disk template sharedfile is not enabled/,
      ],
      [{ type: 'instance-set', uuid: 'i-1', changes: { primaryNode: 'n-2' } }, /node2 is not vm capable/],
      [{ type: 'node-remove', uuid: 'n-1' }, /node1 still hosts web1/],
      [{ type: 'cluster-set', enabledDiskTemplates: ['diskless'] }, /web1 uses disk template file/],
      [{ type: 'tags', kind: 'instance', target: 'i-1', add: [], remove: ['nope'] }, /has no tag nope/],
    ];
    for (const [mutation, message] of refusals) {
      const outcome = change(state, mutation);
      expect(outcome).toMatchObject({ ok: false });
      expect(outcome && !outcome.ok && outcome.message).toMatch(message);
      expect(state.config).toBe(before);
    }
  });

  it("keeps instances to the templates their node group's policy allows", () => {
    const state = cluster();
    change(state, web1);
    expect(
      change(state, {
        type: 'group-add',
        uuid: 'g-2',
        name: 'rack2',
        allocPolicy: 'preferred',
        diskTemplates: ['diskless'],
      }),
    ).toEqual({ ok: true });
    change(state, { type: 'node-set', uuid: 'n-2', changes: { vmCapable: true }, autoPromote: false });
    change(state, { type: 'group-assign', uuid: 'g-2', nodes: ['n-2'] });
    const before = state.config!;
    const refusals: [Mutation, RegExp][] = [
      [
        { ...web1, uuid: 'i-2', name: 'web2', primaryNode: 'n-2' },
        /node group rack2 of node2 does not allow file instances such as web2 \(it allows diskless\)/,
      ],
      [
        { type: 'instance-set', uuid: 'i-1', changes: { primaryNode: 'n-2' } },
        /rack2 of node2 does not allow file/,
      ],
      [
        { type: 'group-set', uuid: 'g-default', diskTemplates: ['diskless'] },
        /default of node1 does not allow file instances such as web1/,
      ],
      [
        { type: 'group-assign', uuid: 'g-2', nodes: ['n-1'] },
        /rack2 of node1 does not allow file instances such as web1/,
      ],
    ];
    for (const [mutation, message] of refusals) {
      const outcome = change(state, mutation);
      expect(outcome && !outcome.ok && outcome.message).toMatch(message);
      expect(state.config).toBe(before);
    }
    expect(
      change(state, {
        ...web1,
        uuid: 'i-3',
        name: 'dns1',
        primaryNode: 'n-2',
        diskTemplate: 'diskless',
        disks: [],
      }),
    ).toEqual({ ok: true });
    expect(change(state, { type: 'group-set', uuid: 'g-2', diskTemplates: ['diskless', 'file'] })).toEqual({
      ok: true,
    });
    expect(change(state, { type: 'instance-set', uuid: 'i-1', changes: { primaryNode: 'n-2' } })).toEqual({
      ok: true,
    });
  });

  it('keeps instances across a snapshot and restore', () => {
    const state = cluster();
    change(state, web1);
    const copy = new ClusterState();
    copy.restore(state.snapshot());
    expect(findInstance(copy.config!, 'web1')).toEqual(findInstance(state.config!, 'web1'));
  });
});

describe("Ganeti's derived instance status", () => {
  const running = (names: string[]): NodeReport => ({ reachable: true, running: new Set(names) });
  const up: StatusInput = {
    name: 'web1',
    adminState: 'up',
    adminStateSource: 'admin',
    primary: { name: 'node1', offline: false },
  };
  const cases: [string, typeof up, [string, NodeReport][], string][] = [
    ['runs on its primary', up, [['node1', running(['web1'])]], 'running'],
    ['should run but does not', up, [['node1', running([])]], 'ERROR_down'],
    [
      'runs on another node',
      up,
      [
        ['node1', running([])],
        ['node2', running(['web1'])],
      ],
      'ERROR_wrongnode',
    ],
    ['its node does not answer', up, [['node1', { reachable: false }]], 'ERROR_nodedown'],
    ['its node is offline', { ...up, primary: { name: 'node1', offline: true } }, [], 'ERROR_nodeoffline'],
    ['is down and stopped', { ...up, adminState: 'down' }, [['node1', running([])]], 'ADMIN_down'],
    ['is down but runs', { ...up, adminState: 'down' }, [['node1', running(['web1'])]], 'ERROR_up'],
    [
      'was shut down by its guest',
      { ...up, adminState: 'down', adminStateSource: 'user' },
      [['node1', running([])]],
      'USER_down',
    ],
    ['is offline', { ...up, adminState: 'offline' }, [['node1', running([])]], 'ADMIN_offline'],
  ];
  for (const [what, instance, reports, expected] of cases)
    it(`an instance that ${what} is ${expected}`, () => {
      expect(instanceStatus(instance, new Map(reports))).toBe(expected);
    });
});

describe('the mirror state of drbd instances', () => {
  function mirrored(): ClusterState {
    const state = foundedCluster({ templates: ['drbd'] });
    addNode2(state, true);
    expect(
      change(state, {
        ...web1,
        diskTemplate: 'drbd',
        secondaryNodes: ['n-2'],
        mirror: { generation: 1, current: ['n-1', 'n-2'] },
      }),
    ).toEqual({ ok: true });
    return state;
  }
  const mirrorOf = (state: ClusterState) => findInstance(state.config!, 'web1')!.mirror;
  const report = (type: 'mirror-outdate' | 'mirror-synced', by: string, generation: number): Mutation => ({
    type,
    uuid: 'i-1',
    by,
    generation,
  });

  it('lets the primary outdate its peer once, and a retry changes nothing more', () => {
    const state = mirrored();
    expect(change(state, report('mirror-outdate', 'n-1', 1))).toEqual({ ok: true });
    expect(mirrorOf(state)).toEqual({ generation: 2, current: ['n-1'] });
    expect(change(state, report('mirror-outdate', 'n-1', 1))).toEqual({ ok: true });
    expect(mirrorOf(state)).toEqual({ generation: 2, current: ['n-1'] });
  });

  it('refuses reports from the secondary, and a resync report older than the generation', () => {
    const state = mirrored();
    expect(change(state, report('mirror-outdate', 'n-2', 1))).toMatchObject({ ok: false, code: 'conflict' });
    change(state, report('mirror-outdate', 'n-1', 1));
    expect(change(state, report('mirror-synced', 'n-1', 1))).toMatchObject({ ok: false, code: 'conflict' });
    expect(mirrorOf(state)).toEqual({ generation: 2, current: ['n-1'] });
    expect(change(state, report('mirror-synced', 'n-1', 2))).toEqual({ ok: true });
    expect(mirrorOf(state)).toEqual({ generation: 2, current: ['n-1', 'n-2'] });
  });

  it('deposes a primary whose copy is no longer current', () => {
    const state = mirrored();
    change(state, report('mirror-outdate', 'n-1', 1));
    // A failover with --ignore-consistency to the stale copy on n-2.
    change(state, {
      type: 'instance-set',
      uuid: 'i-1',
      changes: { primaryNode: 'n-2', secondaryNodes: ['n-1'], mirror: { generation: 3, current: ['n-2'] } },
    });
    expect(change(state, report('mirror-outdate', 'n-1', 2))).toMatchObject({ ok: false, code: 'conflict' });
  });

  it('refuses a move decided on a mirror generation that the primary has since outdated', () => {
    const state = mirrored();
    const failover: Mutation = {
      type: 'instance-set',
      uuid: 'i-1',
      changes: { primaryNode: 'n-2', secondaryNodes: ['n-1'] },
      ifMirrorGeneration: 1,
    };
    change(state, report('mirror-outdate', 'n-1', 1));
    expect(change(state, failover)).toMatchObject({
      ok: false,
      code: 'conflict',
      message: expect.stringMatching(/^the mirror of web1 moved on to generation 2 while this operation ran/),
    });
    expect(findInstance(state.config!, 'web1')!.primaryNode).toBe('n-1');
    expect(change(state, { ...failover, ifMirrorGeneration: 2 })).toEqual({ ok: true });
    expect(findInstance(state.config!, 'web1')!.primaryNode).toBe('n-2');
  });

  it('holds a drbd instance to one secondary and a mirror state naming its nodes only', () => {
    const state = mirrored();
    expect(
      change(state, { type: 'instance-set', uuid: 'i-1', changes: { secondaryNodes: [] } }),
    ).toMatchObject({ ok: false, message: expect.stringMatching(/exactly one secondary/) });
    expect(
      change(state, {
        type: 'instance-set',
        uuid: 'i-1',
        changes: { mirror: { generation: 2, current: ['n-9'] } },
      }),
    ).toMatchObject({ ok: false, message: expect.stringMatching(/names a node that holds no copy/) });
  });
});
