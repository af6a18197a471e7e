import { describe, expect, it } from 'vitest';
import type { Opcode } from '../src/cluster/opcodes.js';
import { CorralError } from '../src/common/errors.js';
import { asNodeId, type NodeId } from '../src/common/ids.js';
import type { MasterRequest } from '../src/master/master-protocol.js';
import { MasterWorld } from './master-world.js';
import { failureOf as failure, runJob as job } from './sim-jobs.js';
import { SIM_OS } from './sim-os.js';

/**
 * gnt-cluster's cluster-wide switches and jobs on simulated nodes: the drained queue refuses jobs (but
 * redist-conf submitted to it on purpose, and the jobs a running job submits), the watcher's pause holds the
 * watcher and automatic failover still, and rename, redist-conf, repair-disk-sizes and the parameter
 * defaults of cluster modify do what Ganeti's do.
 */

const node1 = asNodeId('node1');
const node2 = asNodeId('node2');
const node3 = asNodeId('node3');

async function formed(seed: number): Promise<MasterWorld> {
  const world = new MasterWorld({ seed, nodes: 3, watcherIntervalMs: 2_000 });
  await world.form();
  return world;
}

/** Runs a job through a node to its end. */
/** A master request (cluster-flags, ping, submit) through a node, as its CLI sends it. */
function ask(world: MasterWorld, via: NodeId, request: MasterRequest) {
  const service = world.machine(via).service;
  if (service === undefined) throw new CorralError('unreachable', `${via} is down`);
  return world.settle(service.forward(request));
}

const create = (name: string, pnode: string, template: 'file' | 'sharedfile' = 'file'): Opcode => ({
  OP_ID: 'OP_INSTANCE_CREATE',
  instance_name: name,
  disk_template: template,
  disks: [{ size: 1 }],
  os_type: SIM_OS,
  beparams: { memory: 128 },
  pnode,
});

const guestOn = (world: MasterWorld, name: string) =>
  world
    .guests()
    .filter(({ guest }) => guest.name === name && guest.state === 'running')
    .map(({ node }) => node);

/** The jobs the cluster ran on its own (the watcher's, automatic failovers), by opcode. */
async function ownJobs(world: MasterWorld, via: NodeId): Promise<string[]> {
  const { jobs } = await world.machine(via).service!.view(false);
  return jobs
    .jobs()
    .filter((record) => !record.key.startsWith('sim-submit-'))
    .flatMap((record) => record.ops.map((op) => op.input.OP_ID));
}

describe('gnt-cluster queue drain', () => {
  it('refuses new jobs while drained, with Ganeti words, on every node; undrain takes them again', async () => {
    const world = await formed(3);
    await ask(world, node2, { op: 'cluster-flags', queueDrained: true });
    for (const id of [node1, node2, node3])
      expect(world.machine(id).service!.localConfig()?.cluster.queueDrained).toBe(true);
    for (const via of [node1, node3])
      await expect(world.submit(via, [{ OP_ID: 'OP_CLUSTER_VERIFY' }])).rejects.toThrow(
        /^Queue drained: the master takes no new jobs until 'gnt-cluster queue undrain'$/,
      );
    // Ganeti's redist-conf --yes-do-it goes to the drained queue; nothing else may.
    const key = 'redist-to-drained-queue';
    const { job: redist } = (await ask(world, node3, {
      op: 'submit',
      key,
      priority: 0,
      ops: [{ OP_ID: 'OP_CLUSTER_REDIST_CONF' }],
      toDrainedQueue: true,
    })) as { job: number };
    expect((await world.waitJob(node3, redist as never)).status).toBe('success');
    await expect(
      ask(world, node3, {
        op: 'submit',
        key: 'verify-to-drained-queue',
        priority: 0,
        ops: [{ OP_ID: 'OP_CLUSTER_VERIFY' }],
        toDrainedQueue: true,
      }),
    ).rejects.toThrow(/only redist-conf may be submitted to a drained queue/);
    await ask(world, node1, { op: 'cluster-flags', queueDrained: false });
    expect((await job(world, node2, [{ OP_ID: 'OP_CLUSTER_VERIFY' }])).status).toBe('success');
  }, 60_000);

  it('lets a job accepted before the drain finish, with the jobs it submits itself', async () => {
    const world = await formed(4);
    // A multi-allocation that submits its creates only once the queue is drained.
    const accepted = await world.submit(node1, [
      { OP_ID: 'OP_TEST_DELAY', duration: 2 },
      {
        OP_ID: 'OP_INSTANCE_MULTI_ALLOC',
        instances: [
          { instance_name: 'a1', disk_template: 'diskless', disks: [], os_type: SIM_OS, pnode: 'node2' },
          { instance_name: 'a2', disk_template: 'diskless', disks: [], os_type: SIM_OS, pnode: 'node3' },
        ],
      },
    ]);
    await ask(world, node1, { op: 'cluster-flags', queueDrained: true });
    const ended = await world.waitJob(node1, accepted);
    expect(ended.status, failure(ended)).toBe('success');
    await world.until(
      () => world.machine(node1).service!.localConfig()!.instances.size === 2,
      60_000,
      'both creates to end',
    );
    expect(
      [...world.machine(node1).service!.localConfig()!.instances.values()].map((i) => i.name).sort(),
    ).toEqual(['a1', 'a2']);
  }, 60_000);

  it('holds the watcher still while drained: it submits no job', async () => {
    const world = await formed(5);
    expect((await job(world, node1, [create('web1', 'node2')])).status).toBe('success');
    await ask(world, node1, { op: 'cluster-flags', queueDrained: true });
    await world.machine(node2).guests.remove('web1');
    await world.runFor(10_000);
    expect(guestOn(world, 'web1')).toEqual([]);
    expect(await ownJobs(world, node1)).toEqual([]);
  }, 60_000);
});

