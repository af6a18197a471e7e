import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MasterWorld, SIM_OOB_PROGRAM } from '../../simulations/master-world.js';
import { failureOf, runJob } from '../../simulations/sim-jobs.js';
import { setDaemonCallForTests } from '../../src/cli/cluster-client.js';
import type { Opcode } from '../../src/cluster/opcodes.js';
import type { NodeId } from '../../src/common/ids.js';
import { htool } from './run-htool.js';
import { simDaemonCall } from './sim-daemon.js';

/**
 * hsqueeze -X on a simulated cluster: standby nodes powered on (through their out-of-band program) and
 * brought online when the others lack room, and idle nodes tagged, marked offline and powered off when
 * there is room to spare.
 */

const world = new MasterWorld({ seed: 31, nodes: 3 });
let via: NodeId;

beforeAll(async () => {
  await world.form();
  via = world.machines[0]!.id;
  setDaemonCallForTests(() => simDaemonCall(world, via));
}, 60_000);

afterAll(() => setDaemonCallForTests(undefined));

const ok = async (ops: Opcode[]) => {
  const ended = await runJob(world, via, ops);
  expect(ended.status, failureOf(ended)).toBe('success');
  return ended;
};
const config = () => world.machine(via).service!.localConfig()!;
const node = (name: string) => [...config().nodes.values()].find((n) => n.name === name)!;

const hsqueeze = (...argv: string[]) => htool('hsqueeze', ...argv);

describe('hsqueeze -X', () => {
  it('powers a standby node on and brings it online, then powers idle nodes off', async () => {
    const master = [...config().nodes.values()].find((n) => n.id === config().master)!.name;
    const standby = [...config().nodes.values()].map((n) => n.name).find((n) => n !== master)!;
    await ok([{ OP_ID: 'OP_CLUSTER_SET_PARAMS', ndparams: { oob_program: SIM_OOB_PROGRAM } }]);
    await ok([{ OP_ID: 'OP_TAGS_SET', kind: 'node', name: standby, tags: ['htools:standby:auto'] }]);
    await ok([{ OP_ID: 'OP_NODE_SET_PARAMS', node_name: standby, offline: true }]);
    await ok([{ OP_ID: 'OP_OOB_COMMAND', node_names: [standby], command: 'power-off' }]);
    expect(node(standby)).toMatchObject({ offline: true, powered: false });

    // The online nodes cannot hold 100 standard instances each: the standby node is powered on.
    const up = await hsqueeze('-X', '--minimal-resources', '100');
    expect(up.code, up.err).toBe(0);
    expect(up.out).toBe(`'Nodes to online'\n${standby}\nJob set 1 of 1: 1 job(s)\n`);
    expect(node(standby)).toMatchObject({ offline: false, powered: true });

    // With nothing to run, the nodes that are not the master may all go: one job tags each, one powers them off.
    const down = await hsqueeze('-X');
    expect(down.code, down.err).toBe(0);
    const [header, ...rest] = down.out.trimEnd().split('\n');
    expect(header).toBe("'Nodes to offline'");
    const gone = rest.filter((line) => !line.startsWith('Job set'));
    expect(gone.sort()).toEqual(
      [...config().nodes.values()]
        .map((n) => n.name)
        .filter((n) => n !== master)
        .sort(),
    );
    expect(rest.filter((line) => line.startsWith('Job set'))).toEqual([
      `Job set 1 of 2: ${gone.length} job(s)`,
      'Job set 2 of 2: 1 job(s)',
    ]);
    for (const name of gone) {
      expect(node(name)).toMatchObject({ offline: true, powered: false });
      expect(node(name).tags).toContain('htools:standby:auto');
    }
  }, 120_000);

  it('refuses -X on a text file, as Ganeti does', async () => {
    const run = await hsqueeze('-X', '-t', 'test/ganeti-htools/data/hsqueeze-underutilized.data');
    expect(run.code).toBe(1);
    expect(run.err).toBe('Error: hsqueeze: Execution of commands possible only on LUXI\n');
  });
});
