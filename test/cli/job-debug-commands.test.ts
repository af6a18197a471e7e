import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MasterWorld } from '../../simulations/master-world.js';
import { setDaemonCallForTests } from '../../src/cli/cluster-client.js';
import { parseJobFile, parseTestNics } from '../../src/cli/commands/debug.js';
import { jobIds, parseTimespecS } from '../../src/cli/commands/job.js';
import { setAskerForTests } from '../../src/cli/confirm.js';
import { cliParser } from '../../src/cli/parser.js';
import type { JobId } from '../../src/cluster/model.js';
import { CorralError } from '../../src/common/errors.js';
import type { NodeId } from '../../src/common/ids.js';
import { simDaemonCall } from './sim-daemon.js';

/**
 * gnt-job and gnt-debug command lines through the CLI's own parser and handlers, with the daemon's control
 * handlers of a simulated three-node cluster behind them (requests and answers checked against the control
 * protocol, as the socket checks them): each command's effect on the cluster, and its refusals.
 */

const world = new MasterWorld({ seed: 11, nodes: 3 });
let via: NodeId;

beforeAll(async () => {
  await world.form();
  via = world.machines[2]!.id;
  const call = simDaemonCall(world, via);
  setDaemonCallForTests(() => call);
}, 60_000);

afterAll(() => {
  setDaemonCallForTests(undefined);
  setAskerForTests(undefined);
});

/** Runs `gnt-<family> args…`: what it printed, and the one line it failed with (undefined when it did not). */
async function gnt(family: 'job' | 'debug', ...args: string[]): Promise<{ out: string; error?: string }> {
  let out = '';
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    const { parser } = await cliParser([family, ...args], (message) => {
      throw new CorralError('bad_request', message);
    });
    await parser.parseAsync();
    return { out };
  } catch (error) {
    return { out, error: (error as Error).message.split('\n')[0] };
  } finally {
    write.mockRestore();
  }
}

const table = async () => (await world.settle(world.machine(via).service!.view(false))).jobs;
const submit = (duration: number, extra: object = {}) =>
  world.submit(via, [{ OP_ID: 'OP_TEST_DELAY', duration, ...extra }]);

