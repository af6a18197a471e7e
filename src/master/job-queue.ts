import type { ClusterOutcome, ClusterState, StateChange } from '../cluster/cluster-state.js';
import type { ClusterCommand } from '../cluster/commands.js';
import type { ConfigData } from '../cluster/config.js';
import { type DependencyVerdict, dependencyVerdict } from '../cluster/job-dependencies.js';
import { isFinished, type JobRecord } from '../cluster/jobs.js';
import type { JobId } from '../cluster/model.js';
import { applyMutation, type Mutation } from '../cluster/mutations.js';
import type { Opcode } from '../cluster/opcodes.js';
import type { Clock } from '../common/clock.js';
import { asCorralError, CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import { InvariantError } from '../common/invariant.js';
import type { Logger } from '../common/log.js';
import { DryRunStop, dryRunContext } from './dry-run.js';
import type { LockManager, LockRequest } from './locks.js';
import type { HookSpec, OpContext, OpDefinition, OpDefinitions, OpOutcome } from './op-context.js';

/**
 * Why a finished job's signal is aborted. One shared reason: abort() with none builds a DOMException, stack and
 * all, for every job that ends.
 */
const JOB_ENDED = new CorralError('aborted', 'the job has ended');

/** Which opcode of which job a context serves: jobs it submits are keyed by it, so a rerun submits none twice. */
export interface OpOrigin {
  readonly job: JobId;
  readonly op: number;
}

/** One node's answer to a hooks phase. */
export interface NodeHookReport {
  readonly node: string;
  readonly script: string;
  readonly failed: boolean;
  readonly output: string;
}

/** Runs an opcode's hooks on the nodes its spec names (Ganeti: in parallel, unreachable nodes do not deny). */
export interface HookRunner {
  run(
    spec: HookSpec,
    phase: 'pre' | 'post',
    op: Opcode,
    config: ConfigData,
    signal: AbortSignal,
    /** For the post phase: the spec recomputed on the configuration after the operation (GANETI_POST_*). */
    after?: HookSpec,
  ): Promise<NodeHookReport[]>;
}

export interface JobQueueDeps {
  readonly state: ClusterState;
  /** Proposes through Raft and waits until applied here; rejects once this node is no longer the leader. */
  commit(command: ClusterCommand): Promise<ClusterOutcome | undefined>;
  readonly locks: LockManager;
  readonly defs: OpDefinitions;
  readonly hooks: HookRunner;
  readonly clock: Clock;
  readonly log: Logger;
  /** The context an opcode runs in; the queue supplies the job's signal and log. */
  context(signal: AbortSignal, log: (message: string) => void, origin: OpOrigin): OpContext;
}

/**
 * The master's job queue. It holds no state of its own that matters: the job records are replicated, so a new
 * master rebuilds the queue from them, runs what was queued, and resumes or fails what was running.
 */
export class JobQueue {
  private readonly running = new Map<JobId, AbortController>();
  private readonly pending = new Set<JobId>();
  /** Queued jobs this master has shown as waiting for the jobs they depend on. */
  private readonly markedWaiting = new Set<JobId>();
  private readonly stopped = new AbortController();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly deps: JobQueueDeps) {}

  /** Takes the queue over; call once the takeover entry is applied, so every earlier job record is here. */
  start(previousMaster: NodeId | undefined): void {
    const { state } = this.deps;
    this.unsubscribe = state.onChange((change) => this.observe(change));
    for (const job of state.jobs()) {
      if (isFinished(job.status)) continue;
      this.pending.add(job.id);
    }
    this.deps.log.info({ pending: this.pending.size, previousMaster }, 'took over the job queue');
    this.schedule();
  }

  /** Leadership is gone: stop every job here; the next master picks them up from the replicated records. */
  stop(): void {
    this.unsubscribe?.();
    this.stopped.abort();
    for (const controller of this.running.values()) controller.abort();
    this.running.clear();
    this.pending.clear();
  }

  private observe(change: StateChange): void {
    if (change.type !== 'job') return;
    const { job } = change;
    if (isFinished(job.status)) {
      this.pending.delete(job.id);
      this.markedWaiting.delete(job.id);
      // A job canceled while it waited for locks stops waiting.
      this.running.get(job.id)?.abort(JOB_ENDED);
      // Jobs that depended on it may run now.
      this.schedule();
      return;
    }
    if (job.status === 'queued' && !this.running.has(job.id)) {
      this.pending.add(job.id);
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.stopped.signal.aborted) return;
    const config = this.deps.state.config;
    const limit = config?.cluster.maxRunningJobs ?? 1;
    if (this.running.size >= limit || this.pending.size === 0) return;
    const ready = [...this.pending]
      .map((id) => this.deps.state.job(id))
      .filter((job): job is JobRecord => job !== undefined && !isFinished(job.status))
      .sort((a, b) => a.priority - b.priority || a.id - b.id);
    for (const job of ready) {
      if (this.running.size >= limit) break;
      // A job whose next opcode waits for other jobs takes no slot until they have finished.
      if (this.verdict(job).kind === 'wait') {
        this.markWaiting(job);
        continue;
      }
      this.pending.delete(job.id);
      const controller = new AbortController();
      this.running.set(job.id, controller);
      void this.runJob(job, controller.signal).finally(() => {
        this.deps.locks.release(job.id);
        if (this.running.get(job.id) === controller) this.running.delete(job.id);
        this.schedule();
      });
    }
  }

  private async runJob(job: JobRecord, signal: AbortSignal): Promise<void> {
    try {
      for (
        let index = job.ops.findIndex((op) => !isFinished(op.status));
        index >= 0 && index < job.ops.length;
        index++
      ) {
        if (signal.aborted) return;
        const wasRunning = job.ops[index]?.status === 'running';
        const ended = await this.runOp(job, index, wasRunning, signal);
        if (ended === 'deferred') {
          this.pending.add(job.id);
          return;
        }
        if (!ended) return;
        const current = this.deps.state.job(job.id);
        if (current === undefined || isFinished(current.status)) return;
      }
    } catch (error) {
      // A broken invariant (the lock order) is a bug: it surfaces, to stop the simulator, rather than be logged.
      if (error instanceof InvariantError) throw error;
      // Losing leadership or the job being canceled ends the run here; anything else is logged.
      const failure = asCorralError(error);
      if (!signal.aborted && failure.code !== 'not_leader' && failure.code !== 'closed')
        this.deps.log.error({ job: job.id, err: failure }, 'job run failed');
    }
  }

  /**
   * Runs one opcode to its end; false when the job must not go on (canceled, refused, or leadership lost),
   * 'deferred' when it waits for the jobs it depends on (it is scheduled again once they have finished).
   */
  private async runOp(
    job: JobRecord,
    index: number,
    wasRunning: boolean,
    signal: AbortSignal,
  ): Promise<boolean | 'deferred'> {
    const { deps } = this;
    const op = job.ops[index]!.input;
    const def = definitionOf(deps.defs, op);
    const end = (outcome: OpEndOutcome) => this.commitEnd(job.id, index, outcome);

    const verdict = dependencyVerdict(job.id, op.depends, (id) => this.findJob(id));
    switch (verdict.kind) {
      case 'wait':
        await this.markOp(job.id, index, 'waiting');
        return 'deferred';
      case 'cancel':
        // Ganeti cancels the whole job; a job past its first opcode is running, and only a waiting one cancels.
        this.log(job.id, verdict.message);
        if (await this.markOp(job.id, index, 'waiting'))
          await this.accepted({ type: 'cancel', atMs: deps.clock.wallMs(), job: job.id });
        return false;
      case 'fail':
        await end({ ok: false, code: 'conflict', message: verdict.message });
        return false;
      case 'run':
        if ((op.depends?.length ?? 0) > 0)
          this.log(job.id, 'the jobs it depends on have finished as required');
    }

    if (wasRunning && def.onTakeover === 'fail') {
      await end({
        ok: false,
        code: 'unavailable',
        message:
          'the master changed while this opcode ran and it cannot safely run twice; check its effect and submit it again',
      });
      return false;
    }
    const config = deps.state.config;
    if (config === undefined) throw new CorralError('unavailable', 'the cluster is not initialised');

    let requests: LockRequest[];
    let spec: HookSpec | undefined;
    try {
      requests = def.locks(op, config);
      spec = def.hooks?.(op, config);
    } catch (error) {
      await end(failure(error));
      return false;
    }
    if (!deps.locks.tryAcquire(job.id, requests)) {
      if (!(await this.markOp(job.id, index, 'waiting'))) return false;
      await deps.locks.acquire(job.id, requests, { signal });
    }
    if (op.dry_run === true) {
      if (!(await this.markOp(job.id, index, 'running'))) return false;
      return this.dryRun(job, index, def, signal);
    }
    // An atomic opcode's start is recorded with its end, in the same entry.
    const atomicStartMs = def.atomic === true && spec === undefined ? deps.clock.wallMs() : undefined;
    if (atomicStartMs === undefined && !(await this.markOp(job.id, index, 'running'))) return false;
    if (wasRunning) this.log(job.id, 'resumed by a new master after the previous one stopped');

    if (spec !== undefined) {
      const reports = await deps.hooks.run(spec, 'pre', op, config, signal);
      const failed = reports.filter((report) => report.failed);
      for (const report of reports)
        if (report.output.length > 0 || report.failed)
          this.log(
            job.id,
            `pre hook ${report.script} on ${report.node}${report.failed ? ' failed' : ''}: ${report.output}`,
            'hook',
          );
      if (failed.length > 0) {
        const first = failed[0]!;
        await end({
          ok: false,
          code: 'conflict',
          message: `pre hook ${first.script} on ${first.node} failed, so ${op.OP_ID} was not run: ${first.output.trim().slice(0, 512)}`,
        });
        return false;
      }
    }

    let outcome: OpOutcome;
    try {
      outcome = await def.run(
        op,
        stoppable(deps.context(signal, (message) => this.log(job.id, message), { job: job.id, op: index })),
      );
    } catch (error) {
      if (signal.aborted) return false;
      await this.commitEnd(job.id, index, failure(error), undefined, atomicStartMs);
      return false;
    }
    const applied = await this.commitEnd(
      job.id,
      index,
      { ok: true, result: outcome.result ?? null },
      outcome.mutation,
      atomicStartMs,
    );
    if (applied?.ok !== true) {
      // Refused: the job was canceled meanwhile, or the state machine would not take the change. Then the
      // opcode ends with the reason, rather than leave the job running for ever.
      const current = deps.state.job(job.id);
      if (applied?.ok === false && current !== undefined && !isFinished(current.status))
        await end({ ok: false, code: applied.code, message: `the change was refused: ${applied.message}` });
      return false;
    }
    if (spec !== undefined) {
      const after = deps.state.config ?? config;
      const reports = await deps.hooks.run(spec, 'post', op, after, signal, specAfter(def, op, after));
      for (const report of reports.filter((r) => r.failed))
        this.log(job.id, `post hook ${report.script} on ${report.node} failed: ${report.output}`, 'hook');
    }
    deps.locks.release(job.id);
    return true;
  }

  /**
   * Runs the opcode's checks, changing nothing (dryRunContext); its end says how far it went. What it would
   * have changed in the configuration is checked against the current one too.
   */
  private async dryRun(
    job: JobRecord,
    index: number,
    def: OpDefinition<Opcode>,
    signal: AbortSignal,
  ): Promise<boolean> {
    const { deps } = this;
    const op = job.ops[index]!.input;
    const log = (message: string) => this.log(job.id, message);
    let result: unknown;
    try {
      const ctx = dryRunContext(stoppable(deps.context(signal, log, { job: job.id, op: index })));
      const outcome = await def.run(op, ctx);
      if (outcome.mutation !== undefined && deps.state.config !== undefined)
        applyMutation(deps.state.config, outcome.mutation, deps.clock.wallMs());
      log('dry run: every check passed; nothing was changed');
      result = { dry_run: true, result: outcome.result ?? null };
    } catch (error) {
      if (signal.aborted) return false;
      if (!(error instanceof DryRunStop)) {
        await this.commitEnd(job.id, index, failure(error));
        return false;
      }
      log(`${error.message}; every check before it passed and nothing was changed`);
      result = { dry_run: true, stopped_before: error.before };
    }
    const ended = await this.commitEnd(job.id, index, { ok: true, result });
    deps.locks.release(job.id);
    return ended?.ok === true;
  }

  private findJob(id: JobId): JobRecord | undefined {
    return this.deps.state.job(id) ?? this.deps.state.archivedJob(id);
  }

  /** What the dependencies of the job's next opcode allow. */
  private verdict(job: JobRecord): DependencyVerdict {
    const next = job.ops.find((op) => !isFinished(op.status));
    return dependencyVerdict(job.id, next?.input.depends, (id) => this.findJob(id));
  }

  /** Shows a queued job that waits for others as waiting (Ganeti's status), once. */
  private markWaiting(job: JobRecord): void {
    const index = job.ops.findIndex((op) => !isFinished(op.status));
    if (job.ops[index]?.status !== 'queued' || this.markedWaiting.has(job.id)) return;
    this.markedWaiting.add(job.id);
    void this.markOp(job.id, index, 'waiting').catch((error: unknown) =>
      this.deps.log.warn({ job: job.id, err: asCorralError(error) }, 'could not mark a job waiting'),
    );
  }

  private commitEnd(
    job: JobId,
    op: number,
    outcome: OpEndOutcome,
    mutation?: Mutation,
    startMs?: number,
  ): Promise<ClusterOutcome | undefined> {
    return this.deps.commit({
      type: 'op-end',
      atMs: this.deps.clock.wallMs(),
      job,
      op,
      outcome,
      ...(mutation !== undefined && { mutation }),
      ...(startMs !== undefined && { startMs }),
    });
  }

  private markOp(job: JobId, op: number, status: 'waiting' | 'running'): Promise<boolean> {
    return this.accepted({ type: 'op-status', atMs: this.deps.clock.wallMs(), job, op, status });
  }

  /** Commits a step of a job; false if the state machine refused it (the job was canceled meanwhile, say). */
  private async accepted(command: ClusterCommand): Promise<boolean> {
    const result = await this.deps.commit(command);
    return result?.ok === true;
  }

  private log(job: JobId, message: string, type: 'message' | 'hook' = 'message'): void {
    void this.deps
      .commit({
        type: 'job-log',
        atMs: this.deps.clock.wallMs(),
        job,
        entries: [{ type, message: message.slice(0, 4000) }],
      })
      .then(
        (outcome) => {
          if (outcome?.ok === false)
            this.deps.log.warn({ job, reason: outcome.message }, 'a job log line was refused');
        },
        // Lost with the master role (the log is the job's, not the operation's): say so, do not fail the job.
        (error: unknown) =>
          this.deps.log.warn({ job, err: asCorralError(error) }, 'could not commit a job log line'),
      );
  }
}

