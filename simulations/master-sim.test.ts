import { describe, expect, it } from 'vitest';
import { opcodeSchema } from '../src/cluster/opcodes.js';
import { memoryAddress } from '../src/peer/memory-transport.js';
import { runMasterSimulation } from './master-sim.js';
import { MasterWorld } from './master-world.js';
import { SIM_OS } from './sim-os.js';

describe('the master on simulated nodes', () => {
  it('forms a cluster, adds an instance and runs it on one node', async () => {
    const world = new MasterWorld({ seed: 1, nodes: 3 });
    await world.form();
    const job = await world.submit(world.machines[1]!.id, [
      {
        OP_ID: 'OP_INSTANCE_CREATE',
        instance_name: 'web1',
        disk_template: 'file',
        disks: [{ size: 1 }],
        os_type: SIM_OS,
        beparams: { memory: 128 },
        pnode: 'node2',
      },
    ]);
    const ended = await world.waitJob(world.machines[2]!.id, job);
    expect(ended.status, JSON.stringify(ended.log)).toBe('success');
    expect(world.guests().map(({ node, guest }) => [node, guest.name, guest.state])).toEqual([
      ['node2', 'web1', 'running'],
    ]);
  }, 60_000);

  it('puts an added node in the Raft group as soon as its addition commits, not at the next reconcile round', async () => {
    // No round comes within the test: only the configuration change can bring node2 in.
    const world = new MasterWorld({ seed: 2, nodes: 2, reconcileIntervalMs: 3_600_000 });
    const [first, second] = world.machines;
    for (const machine of world.machines) await world.boot(machine.id);
    await world.settle(
      first!.service!.init({
        name: 'sim.cluster',
        enabledHypervisors: ['fake'],
        enabledDiskTemplates: ['diskless'],
      }),
    );
    const job = await world.submit(first!.id, [
      {
        OP_ID: 'OP_NODE_ADD',
        node_name: second!.id,
        address: memoryAddress(second!.id),
        primary_ip: '127.0.1.2',
        enrol_code: second!.enrolment.code(),
        master_candidate: false,
      },
    ]);
    expect((await world.waitJob(first!.id, job)).status).toBe('success');
    await world.until(
      () => second!.service?.localConfig()?.nodes.size === 2,
      1_000,
      'node2 to hold the configuration as a learner',
    );
    expect(first!.service!.raftStatus()?.membership).toEqual({ voters: [first!.id], learners: [second!.id] });
  }, 60_000);
});

/** Seeds run in `npm test`; `npm run sim -- master --seeds N` runs more. */
const SEEDS = 150;

describe('random instance operations under partitions and crashes', () => {
  it(`never runs an instance on two nodes nor starts one on a stale copy, loses no acknowledged write, resyncs healed mirrors, ends every accepted job once, and takes jobs again once healed (${SEEDS} seeds)`, async () => {
    const failures: string[] = [];
    let succeeded = 0;
    const submittedOps = new Set<string>();
    const succeededOps = new Set<string>();
    for (let seed = 1; seed <= SEEDS; seed++) {
      const result = await runMasterSimulation({ seed });
      succeeded += result.jobs.success;
      for (const op of Object.keys(result.submitted)) submittedOps.add(op);
      for (const op of Object.keys(result.succeeded)) succeededOps.add(op);
      if (result.violations.length > 0 || !result.recovered)
        failures.push(
          `seed ${seed}: ${result.recovered ? '' : 'no job succeeded after healing; '}${result.violations.join('; ')} [${result.faults.join(', ')}] replay: npm run sim -- master --seed ${seed}`,
        );
    }
    expect(failures).toEqual([]);
    // The workload did work: most operations went through, not just refusals, and every opcode was tried.
    expect(succeeded).toBeGreaterThan(SEEDS * 5);
    const opIds = opcodeSchema.options.map((option) => option.shape.OP_ID.value);
    expect(opIds.filter((op) => !submittedOps.has(op))).toEqual([]);
    expect(opIds.filter((op) => !succeededOps.has(op))).toEqual([]);
  }, 600_000);

  it('replays a seed exactly', async () => {
    expect(await runMasterSimulation({ seed: 42 })).toEqual(await runMasterSimulation({ seed: 42 }));
  }, 60_000);
});
