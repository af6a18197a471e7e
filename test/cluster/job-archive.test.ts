import { describe, expect, it } from 'vitest';
import { ClusterState } from '../../src/cluster/cluster-state.js';
import { MAX_ARCHIVED_JOBS, MAX_FINISHED_JOBS } from '../../src/cluster/jobs.js';
import type { JobId } from '../../src/cluster/model.js';
import type { Opcode } from '../../src/cluster/opcodes.js';
import { applyCommand, foundedCluster } from '../helpers/cluster-state.js';

/** The job table's administration: archive, autoarchive, change-priority, cancel --kill, interrupting a delay. */

const delay: Opcode = { OP_ID: 'OP_TEST_DELAY', duration: 0 };
let keys = 0;
const submit = (state: ClusterState, ops: Opcode[] = [delay, delay], atMs = 5) =>
  applyCommand(state, { type: 'submit', atMs, key: `job-key-${++keys}`, priority: 0, ops });

/** Runs every opcode of the job to success, ending at `atMs`. */
function finish(state: ClusterState, job: number, atMs: number): void {
  const record = state.job(job as JobId)!;
  record.ops.forEach((_, op) => {
    applyCommand(state, { type: 'op-status', atMs, job, op, status: 'running' });
    applyCommand(state, { type: 'op-end', atMs, job, op, outcome: { ok: true, result: null } });
  });
}

describe('archiving jobs', () => {
  it('moves a finished job out of the table into the archive, and refuses an unfinished one', () => {
    const state = foundedCluster();
    submit(state);
    submit(state);
    finish(state, 1, 10);
    expect(applyCommand(state, { type: 'archive', atMs: 20, job: 1 })).toEqual({ ok: true });
    expect(state.job(1 as JobId)).toBeUndefined();
    expect(state.archivedJob(1 as JobId)).toMatchObject({ id: 1, status: 'success' });
    expect(state.jobs().map((job) => job.id)).toEqual([2]);
    expect(applyCommand(state, { type: 'archive', atMs: 20, job: 2 })).toEqual({
      ok: false,
      code: 'conflict',
      message: 'job 2 is queued; only finished jobs can be archived (wait for it to end, or cancel it)',
    });
    expect(applyCommand(state, { type: 'archive', atMs: 20, job: 9 })).toMatchObject({
      ok: false,
      code: 'not_found',
      message: 'job 9 does not exist or was archived',
    });
  });

  it('autoarchives the finished jobs older than the age, or all of them, and says how many', () => {
    const state = foundedCluster();
    for (let i = 0; i < 4; i++) submit(state);
    finish(state, 1, 1_000);
    finish(state, 2, 50_000);
    finish(state, 3, 90_000);
    // At 100 s: job 1 ended 99 s ago, job 2 50 s ago, job 3 10 s ago; job 4 has not run.
    expect(applyCommand(state, { type: 'autoarchive', atMs: 100_000, ageS: 60 })).toEqual({
      ok: true,
      archived: 1,
    });
    expect(state.jobs().map((job) => job.id)).toEqual([2, 3, 4]);
    expect(applyCommand(state, { type: 'autoarchive', atMs: 100_000 })).toEqual({ ok: true, archived: 2 });
    expect(state.jobs().map((job) => job.id)).toEqual([4]);
    expect(state.archivedJobs().map((job) => job.id)).toEqual([1, 2, 3]);
  });

  it('keeps the newest archived jobs, the automatically archived ones too, across a snapshot', () => {
    const state = foundedCluster();
    const total = MAX_FINISHED_JOBS + MAX_ARCHIVED_JOBS;
    for (let i = 1; i <= total; i++) {
      submit(state, [delay]);
      finish(state, i, i);
    }
    // The table keeps MAX_FINISHED_JOBS (with a tenth of slack); the rest went to the archive.
    expect(state.jobs().length).toBeGreaterThanOrEqual(MAX_FINISHED_JOBS);
    expect(applyCommand(state, { type: 'autoarchive', atMs: total + 1 })).toMatchObject({ ok: true });
    expect(state.jobs()).toEqual([]);
    const archived = state.archivedJobs();
    expect(archived).toHaveLength(MAX_ARCHIVED_JOBS);
    expect(archived[0]?.id).toBeGreaterThan(MAX_FINISHED_JOBS - 1);
    const copy = new ClusterState();
    copy.restore(state.snapshot());
    expect(copy.archivedJobs()).toEqual(archived);
  }, 60_000);
});