describe('gnt-job', () => {
  it('archive moves finished jobs out, list --archived and info still show them, autoarchive takes the rest', async () => {
    const done = await world.waitJob(via, await submit(0));
    const running = await submit(600, { interruptible: true });
    await world.runFor(1_000);
    expect(await gnt('job', 'archive', String(done.id))).toEqual({ out: '' });
    expect((await table()).job(done.id)).toBeUndefined();
    const listed = await gnt(
      'job',
      'list',
      '--archived',
      '--no-headers',
      '--separator',
      ' ',
      '-o',
      'id,status',
    );
    expect(listed.out).toContain(`${done.id} success Y`);
    expect(listed.out).toContain(`${running} running N`);
    expect((await gnt('job', 'list', '--no-headers', '-o', 'id')).out).not.toMatch(
      new RegExp(`^${done.id}$`, 'm'),
    );
    expect((await gnt('job', 'info', String(done.id))).out).toContain(`Job ID: ${done.id}`);
    expect(await gnt('job', 'archive', String(running))).toMatchObject({
      error: `job ${running} is running; only finished jobs can be archived (wait for it to end, or cancel it)`,
    });
    expect(await gnt('job', 'autoarchive', '1d')).toEqual({ out: 'Archived 0 jobs, 0 unchecked left\n' });
    const all = await gnt('job', 'autoarchive', 'all');
    expect(all.out).toMatch(/^Archived [1-9]\d* jobs, 0 unchecked left\n$/);
    expect((await table()).jobs().map((job) => job.id)).toEqual([running]);
    expect(await gnt('job', 'autoarchive', 'yesterday')).toMatchObject({
      error: 'invalid age yesterday: write all, or a number with s, m, h, d or w (e.g. 1d)',
    });
    await gnt('job', 'cancel', String(running));
  });

  it('info of a missing job fails, after showing those that exist', async () => {
    const done = await world.waitJob(via, await submit(0));
    const shown = await gnt('job', 'info', String(done.id), '999');
    expect(shown.out).toContain(`Job ID: ${done.id}`);
    expect(shown.error).toBe('job 999 does not exist (or was archived and no longer kept)');
    expect((await gnt('job', 'info', 'seven')).error).toBe(
      'invalid job ID seven: a job ID is a whole number, as job list shows',
    );
  });

  it('wait prints nothing and fails as the job failed', async () => {
    expect(await gnt('job', 'wait', String(await submit(1)))).toEqual({ out: '' });
    const failing = await world.submit(via, [{ OP_ID: 'OP_TEST_JQUEUE', fail: true }]);
    expect(await gnt('job', 'wait', String(failing))).toEqual({
      out: '',
      error: `job ${failing} failed: Opcode failure was requested`,
    });
    expect((await gnt('job', 'wait', '999')).error).toBe('job 999 does not exist or was archived');
  });

  it('change-priority changes waiting jobs, by ID or by status, and refuses without --priority', async () => {
    const holder = await submit(600, { on_nodes: ['node2'], interruptible: true });
    const waiter = await submit(1, { on_nodes: ['node2'] });
    await world.runFor(1_000);
    expect(await gnt('job', 'change-priority', '--priority', 'high', String(waiter))).toEqual({
      out: `Job ${waiter}: priority changed to high\n`,
    });
    expect((await table()).job(waiter as JobId)?.priority).toBe(-10);
    expect(await gnt('job', 'change-priority', '--waiting', '-f', '--priority', 'low')).toEqual({
      out: `Job ${waiter}: priority changed to low\n`,
    });
    expect((await table()).job(waiter as JobId)?.priority).toBe(10);
    expect((await gnt('job', 'change-priority', String(waiter))).error).toBe(
      'say the new priority with --priority low, normal or high',
    );
    expect((await gnt('job', 'change-priority', '--priority', 'low', String(holder))).error).toBe(
      `job ${holder} is running; only queued or waiting jobs can change priority`,
    );
    await gnt('job', 'cancel', String(holder), String(waiter));
  });

  it('cancel takes IDs or a status, asks before a status unless -f, and kills only with --yes-do-it', async () => {
    const holder = await submit(600, { on_nodes: ['node1'] });
    const waiters = [await submit(1, { on_nodes: ['node1'] }), await submit(1, { on_nodes: ['node1'] })];
    await world.runFor(1_000);
    expect((await gnt('job', 'cancel', '--pending', String(holder))).error).toBe(
      'name the jobs or select them with --pending, --queued or --waiting, never both',
    );
    setAskerForTests(async () => undefined);
    expect((await gnt('job', 'cancel', '--pending')).error).toBe(
      'give -f to act on the jobs listed without being asked',
    );
    setAskerForTests(async () => false);
    expect((await gnt('job', 'cancel', '--waiting')).error).toBe('not confirmed: nothing was done');
    expect((await table()).job(waiters[0] as JobId)?.status).toBe('waiting');
    setAskerForTests(async () => true);
    const canceled = await gnt('job', 'cancel', '--waiting');
    expect(canceled.out).toMatch(/ID +Status +Summary/);
    expect(canceled.out).toContain(`Job ${waiters[0]} canceled\nJob ${waiters[1]} canceled\n`);
    expect((await gnt('job', 'cancel', '--waiting', '-f')).error).toBe(
      'no jobs with the requested status have been found',
    );
    expect((await gnt('job', 'cancel', String(holder))).error).toMatch(
      new RegExp(`^job ${holder} is running; .*--kill --yes-do-it\\)$`),
    );
    expect((await gnt('job', 'cancel', '--kill', String(holder))).error).toBe(
      'the --kill option must be confirmed with --yes-do-it',
    );
    expect(await gnt('job', 'cancel', '--kill', '--yes-do-it', String(holder))).toEqual({
      out: `Job ${holder} killed\n`,
    });
    expect((await world.waitJob(via, holder as JobId, 5_000)).status).toBe('error');
  });

  it('list takes -v and the status filters; list-fields takes --no-headers and --separator', async () => {
    const sleeper = await submit(600, { interruptible: true });
    await world.runFor(1_000);
    const running = await gnt('job', 'list', '--running', '-v', '--no-headers', '-o', 'id,end_ts');
    expect(running.out).toBe(`${sleeper} (unavail)\n`);
    expect((await gnt('job', 'list', '--running', '--no-headers', '-o', 'id,end_ts')).out).toBe(
      `${sleeper} -\n`,
    );
    const fields = await gnt('job', 'list-fields', '--no-headers', '--separator', '|', 'id', 'archived');
    expect(fields.out).toBe('id|number|ID|Job ID\narchived|bool|Archived|Whether job is archived\n');
    await gnt('job', 'cancel', String(sleeper));
  });
});

