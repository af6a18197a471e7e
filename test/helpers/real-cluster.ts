import { readdir } from 'node:fs/promises';
import { expect } from 'vitest';
import type { Opcode } from '../../src/cluster/opcodes.js';
import { type ConfigView, configViewSchema } from '../../src/cluster/views.js';
import { waitFor } from '../../src/common/wait.js';
import { type DaemonCall, runJob } from '../../src/daemon/job-client.js';
import { allSeeAll, DaemonProcess } from '../../src/daemon/local-cluster.js';
import { makeOs } from '../vm/os-fixtures.js';

/**
 * What the real-daemon suites ask of a cluster through one daemon's control socket: the configuration as the
 * master commits it, a job that must succeed, and one that must be refused without changing anything.
 */
export function clusterClient(call: DaemonCall) {
  const config = async (): Promise<ConfigView> =>
    configViewSchema.parse((await call({ op: 'config', consistent: true })).config);
  return {
    config,
    ok: (ops: Opcode[]) => runJob(call, ops),
    /** The job fails with `message`, and the config serial shows that nothing was committed. */
    refused: async (op: Opcode, message: RegExp) => {
      const before = (await config()).serial;
      await expect(runJob(call, [op])).rejects.toThrow(message);
      expect((await config()).serial).toBe(before);
    },
  };
}

/**
 * Puts a cluster shared by the cases of a suite back as a case found it, whatever that case did and however
 * it ended: every daemon running again (in the same slot of `daemons`) and seen alive by all, no node offline
 * or drained, no instance left. Cases that kill daemons or change node flags then need no cleanup of their own.
 */
export async function restoreCluster(daemons: DaemonProcess[], call: DaemonCall): Promise<void> {
  const { config, ok } = clusterClient(call);
  // Flags first, while a killed daemon is still down: the master's hook call to it then fails at once, where a
  // daemon just restarted on an offline node (no longer a voter) answers only once it learns the term, or
  // after awaitTermMs (3 s).
  for (const node of (await config()).nodes)
    if (node.offline || node.drained)
      await ok([{ OP_ID: 'OP_NODE_SET_PARAMS', node_name: node.name, offline: false, drained: false }]);
  for (const [index, daemon] of daemons.entries())
    if (!daemon.isRunning()) daemons[index] = await DaemonProcess.spawn(daemon.options);
  // A daemon the case itself restarted may not be back in everyone's view yet either.
  await waitFor(async () => ((await allSeeAll(daemons)) ? true : undefined), {
    timeoutMs: 30_000,
    what: 'every daemon to be seen alive by all',
  });
  const instances = (await config()).instances;
  if (instances.length > 0)
    await ok(instances.map((i) => ({ OP_ID: 'OP_INSTANCE_REMOVE', instance_name: i.name }) as const));
}

/** Every file and folder under `dir` (none if it is missing), relative to it: what no instance may leave behind. */
export async function entriesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true }).catch(() => [])).sort();
}

/**
 * An API 20 OS definition `testos` (variants default and minimal, one parameter `answer`) under `osDir`, whose
 * create and rename scripts write their environment at the start of the first disk and say what they did.
 */
export async function writeTestOs(osDir: string): Promise<void> {
  const script = (body: string) => `#!/bin/sh\nset -e\n${body}\n`;
  const writeEnv = 'env | sort | dd of="$DISK_0_PATH" conv=notrunc status=none';
  await makeOs(osDir, 'testos', {
    ganeti_api_version: '20\n15\n',
    'variants.list': 'default\nminimal\n',
    'parameters.list': 'answer the answer to write down\n',
    create: script(`${writeEnv}\necho "testos created $INSTANCE_NAME"`),
    import: script('cat > /dev/null'),
    export: script('exit 0'),
    rename: script(`${writeEnv}\necho "renamed $OLD_INSTANCE_NAME to $INSTANCE_NAME"`),
    verify: script('exit 0'),
  });
}
