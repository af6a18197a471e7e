import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MasterWorld } from '../../simulations/master-world.js';
import { failureOf, runJob } from '../../simulations/sim-jobs.js';
import { SIM_OS } from '../../simulations/sim-os.js';
import { setDaemonCallForTests } from '../../src/cli/cluster-client.js';
import { findInstance } from '../../src/cluster/config.js';
import type { JobId } from '../../src/cluster/model.js';
import type { Opcode } from '../../src/cluster/opcodes.js';
import type { NodeId } from '../../src/common/ids.js';
import { htool } from './run-htool.js';
import { simDaemonCall } from './sim-daemon.js';

/**
 * harep against a simulated three-node cluster (the daemon's own control handlers behind the CLI's calls):
 * a drbd instance whose primary went offline is failed over when the tags allow it, tracked by a pending tag
 * and then a success tag; a policy that does not allow that much gets an enoperm tag; --dry-run changes nothing.
 */

const world = new MasterWorld({ seed: 23, nodes: 3 });
let via: NodeId;

beforeAll(async () => {
  await world.form();
  via = world.machines[0]!.id;
  const call = simDaemonCall(world, via);
  setDaemonCallForTests(() => call);
}, 60_000);

afterAll(() => setDaemonCallForTests(undefined));

const harep = (...argv: string[]) => htool('harep', ...argv);

const ok = async (ops: Opcode[]) => {
  const ended = await runJob(world, via, ops);
  expect(ended.status, failureOf(ended)).toBe('success');
};
const config = () => world.machine(via).service!.localConfig()!;
const nodeName = (uuid: string) => config().nodes.get(uuid as never)!.name;
const instance = (name: string) => findInstance(config(), name)!;

/** A drbd instance on the two nodes that are not the master, and those two nodes' names. */
async function mirrored(name: string): Promise<{ primary: string; secondary: string }> {
  const master = [...config().nodes.values()].find((n) => n.id === config().master)!.name;
  const [primary, secondary] = [...config().nodes.values()]
    .map((n) => n.name)
    .filter((n) => n !== master) as [string, string];
  await ok([
    {
      OP_ID: 'OP_INSTANCE_CREATE',
      instance_name: name,
      disk_template: 'drbd',
      disks: [{ size: 64 }],
      os_type: SIM_OS,
      beparams: { memory: 128 },
      pnode: primary,
      snode: secondary,
    },
  ]);
  return { primary, secondary };
}

describe('harep', () => {
  it('does nothing where no tag enables auto-repair, and says so', async () => {
    const { primary } = await mirrored('quiet');
    await ok([{ OP_ID: 'OP_NODE_SET_PARAMS', node_name: primary, offline: true }]);
    const run = await harep('--job-delay', '0');
    expect(run.code, run.err).toBe(0);
    expect(run.out).toContain("Not repairing quiet because it's in state ArNotEnabled\n");
    expect(run.out).toMatch(/Instance status count\n-+\nHealthy: 1\n$/);
    expect(instance('quiet').tags).toEqual([]);
    await ok([{ OP_ID: 'OP_NODE_SET_PARAMS', node_name: primary, offline: false }]);
    await ok([{ OP_ID: 'OP_INSTANCE_REMOVE', instance_name: 'quiet' }]);
  }, 120_000);

  it('fails a drbd instance over off its offline primary, then records the success', async () => {
    const { primary, secondary } = await mirrored('db');
    await ok([
      { OP_ID: 'OP_TAGS_SET', kind: 'instance', name: 'db', tags: ['ganeti:watcher:autorepair:failover'] },
    ]);
    await ok([{ OP_ID: 'OP_NODE_SET_PARAMS', node_name: primary, offline: true }]);

    const dry = await harep('--dry-run', '--job-delay', '0');
    expect(dry.code, dry.err).toBe(0);
    expect(dry.out).toContain('Executing ArFailover repair on db\njobs: [[{"OP_ID":"OP_INSTANCE_FAILOVER"');
    expect(instance('db').tags).toEqual(['ganeti:watcher:autorepair:failover']);

    const first = await harep('--job-delay', '0', '--reason', 'ticket 7');
    expect(first.code, first.err).toBe(0);
    const pending = /"(ganeti:watcher:autorepair:pending:failover:[0-9a-f-]{36}:\d+:(\d+))"/.exec(first.out);
    expect(pending, first.out).not.toBeNull();
    expect(first.out).toContain('Executing ArFailover repair on db\n>>> Adding the following tag to db:\n');
    expect(first.out).toMatch(/Pending repair: 1\n$/);
    const ended = await world.waitJob(via, Number(pending![2]) as JobId);
    expect(ended.status, failureOf(ended)).toBe('success');
    expect(ended.ops[0]!.input.reason?.at(-1)?.slice(0, 2)).toEqual(['harep', 'ticket 7']);
    expect(nodeName(instance('db').primaryNode)).toBe(secondary);

    // The offline node is now its secondary: the same run goes on to replace it (fix-storage), as Ganeti's.
    const second = await harep('--job-delay', '0');
    expect(second.code, second.err).toBe(0);
    expect(second.out).toContain(
      'Moving db from "Pending repair" to "Healthy"\n>>> Adding the following tag to db:\n',
    );
    expect(second.out).toMatch(/:success:\d+"\n>>> Removing the following tags from db:\n/);
    expect(second.out).toContain('Executing ArFixStorage repair on db\n');
    expect(second.out).toMatch(/Pending repair: 1\n$/);
    const tags = instance('db').tags;
    expect(tags).not.toContain(pending![1]);
    const fix = tags
      .map((t) => /^ganeti:watcher:autorepair:pending:fix-storage:[0-9a-f-]{36}:\d+:(\d+)$/.exec(t)?.[1])
      .find((job) => job !== undefined);
    expect(fix, tags.join(' ')).toBeDefined();
    const replaced = await world.waitJob(via, Number(fix) as JobId);
    expect(replaced.ops.at(-1)!.input).toMatchObject({
      OP_ID: 'OP_INSTANCE_REPLACE_DISKS',
      mode: 'replace_new_secondary',
      iallocator: 'hail',
    });
    await ok([{ OP_ID: 'OP_NODE_SET_PARAMS', node_name: primary, offline: false }]);
  }, 120_000);

  it('records enoperm where the policy allows less than the repair needs', async () => {
    await ok([{ OP_ID: 'OP_TAGS_SET', kind: 'cluster', tags: ['ganeti:watcher:autorepair:fix-storage'] }]);
    const { primary } = await mirrored('web');
    await ok([{ OP_ID: 'OP_NODE_SET_PARAMS', node_name: primary, offline: true }]);
    const run = await harep('--job-delay', '0');
    expect(run.code, run.err).toBe(0);
    expect(run.out).toContain(
      'Not performing a repair of type ArFailover on web because only repairs up to ArFixStorage are allowed\n',
    );
    expect(run.out).toContain('Needs repair: 1\n');
    expect(
      instance('web').tags.some((t) =>
        /^ganeti:watcher:autorepair:result:failover:[0-9a-f-]{36}:\d+:enoperm:$/.test(t),
      ),
    ).toBe(true);
  }, 120_000);

  it('refuses arguments and a negative delay in one line', async () => {
    expect(await harep('extra')).toEqual({
      code: 1,
      out: '',
      err: "Error: this program doesn't take any arguments.\n",
    });
    expect((await harep('--job-delay', '-1')).err).toBe('Error: the job delay must be 0 or more seconds\n');
  });
});