describe('gnt-debug', () => {
  it('delay takes --no-master, -r, -i, -l and -n with their meaning', async () => {
    const repeated = await gnt('debug', 'delay', '-r', '2', '-n', 'node2', '--no-master', '0.5');
    expect(repeated.error).toBeUndefined();
    expect(repeated.out).toContain('Test delay iteration 1/1');
    expect((await gnt('debug', 'delay', '--no-master', '30')).error).toBeUndefined();
    const submitted = await gnt('debug', 'delay', '-i', '-l', '--submit', '600');
    const id = Number(/JobID: (\d+)/.exec(submitted.out)?.[1]);
    await world.runFor(1_000);
    expect((await table()).job(id as JobId)?.ops[0]?.input).toMatchObject({
      interruptible: true,
      no_locks: true,
    });
    expect((await gnt('debug', 'locks', '--no-headers')).out).toBe('');
    expect(await gnt('job', 'cancel', String(id))).toEqual({ out: `Job ${id} canceled\n` });
    expect((await gnt('debug', 'delay', '-n', 'nosuch', '1')).error).toBe(
      'node nosuch is not in the cluster',
    );
    expect((await gnt('debug', 'delay', '-r', '-1', '1')).error).toBe(
      '--repeat takes a whole number of times, not -1',
    );
  });

  it("locks shows the master's lock table: holders and those waiting", async () => {
    const holder = await submit(600, { on_nodes: ['node3'], interruptible: true });
    const waiter = await submit(1, { on_nodes: ['node3'] });
    await world.runFor(1_000);
    const shown = await gnt('debug', 'locks', '-o', 'name,owner,pending', '--separator', ';');
    expect(shown.out.split('\n')).toContain(`node/node3;job/${holder};exclusive:job/${waiter}`);
    expect(shown.out.split('\n')[0]).toBe('Name;Owner;Pending');
    expect((await gnt('debug', 'locks', '-o', 'name,holder')).error).toBe(
      'unknown lock field holder; known: name, mode, owner, pending',
    );
    await gnt('job', 'cancel', String(holder), String(waiter));
  });

  it('iallocator (and allocator) print the request built from the options, or the answer', async () => {
    const input = await gnt(
      'debug',
      'iallocator',
      '-m',
      'allocate',
      '--memory',
      '1g',
      '--disks',
      '512,1G',
      '-t',
      'file',
      'new1',
    );
    expect(input.error).toBeUndefined();
    const request = JSON.parse(input.out.trim().split('\n').at(-1)!);
    expect(request.request).toMatchObject({
      type: 'allocate',
      name: 'new1',
      memory: 1024,
      disks: [{ size: 512 }, { size: 1024 }],
      nics: [{ mac: '00:11:22:33:44:55', ip: null, bridge: null }],
    });
    const output = await gnt(
      'debug',
      'allocator',
      '--dir',
      'out',
      '-I',
      '.',
      '-m',
      'allocate',
      '-t',
      'diskless',
      'new2',
    );
    expect(JSON.parse(output.out.trim().split('\n').at(-1)!)).toMatchObject({ success: true });
    expect((await gnt('debug', 'iallocator', '--dir', 'out', '-m', 'allocate', 'new3')).error).toBe(
      'direction out runs an allocator: name it with -I (. for the built-in one)',
    );
    expect((await gnt('debug', 'iallocator', '--memory', 'lots', 'new3')).error).toBe(
      '--memory: lots is not a size (use 512M, 10G, 1T or a number of MiB)',
    );
    expect((await gnt('debug', 'iallocator', 'nosuch')).error).toBe('instance nosuch does not exist');
  });

  it('submit-job submits each file as a job and waits for it; a bad file is refused before any is submitted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'corral-submit-job-'));
    const good = join(dir, 'good.json');
    writeFileSync(
      good,
      JSON.stringify([{ OP_ID: 'OP_TEST_DELAY', duration: 0, priority: -10, debug_level: 0 }]),
    );
    const before = (await table()).jobs().length;
    const run = await gnt('debug', 'submit-job', '-v', '--job-repeat', '2', '--op-repeat', '3', good);
    expect(run.error).toBeUndefined();
    expect(run.out).toMatch(/^Submitted jobs \d+, \d+\nWaiting for job \d+ for file .*good.json\/0 \.\.\./);
    const jobs = (await table()).jobs();
    expect(jobs.length).toBe(before + 2);
    expect(jobs.at(-1)).toMatchObject({ status: 'success', priority: -10 });
    expect(jobs.at(-1)?.ops).toHaveLength(3);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify([{ OP_ID: 'OP_TEST_DELAY' }]));
    expect((await gnt('debug', 'submit-job', good, bad)).error).toMatch(
      /bad\.json: opcode 1 \(OP_TEST_DELAY\): duration: /,
    );
    expect((await table()).jobs().length).toBe(before + 2);
    expect((await gnt('debug', 'submit-job', join(dir, 'none.json'))).error).toMatch(
      /^cannot read .*none\.json: ENOENT$/,
    );
  });

  it("submit-job resolves Ganeti's relative dependencies within the files given, and refuses them with --each", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'corral-submit-job-'));
    const first = join(dir, 'first.json');
    const then = join(dir, 'then.json');
    writeFileSync(first, JSON.stringify([{ OP_ID: 'OP_TEST_DELAY', duration: 5 }]));
    writeFileSync(
      then,
      JSON.stringify([{ OP_ID: 'OP_TEST_DELAY', duration: 0, depends: [[-1, ['success']]] }]),
    );
    const run = await gnt('debug', 'submit-job', first, then);
    expect(run.error).toBeUndefined();
    const [a, b] = (await table()).jobs().slice(-2);
    expect(b!.ops[0]!.input.depends).toEqual([[a!.id, ['success']]]);
    expect(b!.ops[0]!.startMs).toBeGreaterThanOrEqual(a!.endMs!);
    const before = (await table()).jobs().length;
    expect((await gnt('debug', 'submit-job', '--each', first, then)).error).toMatch(
      /OP_TEST_DELAY depends on relative job ID -1, but only 0 job\(s\) were submitted before it/,
    );
    // --each submits the first file's job before the second is refused.
    expect((await table()).jobs().length).toBe(before + 1);
  });

  it("answers Ganeti's wconfd commands from the master, and refuses metad and test-osparams with the reason", async () => {
    expect((await gnt('debug', 'wconfd', 'echo', 'hello')).out).toBe('Answer: "hello"\n');
    const holder = await submit(600, { on_nodes: ['node2'] });
    const jobs = await table();
    await world.until(() => jobs.job(holder)?.status === 'running', 10_000, 'the lock holder to run');
    expect((await gnt('debug', 'wconfd', 'listlocks', String(holder))).out).toBe(
      'Answer: [["cluster/BGL","shared"],["node/*","intent-exclusive"],["node/node2","exclusive"]]\n',
    );
    expect((await gnt('debug', 'wconfd', 'listalllocks')).out).toBe(
      'Answer: ["cluster/BGL","node/*","node/node2"]\n',
    );
    expect((await gnt('debug', 'wconfd', 'cleanuplocks')).out).toBe('Stale locks cleaned up.\n');
    await world.settle(world.machine(via).service!.forward({ op: 'cancel', job: holder, kill: true }));
    expect((await gnt('debug', 'wconfd', 'listlocks')).error).toBe(
      "Command 'listlocks' takes precisely one argument.",
    );
    expect((await gnt('debug', 'wconfd', 'flush')).error).toMatch(
      /^Command 'flush' not supported; wconfd takes echo/,
    );
    expect((await gnt('debug', 'metad', 'echo', 'x')).error).toBe(
      'Corral has no metadata daemon (metad): its instances get no metadata service to talk to',
    );
    expect((await gnt('debug', 'test-osparams', '--os-parameters-secret', 'a=b')).error).toMatch(
      /^Corral has no secret OS parameters/,
    );
  });

  it('test-jobqueue runs the self-test and says it succeeded', async () => {
    const run = await gnt('debug', 'test-jobqueue');
    expect(run.error).toBeUndefined();
    expect(run.out.split('\n')).toEqual([
      'Testing job submission',
      'Job submission tests were successful',
      'Skipping the job dependency tests: Corral jobs have no dependencies',
      'Testing job success',
      'Testing multiple successful opcodes',
      'Testing job failure',
      'Testing partial job failure',
      'Job queue test successful',
      '',
    ]);
  });
});