describe('changing priorities', () => {
  it('changes a queued job and refuses a running or finished one', () => {
    const state = foundedCluster();
    submit(state);
    submit(state);
    submit(state);
    applyCommand(state, { type: 'op-status', atMs: 6, job: 2, op: 0, status: 'running' });
    finish(state, 3, 7);
    expect(applyCommand(state, { type: 'change-priority', atMs: 8, job: 1, priority: -10 })).toEqual({
      ok: true,
    });
    expect(state.job(1 as JobId)?.priority).toBe(-10);
    expect(applyCommand(state, { type: 'change-priority', atMs: 8, job: 2, priority: 10 })).toEqual({
      ok: false,
      code: 'conflict',
      message: 'job 2 is running; only queued or waiting jobs can change priority',
    });
    expect(applyCommand(state, { type: 'change-priority', atMs: 8, job: 3, priority: 10 })).toMatchObject({
      ok: false,
      message: expect.stringMatching(/job 3 is success/),
    });
  });
});

describe('canceling running jobs', () => {
  it('refuses a running job without kill, and with it ends the job in error saying what to check', () => {
    const state = foundedCluster();
    submit(state);
    applyCommand(state, { type: 'op-status', atMs: 6, job: 1, op: 0, status: 'running' });
    expect(applyCommand(state, { type: 'cancel', atMs: 7, job: 1 })).toMatchObject({
      ok: false,
      code: 'conflict',
      message: expect.stringMatching(/job 1 is running; .* only with --kill --yes-do-it/),
    });
    expect(applyCommand(state, { type: 'cancel', atMs: 8, job: 1, kill: true })).toEqual({ ok: true });
    const job = state.job(1 as JobId)!;
    expect(job.status).toBe('error');
    expect(job.endMs).toBe(8);
    expect(job.ops.map((op) => op.status)).toEqual(['error', 'error']);
    expect(job.ops[0]?.result).toMatchObject({ code: 'aborted', message: expect.stringMatching(/killed/) });
    // The opcode's own end, arriving later, is refused: the job stays killed.
    expect(
      applyCommand(state, { type: 'op-end', atMs: 9, job: 1, op: 0, outcome: { ok: true, result: null } }),
    ).toMatchObject({ ok: false, code: 'conflict' });
  });

  it('cancels a running interruptible delay without kill, and a queued job as before', () => {
    const state = foundedCluster();
    submit(state, [{ OP_ID: 'OP_TEST_DELAY', duration: 60, interruptible: true }]);
    submit(state);
    applyCommand(state, { type: 'op-status', atMs: 6, job: 1, op: 0, status: 'running' });
    expect(applyCommand(state, { type: 'cancel', atMs: 7, job: 1 })).toEqual({ ok: true });
    expect(state.job(1 as JobId)).toMatchObject({ status: 'canceled', ops: [{ status: 'canceled' }] });
    expect(state.job(1 as JobId)?.log.at(-1)?.message).toBe('job canceled: delay interrupted');
    expect(applyCommand(state, { type: 'cancel', atMs: 7, job: 2, kill: true })).toEqual({ ok: true });
    expect(state.job(2 as JobId)?.status).toBe('canceled');
    expect(applyCommand(state, { type: 'cancel', atMs: 7, job: 2, kill: true })).toMatchObject({
      ok: false,
      message: 'job 2 is canceled; only queued or waiting jobs can be canceled',
    });
  });
});
