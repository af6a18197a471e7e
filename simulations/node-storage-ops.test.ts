import { describe, expect, it } from 'vitest';
import type { Opcode } from '../src/cluster/opcodes.js';
import { asNodeId } from '../src/common/ids.js';
import { MasterWorld } from './master-world.js';
import { failureOf as failure, runJob } from './sim-jobs.js';
import { SIM_OS } from './sim-os.js';

/**
 * gnt-node volumes and repair-storage on simulated nodes (issue 22): the master asks each node's agent about
 * the disks the configuration places there, and hands a repair to the node's template.
 */

const node1 = asNodeId('node1');
const job = (world: MasterWorld, ops: Opcode[]) => runJob(world, node1, ops);

const create = (name: string, template: 'file' | 'drbd', pnode: string, snode?: string): Opcode => ({
  OP_ID: 'OP_INSTANCE_CREATE',
  instance_name: name,
  disk_template: template,
  disks: [{ size: 3 }, { size: 2 }],
  os_type: SIM_OS,
  beparams: { memory: 128 },
  pnode,
  ...(snode !== undefined && { snode }),
});

describe('node volumes', () => {
  it("lists each node's copies of the disks, the primary's and a mirrored disk's secondary", async () => {
    const world = new MasterWorld({ seed: 11, nodes: 3 });
    await world.form();
    for (const op of [create('web', 'file', 'node1'), create('db', 'drbd', 'node2', 'node1')]) {
      const ended = await job(world, [op]);
      expect(ended.status, failure(ended)).toBe('success');
    }
    const ended = await job(world, [
      { OP_ID: 'OP_NODE_QUERYVOLS', nodes: [], output_fields: ['node', 'instance', 'size', 'name'] },
    ]);
    expect(ended.status, failure(ended)).toBe('success');
    const rows = ended.ops[0]!.result as unknown[][];
    expect(rows.map(([node, instance, size]) => [node, instance, size])).toEqual([
      ['node1', 'db', 3],
      ['node1', 'db', 2],
      ['node1', 'web', 3],
      ['node1', 'web', 2],
      ['node2', 'db', 3],
      ['node2', 'db', 2],
    ]);
    for (const row of rows) expect(row[3]).toEqual(expect.any(String));
    // One node named: only its rows; an unknown one is refused in one line.
    const one = await job(world, [
      { OP_ID: 'OP_NODE_QUERYVOLS', nodes: ['node2'], output_fields: ['node', 'instance'] },
    ]);
    expect(one.ops[0]!.result).toEqual([
      ['node2', 'db'],
      ['node2', 'db'],
    ]);
    const unknown = await job(world, [
      { OP_ID: 'OP_NODE_QUERYVOLS', nodes: ['node9'], output_fields: ['node'] },
    ]);
    expect(failure(unknown)).toMatch(/node9/);
  }, 60_000);
});

describe('node repair-storage', () => {
  it("hands the repair to the node's template and logs what it did; an offline node is refused", async () => {
    const world = new MasterWorld({ seed: 12, nodes: 3 });
    await world.form();
    const ended = await job(world, [
      { OP_ID: 'OP_REPAIR_NODE_STORAGE', node_name: 'node2', storage_type: 'lvm-vg', name: 'xenvg' },
    ]);
    expect(ended.status, failure(ended)).toBe('success');
    expect(ended.ops[0]!.result).toBe('plain storage in memory has no missing devices');
    expect(ended.log.map((entry) => entry.message)).toContain(
      'node2: plain storage in memory has no missing devices',
    );
    const offline = await job(world, [
      { OP_ID: 'OP_NODE_SET_PARAMS', node_name: 'node3', offline: true },
      { OP_ID: 'OP_REPAIR_NODE_STORAGE', node_name: 'node3', storage_type: 'lvm-vg', name: 'xenvg' },
    ]);
    expect(failure(offline)).toBe('node3 is offline; mark it online before repairing its storage');
  }, 60_000);
});
