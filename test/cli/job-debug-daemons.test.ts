import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonProcess, startLocalCluster } from '../../src/daemon/local-cluster.js';
import { cli, cliRefusal } from '../helpers/cli.js';

/**
 * gnt-job and gnt-debug as the built CLI runs them, on three real daemons at 127.0.0.60–62, all through
 * node3, which is not the master: its requests travel the control socket, then libp2p to the master.
 */
describe('gnt-job and gnt-debug on real daemons', () => {
  let baseDir: string;
  let daemons: DaemonProcess[] = [];
  let node3: DaemonProcess;

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-job-debug-'));
    daemons = await startLocalCluster({ baseDir, nodes: 3, firstHost: 60, port: 7460 });
    node3 = daemons[2]!;
  });

  afterAll(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    await rm(baseDir, { recursive: true, force: true });
  });

  const jobId = (stdout: string) => /JobID: (\d+)/.exec(stdout)?.[1] ?? 'none';

  it('shows the locks, kills a running job, waits for and archives jobs, and lists the archived', async () => {
    const holder = jobId((await cli(node3, 'debug', 'delay', '--submit', '-n', 'node2', '600')).stdout);
    const waiter = jobId((await cli(node3, 'debug', 'delay', '--submit', '-n', 'node2', '1')).stdout);
    let locks = '';
    for (let tries = 0; tries < 50 && !locks.includes(`exclusive:job/${waiter}`); tries++) {
      locks = (
        await cli(node3, 'debug', 'locks', '--no-headers', '--separator', '|', '-o', 'name,owner,pending')
      ).stdout;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(locks.split('\n')).toContain(`node/node2|job/${holder}|exclusive:job/${waiter}`);
    expect((await cli(node3, 'job', 'change-priority', '--priority', 'high', waiter)).stdout).toBe(
      `Job ${waiter}: priority changed to high\n`,
    );
    expect(await cliRefusal(node3, 'job', 'cancel', '--kill', holder)).toBe(
      'corral: the --kill option must be confirmed with --yes-do-it',
    );
    expect((await cli(node3, 'job', 'cancel', '--kill', '--yes-do-it', holder)).stdout).toBe(
      `Job ${holder} killed\n`,
    );
    expect(await cli(node3, 'job', 'wait', waiter)).toMatchObject({ stdout: '' });
    expect(await cliRefusal(node3, 'job', 'wait', holder)).toMatch(
      new RegExp(`^corral: job ${holder} failed: killed while it ran`),
    );
    expect((await cli(node3, 'job', 'archive', holder)).stdout).toBe('');
    const listed = (
      await cli(node3, 'job', 'list', '--archived', '--no-headers', '--separator', ' ', '-o', 'id,status')
    ).stdout;
    expect(listed.split('\n')).toContain(`${holder} error Y`);
    expect(listed.split('\n')).toContain(`${waiter} success N`);
    expect((await cli(node3, 'job', 'info', holder)).stdout).toContain(`Job ID: ${holder}`);
    expect(await cliRefusal(node3, 'job', 'info', '9999')).toBe(
      'corral: job 9999 does not exist (or was archived and no longer kept)',
    );
    expect((await cli(node3, 'job', 'autoarchive', 'all')).stdout).toMatch(
      /^Archived [1-9]\d* jobs, 0 unchecked left\n$/,
    );
  });

  it('runs the job queue self-test, a job file, and the allocator on a made-up request', async () => {
    expect((await cli(node3, 'debug', 'test-jobqueue')).stdout).toMatch(/\nJob queue test successful\n$/);
    const file = join(baseDir, 'job.json');
    await writeFile(file, JSON.stringify([{ OP_ID: 'OP_TEST_JQUEUE', log_messages: ['from a file'] }]));
    expect((await cli(node3, 'debug', 'submit-job', file)).stdout).toContain('TESTMSG=from a file');
    const { stdout } = await cli(node3, 'debug', 'allocator', '-m', 'allocate', '-t', 'diskless', 'new1');
    const request = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(request.request).toMatchObject({ type: 'allocate', name: 'new1', disk_template: 'diskless' });
    expect(Object.keys(request.nodes).sort()).toEqual(['node1', 'node2', 'node3']);
    expect(await cliRefusal(node3, 'debug', 'submit-job', join(baseDir, 'missing.json'))).toMatch(
      /^corral: cannot read .*missing\.json: ENOENT$/,
    );
  });
});
