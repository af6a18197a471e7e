import { describe, expect, it } from 'vitest';
import type { ConfigData } from '../../src/cluster/config.js';
import type { CorralDiskTemplate } from '../../src/cluster/disk-templates.js';
import { DEFAULT_HA_PARAMS } from '../../src/cluster/lease.js';
import {
  DEFAULT_BE_PARAMS,
  type GroupRecord,
  type GroupUuid,
  type InstanceRecord,
  type NodeRecord,
  type NodeUuid,
} from '../../src/cluster/model.js';
import { SimClock } from '../../src/common/sim-clock.js';
import {
  autoRepairLevel,
  failsOverAutomatically,
  masterNodeView,
  type NodeView,
  planAutoFailovers,
} from '../../src/master/auto-failover.js';
import { configOf, instanceRecord, nodeRecord } from '../helpers/config.js';

const tag = (what: string) => `ganeti:watcher:autorepair:${what}`;

function instance(
  name: string,
  template: CorralDiskTemplate,
  changes: Partial<InstanceRecord> = {},
): InstanceRecord {
  const mirrored = template === 'drbd';
  return instanceRecord(name, {
    diskTemplate: template,
    secondaryNodes: mirrored ? ['n-2' as NodeUuid] : [],
    ...(mirrored ? { mirror: { generation: 1, current: ['n-1', 'n-2'] as NodeUuid[] } } : {}),
    ...changes,
  });
}

const group = (tags: readonly string[]): GroupRecord => ({
  uuid: 'g-default' as GroupUuid,
  name: 'default',
  allocPolicy: 'preferred',
  tags,
  ctimeMs: 0,
  mtimeMs: 0,
  serial: 1,
});

function config(options: {
  readonly instances: readonly InstanceRecord[];
  readonly nodes?: readonly NodeRecord[];
  readonly clusterTags?: readonly string[];
  readonly groupTags?: readonly string[];
  readonly autoFailover?: boolean;
}): ConfigData {
  return configOf({
    nodes: options.nodes ?? [nodeRecord(1), nodeRecord(2), nodeRecord(3)],
    instances: options.instances,
    groups: [group(options.groupTags ?? [])],
    cluster: {
      tags: options.clusterTags ?? [],
      ha: { ...DEFAULT_HA_PARAMS, autoFailover: options.autoFailover ?? true },
      beParams: DEFAULT_BE_PARAMS,
    },
  });
}

/** Gossip holds the named nodes dead; the leases of the others named have run out. */
const view = (dead: readonly string[], lapsed: readonly string[] = dead): NodeView => ({
  dead: (node) => dead.includes(node.name),
  lapsed: (node) => lapsed.includes(node.name),
  nowS: () => 1_700_000_000,
});

/** The decisions as [kind, instance, reason or the ops' target] for a compact comparison. */
const plan = (cfg: ConfigData, nodes: NodeView) =>
  planAutoFailovers(cfg, nodes).map((d) =>
    d.kind === 'stuck' ? [d.kind, d.instance.name, d.reason] : [d.kind, d.instance.name],
  );

describe('autoRepairLevel', () => {
  const level = (options: {
    readonly instanceTags?: readonly string[];
    readonly groupTags?: readonly string[];
    readonly clusterTags?: readonly string[];
  }) => {
    const web = instance('web', 'sharedfile', { tags: options.instanceTags ?? [] });
    const cfg = config({ instances: [web], groupTags: options.groupTags, clusterTags: options.clusterTags });
    return autoRepairLevel(cfg, web);
  };

  it('is undefined when no object has an autorepair tag', () => {
    expect(level({ instanceTags: ['other:tag'], clusterTags: ['ganeti:watcher:other'] })).toBeUndefined();
  });

  it('takes the nearest object with a tag: the instance, then the group, then the cluster', () => {
    expect(level({ clusterTags: [tag('failover')] })).toBe('failover');
    expect(level({ groupTags: [tag('migrate')], clusterTags: [tag('failover')] })).toBe('migrate');
    expect(
      level({
        instanceTags: [tag('reinstall')],
        groupTags: [tag('migrate')],
        clusterTags: [tag('fix-storage')],
      }),
    ).toBe('reinstall');
    // An object whose only autorepair tags are unknown does not speak.
    expect(level({ instanceTags: [tag('bogus')], groupTags: [tag('failover')] })).toBe('failover');
  });

  it('takes the least destructive tag within one object', () => {
    expect(level({ instanceTags: [tag('reinstall'), tag('migrate'), tag('failover')] })).toBe('migrate');
    expect(level({ groupTags: [tag('failover'), tag('fix-storage')] })).toBe('fix-storage');
  });

  it('is suspend for a suspend tag on the instance, with or without a timestamp, over any other tag', () => {
    expect(level({ instanceTags: [tag('failover'), tag('suspend')] })).toBe('suspend');
    expect(level({ instanceTags: [tag('suspend:1700000000')], clusterTags: [tag('failover')] })).toBe(
      'suspend',
    );
    expect(level({ instanceTags: [`${tag('suspend')}ed`], groupTags: [tag('failover')] })).toBe('failover');
  });
});