type OpEndOutcome = Extract<ClusterCommand, { type: 'op-end' }>['outcome'];

/** The table is keyed by OP_ID, so the definition found for an opcode is the one for its type. */
function definitionOf(defs: OpDefinitions, op: Opcode): OpDefinition<Opcode> {
  return defs[op.OP_ID] as unknown as OpDefinition<Opcode>;
}

/** The hooks spec on the new configuration; none when the object is gone (a removed instance or node). */
/**
 * The hook spec recomputed on the configuration after the opcode, for the post phase's variables; undefined
 * when what it describes is gone (an instance removed, a node renamed away), which is not an error. Anything
 * else thrown is a bug in the spec and surfaces.
 */
function specAfter(def: OpDefinition<Opcode>, op: Opcode, config: ConfigData): HookSpec | undefined {
  try {
    return def.hooks?.(op, config);
  } catch (error) {
    if (error instanceof CorralError && error.code === 'not_found') return undefined;
    throw error;
  }
}

/**
 * The context of an opcode whose job may be stopped while it runs (killed with job cancel --kill, or the
 * master's term over): once its signal aborts it commits nothing more and submits no job, so a killed
 * opcode leaves what it had done, not half of a clean-up, and a later job or an operator takes it from there.
 */
function stoppable(ctx: OpContext): OpContext {
  const stopped = () => new CorralError('aborted', 'the job was stopped: nothing more is committed for it');
  return {
    ...ctx,
    commit: (mutation) => (ctx.signal.aborted ? Promise.reject(stopped()) : ctx.commit(mutation)),
    submitJobs: (jobs) => (ctx.signal.aborted ? Promise.reject(stopped()) : ctx.submitJobs(jobs)),
  };
}

function failure(error: unknown): OpEndOutcome {
  const e = asCorralError(error);
  return { ok: false, code: e.code, message: e.message };
}