describe('gnt-cluster watcher pause', () => {
  it('holds the watcher still until continue; then it restarts what should run', async () => {
    const world = await formed(6);
    expect((await job(world, node1, [create('web1', 'node2')])).status).toBe('success');
    const { watcherPauseUntilMs } = (await ask(world, node3, {
      op: 'cluster-flags',
      watcherPauseMs: 3_600_000,
    })) as { watcherPauseUntilMs: number };
    expect(watcherPauseUntilMs).toBe(
      world.machine(node3).service!.localConfig()!.cluster.watcherPauseUntilMs,
    );
    // The guest stops behind the cluster's back; paused, the watcher leaves it down.
    await world.machine(node2).guests.remove('web1');
    await world.runFor(20_000);
    expect(guestOn(world, 'web1')).toEqual([]);
    expect(await ownJobs(world, node1)).toEqual([]);
    await ask(world, node2, { op: 'cluster-flags', watcherPauseMs: null });
    expect(world.machine(node1).service!.localConfig()!.cluster.watcherPauseUntilMs).toBeUndefined();
    await world.runFor(10_000);
    expect(guestOn(world, 'web1')).toEqual(['node2']);
    expect(await ownJobs(world, node1)).toEqual(['OP_INSTANCE_STARTUP']);
  }, 60_000);

  it('ends by itself when its time is up', async () => {
    const world = await formed(7);
    expect((await job(world, node1, [create('web1', 'node2')])).status).toBe('success');
    await ask(world, node1, { op: 'cluster-flags', watcherPauseMs: 15_000 });
    await world.machine(node2).guests.remove('web1');
    await world.runFor(10_000);
    expect(guestOn(world, 'web1')).toEqual([]);
    await world.runFor(15_000);
    expect(guestOn(world, 'web1')).toEqual(['node2']);
  }, 60_000);

  it('holds automatic failover still: a dead node keeps its instance until continue', async () => {
    const world = await formed(8);
    expect((await job(world, node1, [create('web1', 'node2', 'sharedfile')])).status).toBe('success');
    await ask(world, node1, { op: 'cluster-flags', watcherPauseMs: 3_600_000 });
    world.crash(node2);
    await world.runFor(30_000);
    expect(await ownJobs(world, node1)).toEqual([]);
    expect(guestOn(world, 'web1')).toEqual([]);
    await ask(world, node3, { op: 'cluster-flags', watcherPauseMs: null });
    await world.runFor(20_000);
    expect(await ownJobs(world, node1)).toContain('OP_INSTANCE_FAILOVER');
    expect(guestOn(world, 'web1')).toHaveLength(1);
    expect(guestOn(world, 'web1')).not.toContain('node2');
  }, 60_000);
});

