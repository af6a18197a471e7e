import { describe, expect, it } from 'vitest';
import { findInstance, nodeOfUuid } from '../src/cluster/config.js';
import type { JobRecord } from '../src/cluster/jobs.js';
import type { Opcode } from '../src/cluster/opcodes.js';
import { asNodeId } from '../src/common/ids.js';
import { MasterWorld } from './master-world.js';
import { failureOf as failure, runJob as job } from './sim-jobs.js';
import { SIM_OS } from './sim-os.js';

/**
 * Moving instances between node groups on simulated nodes (issue 22): instance change-group and group
 * evacuate plan with the allocator's change-group request and submit one job per instance, which moves a
 * file instance by copying its disks and a drbd instance by a new secondary, a failover and another one.
 */

const node1 = asNodeId('node1');

/** Runs the job, then the jobs its first opcode submitted; returns those. */
async function withChildren(world: MasterWorld, ops: Opcode[]): Promise<JobRecord[]> {
  const parent = await job(world, node1, ops);
  expect(parent.status, failure(parent)).toBe('success');
  const { jobs } = parent.ops[0]!.result as { jobs: [boolean, number][] };
  const children: JobRecord[] = [];
  for (const [submitted, id] of jobs) {
    expect(submitted).toBe(true);
    const child = await world.waitJob(node1, id as never);
    expect(child.status, failure(child)).toBe('success');
    children.push(child);
  }
  return children;
}

/** Four nodes: node1 and node2 in the default group, node3 and node4 in rack2. */
async function twoGroups(seed: number): Promise<MasterWorld> {
  const world = new MasterWorld({ seed, nodes: 4, watcherIntervalMs: 2_000 });
  await world.form();
  for (const ops of [
    [{ OP_ID: 'OP_GROUP_ADD', group_name: 'rack2' }],
    [{ OP_ID: 'OP_GROUP_ASSIGN_NODES', group_name: 'rack2', nodes: ['node3', 'node4'] }],
  ] as Opcode[][]) {
    const ended = await job(world, node1, ops);
    expect(ended.status, failure(ended)).toBe('success');
  }
  return world;
}

const create = (name: string, template: 'file' | 'drbd', pnode: string, snode?: string): Opcode => ({
  OP_ID: 'OP_INSTANCE_CREATE',
  instance_name: name,
  disk_template: template,
  disks: [{ size: 1 }],
  os_type: SIM_OS,
  beparams: { memory: 128 },
  pnode,
  ...(snode !== undefined && { snode }),
});

/** The groups of the instance's nodes, primary first. */
function groupsOf(world: MasterWorld, name: string): string[] {
  const config = world.machine(node1).service!.localConfig()!;
  const instance = findInstance(config, name)!;
  return [instance.primaryNode, ...instance.secondaryNodes].map(
    (uuid) => config.groups.get(nodeOfUuid(config, uuid).group)!.name,
  );
}

const runningOn = (world: MasterWorld, name: string) =>
  world
    .guests()
    .filter(({ guest }) => guest.name === name && guest.state === 'running')
    .map(({ node }) => node);

describe('instance change-group', () => {
  it('moves a running file instance to a node of the other group, copying its disks', async () => {
    const world = await twoGroups(1);
    expect((await job(world, node1, [create('web', 'file', 'node1')])).status).toBe('success');
    const children = await withChildren(world, [{ OP_ID: 'OP_INSTANCE_CHANGE_GROUP', instance_name: 'web' }]);
    expect(children.flatMap((child) => child.ops.map((op) => op.input.OP_ID))).toEqual(['OP_INSTANCE_MOVE']);
    expect(groupsOf(world, 'web')).toEqual(['rack2']);
    expect(runningOn(world, 'web')).toHaveLength(1);
    expect(['node3', 'node4']).toContain(runningOn(world, 'web')[0]);
  }, 60_000);

  it('refuses a target group the instance already uses, and a cluster with one group, in one line', async () => {
    const world = await twoGroups(2);
    expect((await job(world, node1, [create('web', 'file', 'node1')])).status).toBe('success');
    const own = await job(world, node1, [
      { OP_ID: 'OP_INSTANCE_CHANGE_GROUP', instance_name: 'web', target_groups: ['default'] },
    ]);
    expect(failure(own)).toBe('node group default cannot be a target: instance web has a node there');
    const alone = new MasterWorld({ seed: 3, nodes: 2 });
    await alone.form();
    expect((await job(alone, node1, [create('db', 'file', 'node1')])).status).toBe('success');
    const none = await job(alone, node1, [{ OP_ID: 'OP_INSTANCE_CHANGE_GROUP', instance_name: 'db' }]);
    expect(failure(none)).toBe('there is no other node group to move instance db to; add one first');
  }, 60_000);
});

describe('group evacuate', () => {
  it('moves every instance of the group into the other one, a mirrored one with both its copies', async () => {
    const world = await twoGroups(4);
    for (const ops of [[create('web', 'file', 'node2')], [create('db', 'drbd', 'node1', 'node2')]]) {
      const ended = await job(world, node1, ops);
      expect(ended.status, failure(ended)).toBe('success');
    }
    const children = await withChildren(world, [{ OP_ID: 'OP_GROUP_EVACUATE', group_name: 'default' }]);
    expect(children).toHaveLength(2);
    expect(groupsOf(world, 'web')).toEqual(['rack2']);
    expect(groupsOf(world, 'db')).toEqual(['rack2', 'rack2']);
    expect(runningOn(world, 'db')).toHaveLength(1);
    // Nothing is left to move: a second evacuation submits no job.
    expect(await withChildren(world, [{ OP_ID: 'OP_GROUP_EVACUATE', group_name: 'default' }])).toEqual([]);
  }, 120_000);

  it('refuses the evacuated group as its own target, in one line', async () => {
    const world = await twoGroups(5);
    const ended = await job(world, node1, [
      { OP_ID: 'OP_GROUP_EVACUATE', group_name: 'default', target_groups: ['default'] },
    ]);
    expect(failure(ended)).toBe('node group default cannot be a target: it is the group being evacuated');
  }, 60_000);
});
