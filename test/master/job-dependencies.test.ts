import { beforeAll, describe, expect, it } from 'vitest';
import { MasterWorld } from '../../simulations/master-world.js';
import { dependencyVerdict, resolveRelativeDepends } from '../../src/cluster/job-dependencies.js';
import type { JobRecord, JobStatus } from '../../src/cluster/jobs.js';
import { asJobId, type JobId } from '../../src/cluster/model.js';
import type { Opcode } from '../../src/cluster/opcodes.js';
import type { NodeId } from '../../src/common/ids.js';

/**
 * Ganeti's job dependencies: the pure rules (relative IDs, verdicts), then the master's queue on simulated
 * nodes, through a node that is not the master: a job waits, shown as waiting, until the jobs it names end,
 * and runs, fails or is canceled by how they ended; a group of jobs submitted by an opcode counts back.
 */

const delay = (duration: number, depends?: Opcode['depends']): Opcode => ({
  OP_ID: 'OP_TEST_DELAY',
  duration,
  ...(depends !== undefined && { depends }),
});

describe('the rules', () => {
  it('makes relative IDs absolute within the batch and refuses one that reaches before it', () => {
    const ids = [asJobId(7), asJobId(9)];
    expect(
      resolveRelativeDepends(
        [
          delay(0, [
            [-1, []],
            [-2, ['success']],
            [3, []],
          ]),
        ],
        ids,
      ),
    ).toEqual([
      delay(0, [
        [9, []],
        [7, ['success']],
        [3, []],
      ]),
    ]);
    expect(() => resolveRelativeDepends([delay(0, [[-3, []]])], ids)).toThrow(
      'OP_TEST_DELAY depends on relative job ID -3, but only 2 job(s) were submitted before it in the same batch',
    );
    expect(() => resolveRelativeDepends([delay(0, [[-1, []]])], [])).toThrow(/only 0 job\(s\)/);
  });

  it("waits, runs, cancels or fails as Ganeti's dependency manager does", () => {
    const jobs = new Map<number, JobStatus>([
      [1, 'running'],
      [2, 'success'],
      [3, 'error'],
      [4, 'canceled'],
    ]);
    const find = (id: JobId) => {
      const status = jobs.get(id);
      return status === undefined ? undefined : { status };
    };
    const verdict = (depends: Opcode['depends']) => dependencyVerdict(asJobId(10), depends, find);
    expect(verdict(undefined)).toEqual({ kind: 'run' });
    expect(
      verdict([
        [2, ['success']],
        [1, []],
      ]),
    ).toEqual({ kind: 'wait', on: 1 });
    expect(
      verdict([
        [2, []],
        [3, []],
      ]),
    ).toEqual({ kind: 'run' });
    expect(verdict([[3, ['success']]])).toEqual({
      kind: 'fail',
      message: "dependency job 3 finished with status 'error', not one of 'success' as required",
    });
    expect(verdict([[4, []]])).toEqual({ kind: 'cancel', message: 'dependency job 4 was canceled' });
    expect(verdict([[4, ['canceled']]])).toEqual({ kind: 'run' });
    expect(verdict([[10, []]])).toEqual({ kind: 'fail', message: "a job can't depend on itself" });
    expect(verdict([[99, []]])).toEqual({
      kind: 'fail',
      message: 'dependency error: job 99 does not exist (or is no longer kept)',
    });
  });
});

