import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTool } from '../../simulations/partition-net.js';
import { waitFor } from '../../src/common/wait.js';
import { type DaemonCall, runJob } from '../../src/daemon/job-client.js';
import { DaemonProcess, formLocalCluster } from '../../src/daemon/local-cluster.js';
import { HaNet, haNetMissing } from '../helpers/ha-net.js';

/**
 * The floating master IP on three real daemons, each in a network namespace of its own (ha-net.ts; nothing
 * touches the host's network): the master holds the address on its eth0 and answers RAPI there; it drops
 * it on deactivate-master-ip and takes it up on activate; when the master is killed the next one takes the
 * address up, and the old node drops the one its dead daemon left once its daemon is back.
 */

const MASTER_IP = '10.231.47.100';
const missing = await haNetMissing();

describe.skipIf(missing !== undefined)('the master IP on real daemons in namespaces', () => {
  let baseDir: string;
  let net: HaNet;
  const daemons: DaemonProcess[] = [];

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-mip-'));
    net = await HaNet.open(3);
    for (let i = 0; i < 3; i++)
      daemons.push(
        await DaemonProcess.spawn({
          dataDir: join(baseDir, `node${i + 1}`),
          listen: `/ip4/${net.address(i)}/tcp/7400`,
          name: `node${i + 1}`,
          daemonFlags: ['--fake-memory', '1024', '--rapi-bind', '0.0.0.0', '--no-ssl', '--no-mond'],
          launcher: net.launcher(i),
        }),
      );
    await formLocalCluster(daemons, { enabledHypervisors: ['fake'], enabledDiskTemplates: ['diskless'] });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    await net?.close();
    await rm(baseDir, { recursive: true, force: true });
  });

  /** Through a node whose daemon runs. */
  const call: DaemonCall = (request) => daemons.find((daemon) => daemon.isRunning())!.call(request);
  /** The nodes (by index) whose eth0 holds the master IP now. */
  const holders = async () => {
    const held: number[] = [];
    for (const [i, ns] of net.namespaces.entries()) {
      const out = await runTool('ip', ['-n', ns, '-o', '-4', 'address', 'show', 'dev', 'eth0']);
      if (out.includes(` ${MASTER_IP}/32 `)) held.push(i);
    }
    return held;
  };
  const holdersBecome = (expected: number[], what: string) =>
    waitFor(async () => ((await holders()).join() === expected.join() ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 200,
      what,
    });
  const masterIndex = async () => {
    const { master } = await call({ op: 'config', consistent: true });
    const { self } = await daemons[0]!.call({ op: 'config', consistent: false });
    return master === self ? 0 : undefined;
  };

  it('is held by the master, answers RAPI there, and goes down and up on request', async () => {
    expect(await masterIndex()).toBe(0);
    await runJob(call, [{ OP_ID: 'OP_CLUSTER_SET_PARAMS', master_ip: MASTER_IP, master_netdev: 'eth0' }]);
    await holdersBecome([0], 'node1, the master, to hold the master IP');
    // From node3's namespace, as a client on the network would: the address leads to a RAPI server.
    const version = await runTool('ip', [
      'netns',
      'exec',
      net.namespaces[2]!,
      process.execPath,
      '-e',
      `fetch('http://${MASTER_IP}:5080/version').then((r) => r.text()).then((t) => console.log(t))`,
    ]);
    expect(version.trim()).toBe('2');

    await runJob(call, [{ OP_ID: 'OP_CLUSTER_DEACTIVATE_MASTER_IP' }]);
    expect(await holders()).toEqual([]);
    await runJob(call, [{ OP_ID: 'OP_CLUSTER_ACTIVATE_MASTER_IP' }]);
    expect(await holders()).toEqual([0]);
  }, 60_000);

  it('moves to the next master when the master dies, and the old node drops it once its daemon is back', async () => {
    await daemons[0]!.stop('SIGKILL');
    // The dead daemon could not take its address down: its host keeps it until the daemon returns.
    const next = await waitFor(
      async () => {
        const held = await holders();
        return held.length === 2 && held[0] === 0 ? held[1] : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'another node to take the master IP up' },
    );
    daemons[0] = await DaemonProcess.spawn(daemons[0]!.options);
    await holdersBecome([next], 'node1 to drop the address its dead daemon left');
  }, 90_000);
});
