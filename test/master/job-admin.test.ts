import { beforeAll, describe, expect, it } from 'vitest';
import { runningTwice } from '../../simulations/master-checks.js';
import { MasterWorld } from '../../simulations/master-world.js';
import { SIM_OS } from '../../simulations/sim-os.js';
import type { JobRecord } from '../../src/cluster/jobs.js';
import type { JobId } from '../../src/cluster/model.js';
import type { Opcode } from '../../src/cluster/opcodes.js';
import type { NodeId } from '../../src/common/ids.js';
import type { MasterRequest } from '../../src/master/master-protocol.js';
import type { MasterResponse } from '../../src/master/master-replies.js';
import { JQT_MSGPREFIX } from '../../src/master/test-ops.js';

/**
 * The job queue's administration and the test opcodes on three simulated nodes, through a node that is not
 * the master, as a CLI's requests go: the lock table, change-priority, cancel of a waiting, a running (--kill)
 * and an interruptible job, archiving, and the allocator and job queue tests.
 */
describe('the job queue on simulated nodes', () => {
  const world = new MasterWorld({ seed: 7, nodes: 3 });
  let via: NodeId;

  beforeAll(async () => {
    await world.form();
    via = world.machines[2]!.id;
  }, 60_000);

  const ask = <Op extends MasterRequest['op']>(request: Extract<MasterRequest, { op: Op }>) =>
    world.settle(world.machine(via).service!.forward(request)) as Promise<MasterResponse<Op>>;
  const refusal = (request: MasterRequest) =>
    ask(request).then(
      () => 'accepted',
      (error: Error) => error.message,
    );
  const table = async () => (await world.settle(world.machine(via).service!.view(false))).jobs;
  const job = async (id: JobId): Promise<JobRecord | undefined> => (await table()).job(id);
  const run = async (ops: Opcode[]) => world.waitJob(via, await world.submit(via, ops));

  it('shows who holds each lock and who waits, changes a waiting job, and kills a running one', async () => {
    const holder = await world.submit(via, [{ OP_ID: 'OP_TEST_DELAY', duration: 600, on_nodes: ['node2'] }]);
    const waiter = await world.submit(via, [{ OP_ID: 'OP_TEST_DELAY', duration: 1, on_nodes: ['node2'] }]);
    await world.runFor(2_000);
    const { locks } = await ask<'locks'>({ op: 'locks' });
    expect(locks.find((lock) => lock.lock === 'node/node2')).toEqual({
      lock: 'node/node2',
      owners: [{ owner: holder, mode: 'exclusive' }],
      pending: [{ owner: waiter, mode: 'exclusive' }],
    });
    expect(locks.find((lock) => lock.lock === 'cluster/BGL')?.owners).toContainEqual({
      owner: holder,
      mode: 'shared',
    });
    expect((await job(waiter))?.status).toBe('waiting');

    await ask({ op: 'change-priority', job: waiter, priority: -10 });
    expect((await job(waiter))?.priority).toBe(-10);
    expect(await refusal({ op: 'change-priority', job: holder, priority: 10 })).toMatch(
      /is running; only queued or waiting jobs can change priority/,
    );

    expect(await refusal({ op: 'cancel', job: holder })).toMatch(/only with --kill --yes-do-it/);
    await ask({ op: 'cancel', job: holder, kill: true });
    const killed = await world.waitJob(via, holder, 5_000);
    expect(killed.status).toBe('error');
    expect(killed.ops[0]?.result).toMatchObject({ message: expect.stringMatching(/killed while it ran/) });
    // Its locks are free once its opcode stopped: the waiter gets them and ends.
    expect((await world.waitJob(via, waiter, 10_000)).status).toBe('success');
    await world.runFor(1_000);
    expect((await ask<'locks'>({ op: 'locks' })).locks).toEqual([]);
  });

  it('interrupts an interruptible delay with a plain cancel, and cancels a waiting job', async () => {
    const sleeper = await world.submit(via, [{ OP_ID: 'OP_TEST_DELAY', duration: 600, interruptible: true }]);
    await world.runFor(1_000);
    expect((await job(sleeper))?.status).toBe('running');
    await ask({ op: 'cancel', job: sleeper });
    expect((await world.waitJob(via, sleeper, 5_000)).status).toBe('canceled');
  });

  it('sleeps nowhere with --no-master and no node, and takes no lock with --no-locks', async () => {
    const ended = await run([{ OP_ID: 'OP_TEST_DELAY', duration: 30, on_master: false }]);
    expect(ended.ops[0]?.result).toEqual({ slept_s: 0 });
    const lockless = await world.submit(via, [
      { OP_ID: 'OP_TEST_DELAY', duration: 5, on_nodes: ['node2'], no_locks: true, repeat: 2 },
    ]);
    await world.runFor(1_000);
    expect((await ask<'locks'>({ op: 'locks' })).locks).toEqual([]);
    const done = await world.waitJob(via, lockless, 30_000);
    expect(done.ops[0]?.result).toEqual({ slept_s: 10 });
    expect(done.log.map((entry) => entry.message)).toContain('Test delay iteration 1/1');
  });

  it('archives finished jobs, one by one or by age, and refuses unfinished ones', async () => {
    const first = (await run([{ OP_ID: 'OP_TEST_DELAY', duration: 0 }])).id;
    const queued = await world.submit(via, [{ OP_ID: 'OP_TEST_DELAY', duration: 600, interruptible: true }]);
    expect(await refusal({ op: 'archive', job: queued })).toMatch(/only finished jobs can be archived/);
    await ask({ op: 'archive', job: first });
    const jobs = await table();
    expect(jobs.job(first)).toBeUndefined();
    expect(jobs.archivedJob(first)?.status).toBe('success');
    expect(await ask<'autoarchive'>({ op: 'autoarchive', ageS: 86_400 })).toEqual({ archived: 0, left: 0 });
    const { archived } = await ask<'autoarchive'>({ op: 'autoarchive' });
    expect(archived).toBeGreaterThan(3);
    expect(jobs.jobs().map((record) => record.id)).toEqual([queued]);
    await ask({ op: 'cancel', job: queued });
  });

  it('runs the allocator on a made-up request: the request (in) or the answer (out)', async () => {
    const base = { OP_ID: 'OP_TEST_ALLOCATOR', mode: 'allocate', name: 'new1', memory: 256 } as const;
    const input = await run([{ ...base, direction: 'in', disks: [{ size: 1024 }], disk_template: 'drbd' }]);
    const request = JSON.parse(String(input.ops[0]?.result));
    expect(request.request).toMatchObject({ type: 'allocate', name: 'new1', memory: 256, required_nodes: 2 });
    expect(Object.keys(request.nodes).sort()).toEqual(['node1', 'node2', 'node3']);
    const output = await run([{ ...base, direction: 'out', iallocator: '.', disk_template: 'diskless' }]);
    const answer = JSON.parse(String(output.ops[0]?.result));
    expect(answer).toMatchObject({ success: true, result: [expect.stringMatching(/^node[123]$/)] });
    const multi = await run([{ ...base, mode: 'multi-allocate', direction: 'in', count: 3 }]);
    expect(
      JSON.parse(String(multi.ops[0]?.result)).request.instances.map((i: { name: string }) => i.name),
    ).toEqual(['new10', 'new11', 'new12']);
    const noAllocator = await run([{ ...base, direction: 'out' }]);
    expect(noAllocator.ops[0]?.result).toMatchObject({ message: expect.stringMatching(/name it with -I/) });
    const missing = await run([{ ...base, mode: 'node-evacuate', direction: 'in', instances: ['nosuch'] }]);
    expect(missing.ops[0]?.result).toMatchObject({ message: 'instance nosuch does not exist' });
  });

  it('kills moves mid-way without ever running an instance on two nodes', async () => {
    const twice: string[] = [];
    world.afterInstant = () => {
      const found = runningTwice(world);
      if (found !== undefined && !twice.includes(found)) twice.push(found);
    };
    const outcomes: string[] = [];
    for (const [i, afterMs] of [0, 2, 5, 10, 20, 30, 50, 75].entries()) {
      const name = `victim${i}`;
      const created = await run([
        {
          OP_ID: 'OP_INSTANCE_CREATE',
          instance_name: name,
          disk_template: i % 2 === 0 ? 'drbd' : 'file',
          disks: [{ size: 8 }],
          os_type: SIM_OS,
          beparams: { memory: 64 },
          pnode: 'node2',
          ...(i % 2 === 0 && { snode: 'node3' }),
        },
      ]);
      expect(created.status, JSON.stringify(created.log.at(-1))).toBe('success');
      const move = await world.submit(via, [
        i % 2 === 0
          ? { OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: name }
          : { OP_ID: 'OP_INSTANCE_MOVE', instance_name: name, target_node: 'node3' },
      ]);
      await world.runFor(afterMs);
      const killed = await refusal({ op: 'cancel', job: move, kill: true });
      outcomes.push(`${(await world.waitJob(via, move, 60_000)).status} (${killed})`);
      // Time for the watcher and the nodes to act on what the killed opcode left.
      await world.runFor(30_000);
    }
    world.afterInstant = () => undefined;
    expect(twice).toEqual([]);
    // Killed while they ran (error), or they had ended first (success, and the kill was refused).
    for (const outcome of outcomes)
      expect(outcome).toMatch(/^(error \(accepted\)|success \(job \d+ is success;.*\))$/);
    expect(outcomes.some((outcome) => outcome.startsWith('error'))).toBe(true);
  });

  it("runs Ganeti's job queue test opcode: its messages while it runs, and a failure when asked", async () => {
    const messages = ['Hello World', '', 'Foo|bar|baz'];
    const good = await run([{ OP_ID: 'OP_TEST_JQUEUE', notify_exec: true, log_messages: messages }]);
    expect(good.status).toBe('success');
    expect(good.ops[0]?.result).toBe(true);
    const logged = good.log.filter((entry) => entry.message.startsWith(JQT_MSGPREFIX));
    expect(logged.map((entry) => entry.message.slice(JQT_MSGPREFIX.length))).toEqual(messages);
    const bad = await run([
      { OP_ID: 'OP_TEST_JQUEUE', log_messages: ['a'] },
      { OP_ID: 'OP_TEST_JQUEUE', fail: true },
      { OP_ID: 'OP_TEST_JQUEUE' },
    ]);
    expect(bad.ops.map((op) => op.status)).toEqual(['success', 'error', 'error']);
    expect(bad.ops[1]?.result).toMatchObject({ message: 'Opcode failure was requested' });
  });
});