describe('dependent jobs on simulated nodes', () => {
  const world = new MasterWorld({ seed: 17, nodes: 4 });
  let via: NodeId;

  beforeAll(async () => {
    await world.form();
    via = world.machines[2]!.id;
  }, 60_000);

  const job = async (id: JobId): Promise<JobRecord | undefined> =>
    (await world.settle(world.machine(via).service!.view(false))).jobs.job(id);
  /** Polls, on the simulated clock, until the job has this status (the replica's job table is live). */
  const untilStatus = async (id: JobId, status: JobRecord['status']) => {
    const { jobs } = await world.settle(world.machine(via).service!.view(false));
    await world.until(() => jobs.job(id)?.status === status, 10_000, `job ${id} to be ${status}`);
  };
  const message = (ended: JobRecord) => (ended.ops[0]?.result as { message?: string } | undefined)?.message;

  it('holds a job as waiting until the one it depends on ends, then runs it', async () => {
    const first = await world.submit(via, [delay(20)]);
    const second = await world.submit(via, [delay(0, [[first, ['success']]])]);
    await untilStatus(second, 'waiting');
    expect((await job(first))?.status).not.toBe('success');
    const ended = await world.waitJob(via, second, 60_000);
    expect(ended.status).toBe('success');
    const done = await job(first);
    expect(ended.ops[0]!.startMs).toBeGreaterThanOrEqual(done!.endMs!);
  });

  it('fails a job whose dependency ended otherwise, and cancels one whose dependency was canceled', async () => {
    const failing = await world.submit(via, [{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'nowhere' }]);
    const strict = await world.submit(via, [delay(0, [[failing, ['success']]])]);
    const lenient = await world.submit(via, [delay(0, [[failing, ['success', 'error']]])]);
    const strictEnd = await world.waitJob(via, strict, 30_000);
    expect(strictEnd.status).toBe('error');
    expect(message(strictEnd)).toBe(
      `dependency job ${failing} finished with status 'error', not one of 'success' as required`,
    );
    expect((await world.waitJob(via, lenient, 30_000)).status).toBe('success');

    const blocker = await world.submit(via, [delay(600)]);
    const queued = await world.submit(via, [delay(0, [[blocker, []]])]);
    const follower = await world.submit(via, [delay(0, [[queued, []]])]);
    await untilStatus(blocker, 'running');
    await untilStatus(follower, 'waiting');
    await world.settle(world.machine(via).service!.forward({ op: 'cancel', job: queued }));
    expect((await world.waitJob(via, follower, 30_000)).status).toBe('canceled');
    await world.settle(world.machine(via).service!.forward({ op: 'cancel', job: blocker, kill: true }));
  });

  it('refuses a relative dependency in a job submitted alone, submitting nothing', async () => {
    const before = (await world.settle(world.machine(via).service!.view(false))).jobs.jobs().length;
    await expect(world.submit(via, [delay(0, [[-1, []]])])).rejects.toThrow(
      /depends on relative job ID -1, but only 0 job\(s\) were submitted before it/,
    );
    expect((await world.settle(world.machine(via).service!.view(false))).jobs.jobs()).toHaveLength(before);
  });

  it('runs a sequential group evacuation one job after another', async () => {
    const { SIM_OS } = await import('../../simulations/sim-os.js');
    const ok = async (ops: Opcode[]) => {
      const ended = await world.waitJob(via, await world.submit(via, ops), 60_000);
      expect(ended.status, JSON.stringify(ended.ops.map((op) => op.result))).toBe('success');
      return ended;
    };
    await ok([
      { OP_ID: 'OP_GROUP_ADD', group_name: 'rack2' },
      { OP_ID: 'OP_GROUP_ASSIGN_NODES', group_name: 'rack2', nodes: ['node3', 'node4'], force: true },
    ]);
    for (const name of ['a1', 'a2', 'a3'])
      await ok([
        {
          OP_ID: 'OP_INSTANCE_CREATE',
          instance_name: name,
          disk_template: 'sharedfile',
          disks: [{ size: 1 }],
          os_type: SIM_OS,
          beparams: { memory: 64 },
          pnode: 'node1',
        },
      ]);
    const parent = await ok([
      { OP_ID: 'OP_GROUP_EVACUATE', group_name: 'default', target_groups: ['rack2'], sequential: true },
    ]);
    const ids = (parent.ops[0]!.result as { jobs: [boolean, JobId][] }).jobs.map(([, id]) => id);
    expect(ids).toHaveLength(3);
    const children = [];
    for (const id of ids) children.push(await world.waitJob(via, id, 120_000));
    for (const [i, child] of children.entries()) {
      expect(child.status).toBe('success');
      if (i > 0) {
        expect(child.ops[0]!.input.depends).toEqual([[ids[i - 1], ['success', 'error']]]);
        expect(child.ops[0]!.startMs).toBeGreaterThanOrEqual(children[i - 1]!.endMs!);
      }
    }
  }, 300_000);
});