describe('the command lines, parsed', () => {
  it("reads Ganeti's ages, job IDs, NICs and job files, and refuses what is not one", () => {
    expect(['30', '30s', '2m', '2h', '1d', '4w'].map(parseTimespecS)).toEqual([
      30, 30, 120, 7200, 86_400, 2_419_200,
    ]);
    expect(() => parseTimespecS('1.5d')).toThrow('invalid age 1.5d');
    expect(jobIds(['1', 42])).toEqual([1, 42]);
    expect(() => jobIds(['0'])).toThrow('invalid job ID 0');
    expect(parseTestNics('aa:bb:cc:dd:ee:ff//br0,/10.0.0.1')).toEqual([
      { mac: 'aa:bb:cc:dd:ee:ff', ip: null, bridge: 'br0' },
      { mac: null, ip: '10.0.0.1', bridge: null },
    ]);
    expect(() => parseTestNics('a/b/c/d')).toThrow('--nics: a/b/c/d has more than mac/ip/bridge');
    expect(parseJobFile('[{"OP_ID":"OP_TEST_DELAY","duration":1,"comment":null}]', 'f').ops).toEqual([
      { OP_ID: 'OP_TEST_DELAY', duration: 1 },
    ]);
    expect(() => parseJobFile('{}', 'f')).toThrow('f: a job file is a JSON list of opcodes');
    expect(() => parseJobFile('[', 'f')).toThrow('f: not valid JSON');
    expect(parseJobFile('[{"OP_ID":"OP_TEST_DELAY","duration":1,"depends":[[-1,[]]]}]', 'f').ops).toEqual([
      { OP_ID: 'OP_TEST_DELAY', duration: 1, depends: [[-1, []]] },
    ]);
    expect(() =>
      parseJobFile('[{"OP_ID":"OP_TEST_DELAY","duration":1,"depends":[[1,["done"]]]}]', 'f'),
    ).toThrow(/^f: opcode 1 \(OP_TEST_DELAY\): depends\.0\.1\.0: /);
  });
});