describe('gnt-cluster rename, redist-conf, repair-disk-sizes and modify', () => {
  it('rename: every node takes the new name; the same name again changes nothing', async () => {
    const world = await formed(9);
    const renamed = await job(world, node2, [{ OP_ID: 'OP_CLUSTER_RENAME', name: 'prod.example.com' }]);
    expect(renamed.ops[0]?.result).toBe('prod.example.com');
    await world.runFor(1_000);
    for (const id of [node1, node2, node3])
      expect(world.machine(id).service!.localConfig()?.cluster.name).toBe('prod.example.com');
    const serial = world.machine(node1).service!.localConfig()!.serial;
    expect((await job(world, node1, [{ OP_ID: 'OP_CLUSTER_RENAME', name: 'prod.example.com' }])).status).toBe(
      'success',
    );
    expect(world.machine(node1).service!.localConfig()!.serial).toBe(serial);
  }, 60_000);

  it('redist-conf confirms every online node has applied the serial, and names a node that has not', async () => {
    const world = await formed(10);
    const all = await job(world, node1, [{ OP_ID: 'OP_CLUSTER_REDIST_CONF' }]);
    const serial = world.machine(node1).service!.localConfig()!.serial;
    expect(all.ops[0]?.result).toEqual({ serial, nodes: 3, behind: [] });
    expect(all.log.map((entry) => entry.message)).toContain(
      `every online node has applied configuration serial ${serial}`,
    );
    world.crash(node3);
    const partial = await job(world, node1, [{ OP_ID: 'OP_CLUSTER_REDIST_CONF' }]);
    const result = partial.ops[0]?.result as { behind: { node: string; error?: string }[] };
    expect(partial.status).toBe('success');
    expect(result.behind.map((entry) => entry.node)).toEqual(['node3']);
    expect(partial.log.map((entry) => entry.message).join('\n')).toMatch(
      /warning: could not ask node3 which configuration it has applied/,
    );
    // Marked offline, it is skipped rather than waited for.
    await job(world, node1, [{ OP_ID: 'OP_NODE_SET_PARAMS', node_name: 'node3', offline: true }]);
    const skipping = await job(world, node1, [{ OP_ID: 'OP_CLUSTER_REDIST_CONF' }]);
    expect(skipping.ops[0]?.result).toMatchObject({ behind: [], nodes: 2 });
  }, 60_000);

  it('repair-disk-sizes records the size a disk has on its node', async () => {
    const world = await formed(11);
    expect((await job(world, node1, [create('web1', 'node2')])).status).toBe('success');
    const instance = [...world.machine(node1).service!.localConfig()!.instances.values()][0]!;
    const disk = world.machine(node2).localDisks.disks.get(`${instance.uuid}/${instance.disks[0]!.uuid}`)!;
    disk.sizeMiB = 3;
    const repaired = await job(world, node3, [{ OP_ID: 'OP_CLUSTER_REPAIR_DISK_SIZES' }]);
    expect(repaired.ops[0]?.result).toEqual([['web1', 0, 'size', 3]]);
    expect(repaired.log.map((entry) => entry.message)).toContain(
      'disk 0 of instance web1 has mismatched size, correcting: recorded 1, actual 3',
    );
    await world.runFor(500);
    expect([...world.machine(node3).service!.localConfig()!.instances.values()][0]!.disks[0]!.sizeMiB).toBe(
      3,
    );
    // Again: nothing left to correct.
    const again = await job(world, node1, [{ OP_ID: 'OP_CLUSTER_REPAIR_DISK_SIZES', instances: ['web1'] }]);
    expect(again.ops[0]?.result).toEqual([]);
    const unknown = await job(world, node1, [{ OP_ID: 'OP_CLUSTER_REPAIR_DISK_SIZES', instances: ['nope'] }]);
    expect(failure(unknown)).toBe('instance nope does not exist');
  }, 60_000);

  it("modify sets the defaults instances inherit, and refuses what Ganeti's would", async () => {
    const world = await formed(12);
    const set = await job(world, node1, [
      {
        OP_ID: 'OP_CLUSTER_SET_PARAMS',
        beparams: { memory: 256, vcpus: 2 },
        nicparams: { mode: 'routed', link: 'rt0' },
        mac_prefix: 'AA:BB:CC',
        default_iallocator: '.',
      },
    ]);
    expect(set.status, failure(set)).toBe('success');
    const cluster = world.machine(node1).service!.localConfig()!.cluster;
    expect(cluster.beParams).toMatchObject({ maxmemMiB: 256, minmemMiB: 256, vcpus: 2 });
    expect(cluster.nicParams).toEqual({ mode: 'routed', link: 'rt0' });
    expect(cluster.macPrefix).toBe('aa:bb:cc');
    expect(cluster.defaultIallocator).toBeUndefined();
    // An instance that names none of them takes them.
    const made = await job(world, node1, [
      {
        OP_ID: 'OP_INSTANCE_CREATE',
        instance_name: 'inherits',
        disk_template: 'diskless',
        disks: [],
        os_type: SIM_OS,
        pnode: 'node3',
        nics: [{}],
      },
    ]);
    expect(made.status, failure(made)).toBe('success');
    const instance = [...world.machine(node1).service!.localConfig()!.instances.values()][0]!;
    expect(instance.nics[0]).toMatchObject({ mode: 'routed', link: 'rt0' });
    expect(instance.nics[0]!.mac.startsWith('aa:bb:cc:')).toBe(true);
    expect(world.guests().find(({ guest }) => guest.name === 'inherits')?.guest.memoryMiB).toBe(256);
    for (const [op, message] of [
      [{ beparams: { minmem: 512 } }, /minmem \(512 MiB\) is above its maxmem \(256 MiB\)/],
      [{ default_iallocator: 'no-such-allocator' }, /no iallocator no-such-allocator in /],
    ] as const) {
      const refused = await job(world, node1, [{ OP_ID: 'OP_CLUSTER_SET_PARAMS', ...op }]);
      expect(failure(refused)).toMatch(message);
    }
  }, 60_000);

  it('master-ping: the master answers through any node', async () => {
    const world = await formed(13);
    for (const via of [node1, node2, node3]) expect(await ask(world, via, { op: 'ping' })).toEqual({});
  }, 60_000);
});
