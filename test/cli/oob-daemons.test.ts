import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DaemonCall } from '../../src/daemon/job-client.js';
import { cliEntryPoint, type DaemonProcess, startLocalCluster } from '../../src/daemon/local-cluster.js';
import { clusterClient } from '../helpers/real-cluster.js';

const run = promisify(execFile);

/**
 * Ganeti's out-of-band management on two real daemons (127.0.0.200-201): a shell script set as the
 * cluster's oob_program with `cluster modify --node-parameters`, run by the master as
 * `<program> <command> <node>`; it records its calls and prints Ganeti's JSON.
 */
describe('out-of-band commands with a real program on a real cluster', () => {
  let baseDir: string;
  let daemons: DaemonProcess[] = [];
  let call: DaemonCall;
  let program: string;

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-oob-'));
    program = join(baseDir, 'oob.sh');
    await writeFile(
      program,
      [
        '#!/bin/sh',
        `echo "$1 $2" >> '${baseDir}/calls'`,
        'case "$1" in',
        `  health) echo '[["disk", "OK"], ["fan", "CRITICAL"]]' ;;`,
        `  power-status) if [ -e '${baseDir}'/off-"$2" ]; then echo '{"powered": false}'; else echo '{"powered": true}'; fi ;;`,
        `  power-off) touch '${baseDir}'/off-"$2" ;;`,
        `  power-on) rm -f '${baseDir}'/off-"$2" ;;`,
        '  *) echo "unknown command $1" >&2; exit 1 ;;',
        'esac',
        '',
      ].join('\n'),
    );
    await chmod(program, 0o755);
    daemons = await startLocalCluster({ baseDir, nodes: 2, firstHost: 200, fakeMemoryMiB: 1024 });
    call = (request) => daemons[0]!.call(request);
  });

  afterAll(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    await rm(baseDir, { recursive: true, force: true });
  });

  const cli = (...args: string[]) =>
    run(process.execPath, [cliEntryPoint(), ...args, '--socket', daemons[1]!.socketPath]);
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => expect.fail('the command should fail'),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
  const calls = async () => (await readFile(join(baseDir, 'calls'), 'utf8')).trim().split('\n');

  it("runs the cluster's program on the master for health and power, as Ganeti's commands do", async () => {
    const { config } = clusterClient(call);
    const current = await config();
    const master = current.nodes.find((node) => node.id === current.master)!.name;
    const other = master === 'node1' ? 'node2' : 'node1';
    // Without a program, a node has no out-of-band data: the command fails, saying so.
    const unavailable = await failure(cli('node', 'health', other));
    expect(unavailable.code).toBe(1);
    expect(unavailable.stdout).toBe(`Node  Status\n${other} (unavail)\n`);

    await cli('cluster', 'modify', '--node-parameters', `oob_program=${program}`);
    const info = await cli('group', 'info', 'default');
    expect(info.stdout).toContain(`    oob_program: default (${program})`);

    // The job's log comes first, as Ganeti's feedback does: what ran, and the items in WARNING or CRITICAL.
    const health = await cli('node', 'health');
    const [log, table] = [
      health.stdout.split('Node  Status\n')[0]!,
      health.stdout.split('Node  Status\n')[1],
    ];
    expect(table).toBe(
      ['node1 disk=OK', '      fan=CRITICAL', 'node2 disk=OK', '      fan=CRITICAL', ''].join('\n'),
    );
    expect(log).toContain(`Executing out-of-band command 'health' using '${program}' on node1`);
    expect(log).toContain(" - WARNING: Item 'fan' on node 'node2' has status 'CRITICAL'");

    // The master is never powered off; another node is, without being marked offline first (--ignore-status).
    const onMaster = await failure(cli('node', 'power', '-f', '--ignore-status', 'off', master));
    expect(onMaster.stderr).toContain(
      `Operating on the master node ${master} is not allowed for power-off; run '${program} power-off ${master}' if you want to operate on the master regardless`,
    );
    const off = await cli('node', 'power', '-f', '--ignore-status', 'off', other);
    expect(off.stdout).toContain(`Node  Status\n${other} invoked\n`);
    const status = await cli('node', 'power', 'status', other, '--no-headers');
    expect(status.stdout.trim().split('\n').at(-1)).toBe(`${other} unpowered`);
    const list = await cli('node', 'list', '-o', 'name,powered', '--no-headers', '--separator', '|', other);
    expect(list.stdout).toBe(`${other}|N\n`);

    await cli('node', 'power', 'on', other);
    expect((await cli('node', 'power', 'status', other)).stdout).toContain(`${other} powered\n`);
    expect((await config()).nodes.find((node) => node.name === other)!.powered).toBe(true);
    expect(await calls()).toEqual([
      'health node1',
      'health node2',
      `power-off ${other}`,
      `power-status ${other}`,
      `power-on ${other}`,
      `power-status ${other}`,
    ]);
  }, 120_000);

  it('refuses unknown node parameters and a global one on a node, in one line', async () => {
    const unknown = await failure(cli('cluster', 'modify', '--node-parameters', 'oob=/bin/true'));
    expect(unknown.stderr).toBe(
      "corral: --node-parameters: unknown node parameter 'oob'; known: cpu_speed, exclusive_storage, oob_program, ovs, ovs_link, ovs_name, spindle_count, ssh_port\n",
    );
    const global = await failure(
      cli('node', 'modify', 'node2', '--node-parameters', 'exclusive_storage=true'),
    );
    expect(global.stderr).toContain(
      'ndparams: the node parameters exclusive_storage are global and cannot be customized at node level',
    );
  }, 60_000);
});