describe('failsOverAutomatically', () => {
  const fails = (tags: readonly string[], autoFailover: boolean) => {
    const web = instance('web', 'sharedfile', { tags });
    return failsOverAutomatically(config({ instances: [web], autoFailover }), web);
  };

  it('follows the cluster default when no tag speaks', () => {
    expect(fails([], true)).toBe(true);
    expect(fails([], false)).toBe(false);
  });

  it('follows the tag over the default: failover and reinstall allow it, the others and suspend do not', () => {
    expect(fails([tag('failover')], false)).toBe(true);
    expect(fails([tag('reinstall')], false)).toBe(true);
    expect(fails([tag('migrate')], true)).toBe(false);
    expect(fails([tag('fix-storage')], true)).toBe(false);
    expect(fails([tag('suspend')], true)).toBe(false);
    expect(fails([tag('suspend:1700000000')], true)).toBe(false);
  });
});

describe('planAutoFailovers', () => {
  it('fails a drbd instance over to its live, current secondary once the lease lapsed', () => {
    const cfg = config({ instances: [instance('db', 'drbd')] });
    const [decision] = planAutoFailovers(cfg, view(['node1']));
    expect(decision).toMatchObject({
      kind: 'failover',
      instance: { name: 'db' },
      from: { name: 'node1' },
      ops: [
        {
          OP_ID: 'OP_INSTANCE_FAILOVER',
          instance_name: 'db',
          reason: [
            [
              'gnt:corral:auto-failover',
              'node1 is held dead by gossip and its lease has run out',
              1_700_000_000,
            ],
          ],
        },
      ],
    });
  });

  it('waits while the lease of a dead or offline node has not run out', () => {
    const instances = [instance('db', 'drbd'), instance('web', 'sharedfile'), instance('tmp', 'diskless')];
    expect(plan(config({ instances }), view(['node1'], []))).toEqual([
      ['waiting', 'db'],
      ['waiting', 'tmp'],
      ['waiting', 'web'],
    ]);
    const offline = [nodeRecord(1, { offline: true }), nodeRecord(2), nodeRecord(3)];
    expect(plan(config({ instances, nodes: offline }), view([], []))).toEqual([
      ['waiting', 'db'],
      ['waiting', 'tmp'],
      ['waiting', 'web'],
    ]);
    expect(plan(config({ instances, nodes: offline }), view([], ['node1']))).toEqual([
      ['failover', 'db'],
      ['failover', 'tmp'],
      ['failover', 'web'],
    ]);
  });

  it('leaves alone the instances of live nodes, and those an administrator shut down', () => {
    const instances = [
      instance('down', 'sharedfile', { adminState: 'down' }),
      instance('off', 'sharedfile', { adminState: 'offline' }),
      instance('elsewhere', 'sharedfile', { primaryNode: 'n-3' as NodeUuid }),
    ];
    expect(planAutoFailovers(config({ instances }), view(['node1']))).toEqual([]);
  });

  it('holds a drbd instance stuck when its secondary is down, stale or missing', () => {
    const lapsed = view(['node1']);
    const withSecondaryDown = (nodes: NodeView) =>
      plan(config({ instances: [instance('db', 'drbd')] }), nodes);
    expect(withSecondaryDown(view(['node1', 'node2']))).toEqual([
      ['stuck', 'db', 'its secondary node2 is down too'],
    ]);
    const offlineSecondary = config({
      instances: [instance('db', 'drbd')],
      nodes: [nodeRecord(1), nodeRecord(2, { offline: true })],
    });
    expect(plan(offlineSecondary, lapsed)).toEqual([['stuck', 'db', 'its secondary node2 is down too']]);
    const stale = instance('db', 'drbd', { mirror: { generation: 2, current: ['n-1' as NodeUuid] } });
    expect(plan(config({ instances: [stale] }), lapsed)).toEqual([
      [
        'stuck',
        'db',
        'the copy of its disks on node2 is stale; only --ignore-consistency would start it there',
      ],
    ]);
    const noMirrorState = instance('db', 'drbd', { mirror: undefined });
    expect(plan(config({ instances: [noMirrorState] }), lapsed)[0]?.[0]).toBe('stuck');
    const missing = instance('db', 'drbd', { secondaryNodes: [] });
    expect(plan(config({ instances: [missing] }), lapsed)).toEqual([['stuck', 'db', 'it has no secondary']]);
  });

  it('holds file and plain instances stuck, naming the node their disks live on', () => {
    const instances = [instance('f', 'file'), instance('p', 'plain')];
    expect(plan(config({ instances }), view(['node1']))).toEqual([
      ['stuck', 'f', 'its file disks live on node1 alone'],
      ['stuck', 'p', 'its plain disks live on node1 alone'],
    ]);
  });

  it('holds stuck an instance whose tags or the cluster default forbid it, whatever its lease', () => {
    const instances = [
      instance('a', 'sharedfile', { tags: [tag('suspend:1700000000')] }),
      instance('b', 'drbd', { tags: [tag('migrate')] }),
      instance('c', 'diskless'),
    ];
    const decisions = planAutoFailovers(config({ instances, autoFailover: false }), view(['node1'], []));
    expect(decisions.map((d) => [d.kind, d.instance.name])).toEqual([
      ['stuck', 'a'],
      ['stuck', 'b'],
      ['stuck', 'c'],
    ]);
    expect(decisions[0]).toMatchObject({ reason: expect.stringMatching(/automatic failover is off/) });
    // A tag allows it on a cluster whose default is off.
    const tagged = [instance('c', 'diskless', { tags: [tag('failover')] })];
    expect(plan(config({ instances: tagged, autoFailover: false }), view(['node1']))).toEqual([
      ['failover', 'c'],
    ]);
  });

  it('puts the larger instances first, then by name', () => {
    const instances = [
      instance('a-small', 'sharedfile', { beParams: { maxmemMiB: 256 } }),
      instance('b-default', 'diskless'), // the cluster's 128 MiB
      instance('c-large', 'drbd', { beParams: { maxmemMiB: 4_096 } }),
      instance('d-mid', 'diskless', { beParams: { maxmemMiB: 1_024 } }),
      instance('e-small', 'sharedfile', { beParams: { maxmemMiB: 256 } }),
    ];
    expect(planAutoFailovers(config({ instances }), view(['node1'])).map((d) => d.instance.name)).toEqual([
      'c-large',
      'd-mid',
      'a-small',
      'e-small',
      'b-default',
    ]);
  });
});

describe('masterNodeView', () => {
  it('holds a node dead on gossip’s word, and its lease run out from the master’s lapse time on', () => {
    const clock = new SimClock(10_000);
    const nodes = config({ instances: [] }).nodes;
    const [first, second] = [...nodes.values()];
    const view = masterNodeView({
      clock,
      observed: (node) => ({ state: node === first!.id ? 'dead' : 'alive', stateAgeMs: 0 }),
      leaseLapsesAtMs: (node) => (node === first!.id ? 10_001 : 20_000),
    });
    expect([view.dead(first!), view.dead(second!)]).toEqual([true, false]);
    expect(view.lapsed(first!)).toBe(false);
    clock.advanceBy(1);
    expect([view.lapsed(first!), view.lapsed(second!)]).toEqual([true, false]);
    expect(view.nowS()).toBe(clock.wallMs() / 1000);
  });
});
