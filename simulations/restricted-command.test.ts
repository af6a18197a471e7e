import { describe, expect, it } from 'vitest';
import { asNodeId } from '../src/common/ids.js';
import { MasterWorld, SIM_RESTRICTED_COMMAND } from './master-world.js';

/** gnt-node restricted-command on simulated nodes: one [succeeded, output] per node, a failing node included. */
describe('restricted commands and powercycle', () => {
  it('asks each node named, in order, and says which failed and why', async () => {
    const world = new MasterWorld({ seed: 31, nodes: 3 });
    await world.form();
    const node1 = asNodeId('node1');
    const run = async (command: string, nodes: string[]) =>
      world.waitJob(
        node1,
        await world.submit(node1, [{ OP_ID: 'OP_RESTRICTED_COMMAND', command, nodes, use_locking: true }]),
      );
    const ran = await run(SIM_RESTRICTED_COMMAND, ['node3', 'node1']);
    expect(ran.status).toBe('success');
    expect(ran.ops[0]!.result).toEqual([
      [true, 'node3 is fine\n'],
      [true, 'node1 is fine\n'],
    ]);
    const missing = await run('reboot-all', ['node2']);
    expect(missing.status).toBe('success');
    expect(missing.ops[0]!.result).toEqual([
      [false, "Executing command 'reboot-all' failed: /memory/restricted-commands/reboot-all does not exist"],
    ]);

    // Powercycle: the node's host is asked; the master's only with force.
    const cycle = async (node: string, force: boolean) =>
      world.waitJob(
        node1,
        await world.submit(node1, [{ OP_ID: 'OP_NODE_POWERCYCLE', node_name: node, force }]),
      );
    expect((await cycle('node2', false)).ops[0]!.result).toBe('Reboot scheduled in 5 seconds');
    expect(world.machine(asNodeId('node2')).powercycles).toBe(1);
    const master = await cycle('node1', false);
    expect((master.ops[0]!.result as { message: string }).message).toBe(
      'The node is the master and the force parameter was not set',
    );
    expect(world.machine(node1).powercycles).toBe(0);
    expect((await cycle('node1', true)).status).toBe('success');
    expect(world.machine(node1).powercycles).toBe(1);
  }, 60_000);
});
