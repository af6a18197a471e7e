import { describe, expect, it } from 'vitest';
import type { Opcode } from '../src/cluster/opcodes.js';
import { MasterWorld } from './master-world.js';
import { SIM_OS } from './sim-os.js';

/** Ganeti's --dry-run on simulated nodes: every check runs, nothing changes, and the job says how far it went. */
describe('dry runs', () => {
  it('check an opcode and change nothing, or fail as the real run would', async () => {
    const world = new MasterWorld({ seed: 3, nodes: 3 });
    await world.form();
    const via = world.machines[1]!.id;
    const run = async (op: Opcode) => world.waitJob(via, await world.submit(via, [{ ...op, dry_run: true }]));
    const serial = world.newestConfig()?.serial;

    const create = await run({
      OP_ID: 'OP_INSTANCE_CREATE',
      instance_name: 'web1',
      disk_template: 'file',
      disks: [{ size: 1 }],
      os_type: SIM_OS,
      beparams: { memory: 128 },
      pnode: 'node2',
    });
    expect(create.status, JSON.stringify(create.log)).toBe('success');
    expect(create.ops[0]?.result).toEqual({ dry_run: true, stopped_before: 'changing the configuration' });
    expect(create.log.at(-1)?.message).toMatch(
      /^dry run: stopped before changing the configuration; every check/,
    );

    const tags = await run({ OP_ID: 'OP_TAGS_SET', kind: 'cluster', tags: ['never'] });
    expect(tags.ops[0]?.result).toEqual({ dry_run: true, result: {} });

    const unknown = await run({ OP_ID: 'OP_NODE_SET_PARAMS', node_name: 'node9', drained: true });
    expect(unknown.status).toBe('error');
    const taken = await run({
      OP_ID: 'OP_INSTANCE_CREATE',
      instance_name: 'web2',
      disk_template: 'file',
      disks: [{ size: 1 }],
      os_type: 'no-such-os',
      pnode: 'node2',
    });
    expect(taken.status).toBe('error');

    expect(world.newestConfig()?.serial).toBe(serial);
    expect(world.newestConfig()?.cluster.tags).toEqual([]);
    expect(world.guests()).toEqual([]);
  }, 60_000);
});
