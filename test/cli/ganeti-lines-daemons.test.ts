import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobViewSchema } from '../../src/cluster/job-views.js';
import type { DaemonCall } from '../../src/daemon/job-client.js';
import { cliEntryPoint, type DaemonProcess, startLocalCluster } from '../../src/daemon/local-cluster.js';
import { clusterClient } from '../helpers/real-cluster.js';

const run = promisify(execFile);

/**
 * Ganeti's command lines against two real daemons (127.0.0.68-69, fake hypervisor), both moved to a group
 * rack2, the default group left empty: -g places in the group named, --reason reaches the job's reason trail, remove refuses a run with no
 * terminal unless -f, and the selectors of startup and shutdown act on every instance they name.
 */
describe("Ganeti's command lines on a real cluster", () => {
  let baseDir: string;
  let daemons: DaemonProcess[] = [];
  let call: DaemonCall;

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-ganeti-lines-'));
    daemons = await startLocalCluster({ baseDir, nodes: 2, firstHost: 68, fakeMemoryMiB: 1024 });
    call = (request) => daemons[0]!.call(request);
    const { ok } = clusterClient(call);
    await ok([{ OP_ID: 'OP_GROUP_ADD', group_name: 'rack2' }]);
    await ok([{ OP_ID: 'OP_GROUP_ASSIGN_NODES', group_name: 'rack2', nodes: ['node1', 'node2'] }]);
  });

  afterAll(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    await rm(baseDir, { recursive: true, force: true });
  });

  const cli = (...args: string[]) =>
    run(process.execPath, [cliEntryPoint(), ...args, '--socket', daemons[1]!.socketPath]);
  const { config } = clusterClient((request) => call(request));

  it('adds in the group -g names, with the reason given, and removes only with -f when nobody can be asked', async () => {
    const add = (name: string, group: string) =>
      cli(
        'instance',
        'add',
        '-t',
        'diskless',
        '--no-install',
        '--hypervisor-parameters',
        'fake',
        '--backend-parameters',
        'memory=64M',
        '-g',
        group,
        '--no-name-check',
        '--no-ip-check',
        '--reason',
        'ticket 7',
        name,
      );
    await add('g0', 'default').then(
      () => expect.fail('the default group has no nodes left'),
      (error: { code: number; stderr: string }) => {
        expect(error.code).toBe(1);
        expect(error.stderr).toBe('corral: no node can take g0: No online nodes\n');
      },
    );
    for (const name of ['g1', 'g2']) await add(name, 'rack2');
    expect((await config()).instances.map((i) => i.name).sort()).toEqual(['g1', 'g2']);
    const jobs = (await call({ op: 'jobs', consistent: false })).jobs.map((job) => jobViewSchema.parse(job));
    const created = jobs.find((job) => job.ops[0]?.input.OP_ID === 'OP_INSTANCE_CREATE')!;
    expect(created.ops[0]!.input.reason).toEqual([['gnt:user', 'ticket 7', expect.any(Number)]]);

    const stopped = await cli('instance', 'shutdown', '--all', '--force-multiple', '--timeout', '5');
    expect(stopped.stdout).toMatch(/Submitted jobs \d+, \d+/);
    expect((await config()).instances.map((i) => i.adminState)).toEqual(['down', 'down']);
    await cli('instance', 'startup', '--tags', 'nosuch', '-f').then(
      () => expect.fail('a selection of nothing should fail'),
      (error: { code: number; stderr: string }) => {
        expect(error.code).toBe(1);
        expect(error.stderr).toBe('corral: the selection matches no instance\n');
      },
    );

    const refusal = await cli('instance', 'remove', 'g1').then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(refusal?.code).toBe(1);
    expect(refusal?.stderr).toBe(
      'corral: instance remove deletes the disks of g1: give -f to remove it without being asked\n',
    );
    expect((await config()).instances).toHaveLength(2);
    await cli('instance', 'remove', '-f', 'g1');
    await cli('instance', 'remove', '--force', 'g2', '--priority', 'high', '--reason=done');
    expect((await config()).instances).toEqual([]);
  });
  it("lists each node's file storage as gnt-node list-storage does, and refuses an unknown field", async () => {
    const { stdout } = await cli(
      'node',
      'list-storage',
      '-t',
      'file',
      '--no-headers',
      '--separator=|',
      '-o',
      'node,type,name,allocatable',
    );
    const rows = stdout
      .trim()
      .split('\n')
      .map((line) => line.split('|'));
    expect(rows.map(([node, type, , allocatable]) => [node, type, allocatable])).toEqual([
      ['node1', 'file', 'Y'],
      ['node2', 'file', 'Y'],
    ]);
    expect(rows.every(([, , name]) => name?.endsWith('file-storage'))).toBe(true);
    const refusal = await cli('node', 'list-storage', '-o', 'name,colour').then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(refusal?.stderr).toBe(
      'corral: unknown storage field colour; the fields are node, type, name, size, used, free, allocatable\n',
    );
  });
});
