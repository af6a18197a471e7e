import { describe, expect, it } from 'vitest';
import { findNode } from '../src/cluster/config.js';
import type { Opcode } from '../src/cluster/opcodes.js';
import { MasterWorld, SIM_OOB_PROGRAM } from './master-world.js';

/**
 * Ganeti's out-of-band management on simulated nodes: node parameters inherited down to each node, the
 * master running the hosts' OOB program through its seam, and LUOobCommand's and LUNodeSetParams' rules on
 * power (the master never powered off, power-off only of offline nodes, back online only once powered).
 */
describe('out-of-band commands on the simulated cluster', () => {
  it('runs the filled oob_program of each node and keeps the power state as Ganeti does', async () => {
    const world = new MasterWorld({ seed: 7, nodes: 3 });
    await world.form();
    const via = world.machines[1]!.id;
    const job = async (ops: Opcode[]) => world.waitJob(via, await world.submit(via, ops));
    const lastError = (record: { log: readonly { message: string }[] }) => record.log.at(-1)?.message;

    // Without a program every node is unavailable, which is not an error.
    const unavail = await job([{ OP_ID: 'OP_OOB_COMMAND', node_names: ['node3'], command: 'health' }]);
    expect(unavail.ops[0]!.result).toEqual([
      [
        [0, 'node3'],
        [3, null],
      ],
    ]);

    // The cluster's program, inherited by every node but node3, which turns it off for itself.
    expect(
      (await job([{ OP_ID: 'OP_CLUSTER_SET_PARAMS', ndparams: { oob_program: SIM_OOB_PROGRAM } }])).status,
    ).toBe('success');
    expect(
      (await job([{ OP_ID: 'OP_NODE_SET_PARAMS', node_name: 'node3', ndparams: { oob_program: '' } }]))
        .status,
    ).toBe('success');
    const health = await job([{ OP_ID: 'OP_OOB_COMMAND', node_names: [], command: 'health' }]);
    expect(health.status).toBe('success');
    expect(health.ops[0]!.result).toEqual([
      [
        [0, 'node1'],
        [
          0,
          [
            ['psu', 'OK'],
            ['fan', 'WARNING'],
          ],
        ],
      ],
      [
        [0, 'node2'],
        [
          0,
          [
            ['psu', 'OK'],
            ['fan', 'WARNING'],
          ],
        ],
      ],
      [
        [0, 'node3'],
        [3, null],
      ],
    ]);

    // The master is never powered off; a node is powered off only once offline.
    const master = world.newestConfig()!;
    const masterName = [...master.nodes.values()].find((node) => node.id === master.master)!.name;
    const onMaster = await job([
      { OP_ID: 'OP_OOB_COMMAND', node_names: [masterName], command: 'power-off', ignore_status: true },
    ]);
    expect(onMaster.status).toBe('error');
    expect(lastError(onMaster)).toContain(
      `Operating on the master node ${masterName} is not allowed for power-off`,
    );
    const other = ['node1', 'node2'].find((name) => name !== masterName)!;
    const online = await job([{ OP_ID: 'OP_OOB_COMMAND', node_names: [other], command: 'power-off' }]);
    expect(lastError(online)).toContain(`Cannot power off node ${other} because it is not marked offline`);
    const off = await job([
      { OP_ID: 'OP_NODE_SET_PARAMS', node_name: other, offline: true },
      { OP_ID: 'OP_OOB_COMMAND', node_names: [other], command: 'power-off' },
    ]);
    expect(off.status).toBe('success');
    expect(findNode(world.newestConfig()!, other)!.powered).toBe(false);
    const status = await job([{ OP_ID: 'OP_OOB_COMMAND', node_names: [other], command: 'power-status' }]);
    expect(status.ops[0]!.result).toEqual([
      [
        [0, other],
        [0, { powered: false }],
      ],
    ]);

    // A dry run checks, runs what only reads (power-status), and stops before a power change.
    const dryStatus = await job([
      { OP_ID: 'OP_OOB_COMMAND', node_names: [other], command: 'power-status', dry_run: true },
    ]);
    expect(dryStatus.ops[0]!.result).toEqual({ dry_run: true, result: status.ops[0]!.result });
    const dryOn = await job([
      { OP_ID: 'OP_OOB_COMMAND', node_names: [other], command: 'power-on', dry_run: true },
    ]);
    expect(dryOn.ops[0]!.result).toEqual({
      dry_run: true,
      stopped_before: `running ${SIM_OOB_PROGRAM} power-on ${other}`,
    });
    expect(findNode(world.newestConfig()!, other)!.powered).toBe(false);

    // Back online only once powered on.
    const early = await job([{ OP_ID: 'OP_NODE_SET_PARAMS', node_name: other, offline: false }]);
    expect(lastError(early)).toContain(
      `Node ${other} needs to be turned on before its offline status can be reset`,
    );
    const back = await job([
      { OP_ID: 'OP_OOB_COMMAND', node_names: [other], command: 'power-on' },
      { OP_ID: 'OP_NODE_SET_PARAMS', node_name: other, offline: false },
    ]);
    expect(back.status).toBe('success');
    expect(findNode(world.newestConfig()!, other)).toMatchObject({ powered: true, offline: false });
  }, 120_000);
});
