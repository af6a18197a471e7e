import { describe, expect, it } from 'vitest';
import { findInstance } from '../src/cluster/config.js';
import type { Opcode } from '../src/cluster/opcodes.js';
import { asNodeId } from '../src/common/ids.js';
import { MasterWorld } from './master-world.js';
import { failureOf as failure, runJob } from './sim-jobs.js';
import { SIM_OS } from './sim-os.js';

/**
 * gnt-os modify on simulated nodes: the cluster's parameters for an OS reach its instances (instance info's
 * actual values), unknown hypervisor parameters are refused before anything changes, and a blacklisted OS is
 * refused for installation until it is taken off the list.
 */

const node1 = asNodeId('node1');
const job = (world: MasterWorld, ops: Opcode[]) => runJob(world, node1, ops);

const create = (name: string): Opcode => ({
  OP_ID: 'OP_INSTANCE_CREATE',
  instance_name: name,
  disk_template: 'diskless',
  disks: [],
  os_type: SIM_OS,
  beparams: { memory: 64 },
  hvparams: { boot_order: 'disk' },
  osparams: { dhcp: 'no' },
  pnode: 'node1',
});

describe('os modify', () => {
  it("gives an OS's instances the cluster's parameters under their own, and checks hypervisor parameters", async () => {
    const world = new MasterWorld({ seed: 21, nodes: 3 });
    await world.form();
    const set = await job(world, [
      {
        OP_ID: 'OP_CLUSTER_SET_PARAMS',
        osparams: { [SIM_OS]: { dhcp: 'yes', suite: 'bookworm' } },
        os_hvp: { [SIM_OS]: { fake: { kernel_path: '/boot/k', boot_order: 'cdrom' } } },
        hvparams: { fake: { accel: 'tcg', kernel_path: '/boot/cluster' } },
      },
    ]);
    expect(set.status, failure(set)).toBe('success');
    expect((await job(world, [create('web')])).status).toBe('success');
    const info = await job(world, [{ OP_ID: 'OP_INSTANCE_QUERY_DATA', instances: ['web'], static: true }]);
    const web = (info.ops[0]!.result as Record<string, { hv_actual: object; os_actual: object }>).web!;
    expect(web.os_actual).toEqual({ dhcp: 'no', suite: 'bookworm' });
    // The cluster's, then the OS's, then the instance's own (Ganeti's FillHV).
    expect(web.hv_actual).toEqual({ accel: 'tcg', kernel_path: '/boot/k', boot_order: 'disk' });

    const before = world.machine(node1).service!.localConfig()!.cluster;
    const bad = await job(world, [
      { OP_ID: 'OP_CLUSTER_SET_PARAMS', os_hvp: { [SIM_OS]: { fake: { colour: 'red' } } } },
    ]);
    expect(failure(bad)).toBe('unknown hypervisor parameter colour for fake');
    expect(world.machine(node1).service!.localConfig()!.cluster.osHvParams).toEqual(before.osHvParams);
  }, 60_000);

  it('refuses a blacklisted OS for installation and reinstallation, and takes it once removed', async () => {
    const world = new MasterWorld({ seed: 22, nodes: 3 });
    await world.form();
    expect((await job(world, [create('web')])).status).toBe('success');
    const listed = await job(world, [
      { OP_ID: 'OP_CLUSTER_SET_PARAMS', blacklisted_os: [['add', SIM_OS]], hidden_os: [['add', SIM_OS]] },
    ]);
    expect(listed.status, failure(listed)).toBe('success');
    const refusal = `Guest OS '${SIM_OS}' is not allowed for installation: it is blacklisted (gnt-os modify --blacklisted=no ${SIM_OS})`;
    expect(failure(await job(world, [create('db')]))).toBe(refusal);
    expect(
      failure(
        await job(world, [
          { OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: 'web' },
          { OP_ID: 'OP_INSTANCE_REINSTALL', instance_name: 'web' },
        ]),
      ),
    ).toBe(refusal);
    expect(findInstance(world.machine(node1).service!.localConfig()!, 'db')).toBeUndefined();
    // The instance that has it keeps running it: the blacklist only stops new installations.
    expect((await job(world, [{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'web' }])).status).toBe(
      'success',
    );
    const cleared = await job(world, [
      { OP_ID: 'OP_CLUSTER_SET_PARAMS', blacklisted_os: [['remove', SIM_OS]] },
    ]);
    expect(cleared.status, failure(cleared)).toBe('success');
    expect((await job(world, [create('db')])).status).toBe('success');
    expect(
      failure(await job(world, [{ OP_ID: 'OP_CLUSTER_SET_PARAMS', blacklisted_os: [['remove', SIM_OS]] }])),
    ).toBe(`OS ${SIM_OS} is not blacklisted`);
  }, 60_000);
});
