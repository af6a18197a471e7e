import { describe, expect, it } from 'vitest';
import { findInstance, nodeOfUuid } from '../src/cluster/config.js';
import type { JobRecord } from '../src/cluster/jobs.js';
import type { InstanceRecord } from '../src/cluster/model.js';
import type { Opcode } from '../src/cluster/opcodes.js';
import { asNodeId, type NodeId } from '../src/common/ids.js';
import { opDefinitions } from '../src/master/op-defs.js';
import { MasterWorld } from './master-world.js';
import { failureOf as failure, runJob } from './sim-jobs.js';
import { SIM_OS } from './sim-os.js';

/**
 * Ganeti's recreate-disks on simulated nodes (issue 22): a stopped instance's disks made anew and empty, all
 * or some with a new size, on its nodes or on others, with a drbd mirror left consistent; and its refusals.
 */

const node1 = asNodeId('node1');
const job = (world: MasterWorld, ops: Opcode[]) => runJob(world, node1, ops);

async function succeeds(world: MasterWorld, ops: Opcode[]): Promise<JobRecord> {
  const ended = await job(world, ops);
  expect(ended.status, failure(ended)).toBe('success');
  return ended;
}

async function cluster(seed: number): Promise<MasterWorld> {
  const world = new MasterWorld({ seed, nodes: 4, watcherIntervalMs: 2_000 });
  await world.form();
  return world;
}

const create = (name: string, template: 'file' | 'drbd', nodes: string[], disks: number[]): Opcode => ({
  OP_ID: 'OP_INSTANCE_CREATE',
  instance_name: name,
  disk_template: template,
  disks: disks.map((size) => ({ size })),
  os_type: SIM_OS,
  beparams: { memory: 128 },
  pnode: nodes[0]!,
  ...(nodes[1] !== undefined && { snode: nodes[1] }),
});

const stop = (name: string): Opcode => ({ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: name, timeout: 0 });

function record(world: MasterWorld, name: string): InstanceRecord {
  return findInstance(world.newestConfig()!, name)!;
}

function nodesOf(world: MasterWorld, name: string): string[] {
  const config = world.newestConfig()!;
  const instance = record(world, name);
  return [instance.primaryNode, ...instance.secondaryNodes].map((uuid) => nodeOfUuid(config, uuid).name);
}

/** Each disk's size and whether it holds anything but zeros, on a node (undefined where it has none). */
function copies(world: MasterWorld, node: string, name: string) {
  const instance = record(world, name);
  return instance.disks.map((disk) => {
    const copy = world.machine(node as NodeId).localDisks.disks.get(`${instance.uuid}/${disk.uuid}`);
    return copy === undefined
      ? undefined
      : { sizeMiB: copy.sizeMiB, written: copy.data.some((byte) => byte !== 0) };
  });
}

/** Puts data on each of the instance's disks on the node, as a guest would have. */
function scribble(world: MasterWorld, node: string, name: string): void {
  const instance = record(world, name);
  for (const disk of instance.disks)
    world.machine(node as NodeId).localDisks.disks.get(`${instance.uuid}/${disk.uuid}`)!.data =
      new Uint8Array([7, 7]);
}

