import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/wait.js';
import { callDaemon } from '../../src/daemon/control-client.js';
import { runJob } from '../../src/daemon/job-client.js';
import { cliEntryPoint } from '../../src/daemon/local-cluster.js';
import { livePid, runtimePaths } from '../../src/vm/kvm-runtime.js';
import { processRuns, testGuest } from '../vm/kvm-guest.js';

/** What a terminal does on Ctrl-C: SIGINT to the whole foreground process group, the daemons included. */
function ctrlC(child: ChildProcess): void {
  process.kill(-child.pid!, 'SIGINT');
}

/**
 * `corral dev` as a user runs it (`npm start`), on 127.0.0.70-71: a daemon killed under it is reported and
 * brought back, and Ctrl-C stops the QEMU of a kvm instance before the cluster's files go.
 */
describe('corral dev', () => {
  let dev: ChildProcess | undefined;
  let output = '';
  const guest = testGuest();

  afterAll(async () => {
    // A failed step leaves the cluster up: Ctrl-C is still what tears it down.
    if (dev !== undefined && dev.exitCode === null) {
      const exited = new Promise((resolve) => dev!.once('exit', resolve));
      ctrlC(dev);
      await exited;
    }
  });

  const printed = (pattern: RegExp) =>
    waitFor(() => pattern.exec(output) ?? undefined, {
      timeoutMs: 60_000,
      what: `corral dev to print ${pattern}`,
    });

  it('restarts a killed daemon, and stops the guests on Ctrl-C before it removes the files', async () => {
    dev = spawn(process.execPath, [cliEntryPoint(), 'dev', '--nodes', '2', '--first-host', '70'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // A process group of its own, as a terminal gives a command, so that Ctrl-C can reach all of it.
      detached: true,
    });
    dev.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    dev.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    await printed(/Press Ctrl-C/);
    const baseDir = /Logs are in (\S+)\/node\*\/daemon\.log/.exec(output)![1]!;
    const socket = (node: string) => join(baseDir, node, 'corral.sock');
    expect(output).toMatch(/^node1 +\S+ +\/ip4\/127\.0\.0\.70\/tcp\/\d+ +\d+ /m);
    const node2Pid = Number(/^node2 +\S+ +\/ip4\/127\.0\.0\.71\/tcp\/\d+ +(\d+) /m.exec(output)![1]);

    process.kill(node2Pid, 'SIGKILL');
    await printed(/^node2 died \(killed by SIGKILL\); its log is \S+\/node2\/daemon\.log$/m);
    const back = Number((await printed(/^node2 is back \(pid (\d+); restart 1 of 3\)$/m))[1]);
    expect(back).not.toBe(node2Pid);
    // Back in its cluster: node1's gossip hears it alive again.
    await waitFor(
      async () => {
        const { rows } = await callDaemon(socket('node1'), { op: 'health', node: 'node2' });
        return rows[0]?.state === 'alive' && !rows[0].stale ? true : undefined;
      },
      { timeoutMs: 30_000, what: 'node1 to see node2 alive again' },
    );

    await runJob(
      (request) => callDaemon(socket('node1'), request),
      [
        {
          OP_ID: 'OP_INSTANCE_CREATE',
          instance_name: 'vm1',
          disk_template: 'diskless',
          disks: [],
          os_type: 'noop',
          hypervisor: 'kvm',
          hvparams: { kernel_path: guest.kernel, initrd_path: guest.initrd, accel: 'tcg' },
          beparams: { memory: 128 },
          pnode: 'node1',
        },
      ],
    );
    const qemuPid = livePid(runtimePaths(join(baseDir, 'node1', 'kvm'), 'vm1'));
    expect(qemuPid).toBeDefined();

    const exited = new Promise<number | null>((resolve) => dev!.once('exit', resolve));
    ctrlC(dev);
    expect(await exited).toBe(0);
    expect(output).toContain(`stopped QEMU of vm1 on node1 (pid ${qemuPid})\n`);
    expect(output).toContain(`stopped the daemons (2) and the QEMU guests (1); removed ${baseDir}\n`);
    expect(processRuns(qemuPid!)).toBe(false);
    expect(existsSync(baseDir)).toBe(false);
    // Ctrl-C is no death: nothing was restarted on the way out.
    expect(output.match(/ died /g)).toHaveLength(1);
  }, 180_000);
});