describe('instance recreate-disks', () => {
  it('recreates every disk of a stopped instance empty, then a subset with a new size and mode', async () => {
    const world = await cluster(1);
    await succeeds(world, [create('web', 'file', ['node2'], [1, 2]), stop('web')]);
    scribble(world, 'node2', 'web');
    const all = await succeeds(world, [{ OP_ID: 'OP_INSTANCE_RECREATE_DISKS', instance_name: 'web' }]);
    expect(all.ops[0]!.result).toEqual({ instance: 'web', disks: [0, 1], nodes: ['node2'] });
    expect(copies(world, 'node2', 'web')).toEqual([
      { sizeMiB: 1, written: false },
      { sizeMiB: 2, written: false },
    ]);
    scribble(world, 'node2', 'web');
    await succeeds(world, [
      { OP_ID: 'OP_INSTANCE_RECREATE_DISKS', instance_name: 'web', disks: [[1, { size: 5, mode: 'ro' }]] },
    ]);
    expect(copies(world, 'node2', 'web')).toEqual([
      { sizeMiB: 1, written: true },
      { sizeMiB: 5, written: false },
    ]);
    expect(record(world, 'web').disks.map((disk) => [disk.sizeMiB, disk.mode])).toEqual([
      [1, 'rw'],
      [5, 'ro'],
    ]);
    // Moving to other nodes remakes every disk; a dry run checks and changes nothing.
    expect(
      failure(
        await job(world, [
          { OP_ID: 'OP_INSTANCE_RECREATE_DISKS', instance_name: 'web', disks: [1], nodes: ['node3'] },
        ]),
      ),
    ).toBe(
      'recreating disks on other nodes remakes every disk of web: leave out --disk, or give one for each of its 2 disks',
    );
    scribble(world, 'node2', 'web');
    const dry = await succeeds(world, [
      { OP_ID: 'OP_INSTANCE_RECREATE_DISKS', instance_name: 'web', dry_run: true },
    ]);
    expect(dry.ops[0]!.result).toMatchObject({ dry_run: true });
    expect(copies(world, 'node2', 'web')).toEqual([
      { sizeMiB: 1, written: true },
      { sizeMiB: 5, written: true },
    ]);
    // Ganeti's hooks: instance-recreate-disks, on the master and the instance's nodes.
    const config = world.newestConfig()!;
    const hooks = opDefinitions.OP_INSTANCE_RECREATE_DISKS.hooks!(
      { OP_ID: 'OP_INSTANCE_RECREATE_DISKS', instance_name: 'web' },
      config,
    )!;
    expect(hooks).toMatchObject({ hpath: 'instance-recreate-disks', objectType: 'INSTANCE', target: 'web' });
    expect(hooks.env).toMatchObject({
      INSTANCE_NAME: 'web',
      INSTANCE_PRIMARY: 'node2',
      INSTANCE_DISK_COUNT: '2',
    });
    expect([...hooks.preNodes].sort()).toEqual([config.master, 'node2'].sort());
    // The recreated instance starts on its new disks.
    await succeeds(world, [{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'web' }]);
  }, 60_000);

  it('recreates the disks on new nodes, and the old node keeps none', async () => {
    const world = await cluster(2);
    await succeeds(world, [create('web', 'file', ['node2'], [1]), stop('web')]);
    await succeeds(world, [{ OP_ID: 'OP_INSTANCE_RECREATE_DISKS', instance_name: 'web', nodes: ['node3'] }]);
    expect(nodesOf(world, 'web')).toEqual(['node3']);
    expect(copies(world, 'node3', 'web')).toEqual([{ sizeMiB: 1, written: false }]);
    expect(copies(world, 'node2', 'web')).toEqual([undefined]);
    // With the allocator: somewhere it chose, still one node.
    await succeeds(world, [{ OP_ID: 'OP_INSTANCE_RECREATE_DISKS', instance_name: 'web', iallocator: '.' }]);
    expect(nodesOf(world, 'web')).toHaveLength(1);
  }, 60_000);

  it('leaves a drbd mirror consistent: both copies empty, alike and current, on the old nodes or new ones', async () => {
    const world = await cluster(3);
    await succeeds(world, [create('db', 'drbd', ['node1', 'node2'], [1])]);
    expect(await world.guestWrite('db', 4096, 9)).toMatch(/^acknowledged/);
    await succeeds(world, [stop('db')]);
    const before = record(world, 'db').mirror!;
    expect(copies(world, 'node1', 'db')).toEqual([{ sizeMiB: 1, written: true }]);
    await succeeds(world, [{ OP_ID: 'OP_INSTANCE_RECREATE_DISKS', instance_name: 'db' }]);
    const config = world.newestConfig()!;
    const after = record(world, 'db').mirror!;
    expect(after.generation).toBe(before.generation + 1);
    expect(after.current.map((uuid) => nodeOfUuid(config, uuid).name)).toEqual(['node1', 'node2']);
    for (const node of ['node1', 'node2'])
      expect(copies(world, node, 'db')).toEqual([{ sizeMiB: 1, written: false }]);
    await succeeds(world, [
      { OP_ID: 'OP_INSTANCE_RECREATE_DISKS', instance_name: 'db', nodes: ['node3', 'node4'] },
    ]);
    const moved = world.newestConfig()!;
    expect(nodesOf(world, 'db')).toEqual(['node3', 'node4']);
    expect(record(world, 'db').mirror!.current.map((uuid) => nodeOfUuid(moved, uuid).name)).toEqual([
      'node3',
      'node4',
    ]);
    for (const node of ['node1', 'node2']) expect(copies(world, node, 'db')).toEqual([undefined]);
    // It starts on its empty copies, and its mirror links up in sync.
    await succeeds(world, [{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'db' }]);
    expect(await world.guestWrite('db', 0, 1)).toMatch(/^acknowledged by node3/);
  }, 120_000);

  it('makes a stale secondary current again: after recreating every disk both copies are alike', async () => {
    const world = await cluster(5);
    await succeeds(world, [create('db', 'drbd', ['node1', 'node2'], [1, 1])]);
    world.crash(asNodeId('node2'));
    // The primary cannot reach its peer: it records the peer's copy stale, then acknowledges.
    expect(await world.guestWrite('db', 4096, 9, 30_000)).toMatch(/^acknowledged/);
    await succeeds(world, [stop('db')]);
    await world.boot(asNodeId('node2'));
    const stale = world.newestConfig()!;
    expect(record(world, 'db').mirror!.current.map((uuid) => nodeOfUuid(stale, uuid).name)).toEqual([
      'node1',
    ]);
    // Some disks only: the secondary stays stale (its other disk still lags).
    await succeeds(world, [{ OP_ID: 'OP_INSTANCE_RECREATE_DISKS', instance_name: 'db', disks: [[1, {}]] }]);
    expect(copies(world, 'node1', 'db')).toEqual([
      { sizeMiB: 1, written: true },
      { sizeMiB: 1, written: false },
    ]);
    expect(record(world, 'db').mirror!.current.map((uuid) => nodeOfUuid(stale, uuid).name)).toEqual([
      'node1',
    ]);
    await succeeds(world, [{ OP_ID: 'OP_INSTANCE_RECREATE_DISKS', instance_name: 'db' }]);
    expect(record(world, 'db').mirror!.current.map((uuid) => nodeOfUuid(stale, uuid).name)).toEqual([
      'node1',
      'node2',
    ]);
    for (const node of ['node1', 'node2'])
      expect(copies(world, node, 'db')).toEqual([
        { sizeMiB: 1, written: false },
        { sizeMiB: 1, written: false },
      ]);
  }, 120_000);

  it('refuses a running instance, a disk it does not have and an unknown node, in one line each', async () => {
    const world = await cluster(4);
    await succeeds(world, [create('web', 'file', ['node2'], [1])]);
    const refusal = async (op: Partial<Extract<Opcode, { OP_ID: 'OP_INSTANCE_RECREATE_DISKS' }>>) =>
      failure(await job(world, [{ OP_ID: 'OP_INSTANCE_RECREATE_DISKS', instance_name: 'web', ...op }]));
    expect(await refusal({})).toBe(
      'web is marked up; shut it down first (instance shutdown web), then recreate its disks',
    );
    await succeeds(world, [stop('web')]);
    expect(await refusal({ disks: [3] })).toBe('web has no disk 3 (it has 1: 0)');
    expect(await refusal({ nodes: ['node9'] })).toBe('node node9 is not in the cluster');
    expect(await refusal({ nodes: ['node3', 'node4'] })).toBe(
      'web (file) has 1 node(s), but 2 were given (node3:node4); give one node',
    );
    expect(await refusal({ nodes: ['node3'], iallocator: '.' })).toBe(
      'give new nodes (-n) or an allocator (-I), not both',
    );
    expect(await refusal({ disks: [0, 0] })).toBe('disk 0 is given more than once; give each disk once');
    // Marked down but still running (a shutdown that was not remembered): refused too.
    await succeeds(world, [{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'web', no_remember: true }]);
    expect(await refusal({})).toBe('web is running on node2; shut it down first, then recreate its disks');
    expect(copies(world, 'node2', 'web')).toEqual([{ sizeMiB: 1, written: false }]);
  }, 60_000);
});
