import { Encoder } from 'cbor-x';
import { CorralError, type ErrorCode } from '../common/errors.js';
import { asNodeId, type NodeId } from '../common/ids.js';
import type { NormalEntry, StateMachine } from '../consensus/state-machine.js';
import { type ClusterCommand, decodeClusterCommand } from './commands.js';
import type { ConfigData } from './config.js';
import {
  isFinished,
  type JobLogEntry,
  type JobRecord,
  MAX_ARCHIVED_JOBS,
  MAX_FINISHED_JOBS,
  MAX_LOG_ENTRIES_PER_JOB,
  MAX_PENDING_JOBS,
  type OpRecord,
  SUBMITTED_VERSION,
} from './jobs.js';
import { DEFAULT_HA_PARAMS } from './lease.js';
import {
  asJobId,
  DEFAULT_BE_PARAMS,
  DEFAULT_CANDIDATE_DEAD_GRACE_MS,
  DEFAULT_MAC_PREFIX,
  DEFAULT_MAX_RUNNING_JOBS,
  DEFAULT_NIC_PARAMS,
  type GroupRecord,
  type GroupUuid,
  type InstanceRecord,
  type JobId,
  type NodeRecord,
  type NodeUuid,
} from './model.js';
import { applyMutation } from './mutations.js';
import type { RapiCertificate } from './rapi-certificate.js';

export type ClusterOutcome =
  | { readonly ok: true; readonly job?: JobId; readonly archived?: number }
  | { readonly ok: false; readonly code: ErrorCode; readonly message: string };

export type StateChange =
  | { readonly type: 'config'; readonly config: ConfigData }
  | { readonly type: 'job'; readonly job: JobRecord }
  | { readonly type: 'takeover'; readonly node: NodeId; readonly term: number; readonly index: number };

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true, structuredClone: false });

/**
 * The cluster's replicated state: the configuration and the job table. Every node of the cluster applies
 * the same commands in the same order; a command a rule refuses changes nothing and is answered as refused
 * on every node alike, never thrown, so no entry can stop a node's apply loop.
 */
export class ClusterState implements StateMachine<ClusterOutcome | undefined> {
  private configData: ConfigData | undefined;
  private jobTable = new Map<JobId, JobRecord>();
  /** Archived jobs, in the order they were archived; at most MAX_ARCHIVED_JOBS (see jobs.ts). */
  private archive = new Map<JobId, JobRecord>();
  private keys = new Map<string, JobId>();
  private nextJobId = 1;
  private finishedJobs = 0;
  private appliedIndex = 0;
  private readonly listeners = new Set<(change: StateChange) => void>();

  get config(): ConfigData | undefined {
    return this.configData;
  }

  get applied(): number {
    return this.appliedIndex;
  }

  job(id: JobId): JobRecord | undefined {
    return this.jobTable.get(id);
  }

  /** Whether this replica has given out the ID: jobs are numbered in the order their submissions commit. */
  issuedJob(id: JobId): boolean {
    return id < this.nextJobId;
  }

  /** Jobs in ID order. */
  jobs(): JobRecord[] {
    return [...this.jobTable.values()];
  }

  /** A job that was archived and is still kept (gnt-job info and list --archived). */
  archivedJob(id: JobId): JobRecord | undefined {
    return this.archive.get(id);
  }

  /** The archived jobs still kept, in ID order. */
  archivedJobs(): JobRecord[] {
    return [...this.archive.values()].sort((a, b) => a.id - b.id);
  }

  jobByKey(key: string): JobRecord | undefined {
    const id = this.keys.get(key);
    return id === undefined ? undefined : this.jobTable.get(id);
  }

  onChange(listener: (change: StateChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  apply(entry: NormalEntry): ClusterOutcome | undefined {
    this.appliedIndex = entry.index;
    if (entry.data.byteLength === 0) return undefined;
    const command = decodeClusterCommand(entry.data);
    if (command === undefined) return { ok: false, code: 'bad_request', message: 'malformed command' };
    try {
      return this.run(command, entry.index);
    } catch (error) {
      if (error instanceof CorralError) return { ok: false, code: error.code, message: error.message };
      throw error;
    }
  }

  private run(command: ClusterCommand, index: number): ClusterOutcome {
    if (command.type === 'init') return this.init(command);
    const config = this.configData;
    if (config === undefined) throw new CorralError('unavailable', 'the cluster is not initialised');
    switch (command.type) {
      case 'takeover':
        this.setConfig({ ...config, master: asNodeId(command.node) });
        this.emit({ type: 'takeover', node: asNodeId(command.node), term: command.term, index });
        return { ok: true };
      case 'config':
        this.setConfig(applyMutation(config, command.mutation, command.atMs));
        return { ok: true };
      case 'submit':
        return this.submit(command);
      case 'op-status': {
        const job = this.requireJob(command.job);
        const op = job.ops[command.op];
        if (op === undefined || isFinished(op.status) || isFinished(job.status))
          throw new CorralError('conflict', `job ${job.id} opcode ${command.op} has already ended`);
        const ops = replaceAt(job.ops, command.op, {
          ...op,
          status: command.status,
          ...(command.status === 'running' && { startMs: command.atMs }),
        });
        this.putJob({
          ...job,
          ops,
          status: command.status,
          ...(job.startMs === undefined && { startMs: command.atMs }),
        });
        return { ok: true };
      }
      case 'job-log': {
        const job = this.requireJob(command.job);
        this.putJob({ ...job, log: appendLog(job.log, command.atMs, command.entries) });
        return { ok: true };
      }
      case 'op-end':
        return this.endOp(command, config);
      case 'cancel':
        return this.cancel(command);
      case 'archive': {
        const job = this.requireJob(command.job);
        if (!isFinished(job.status))
          throw new CorralError(
            'conflict',
            `job ${job.id} is ${job.status}; only finished jobs can be archived (wait for it to end, or cancel it)`,
          );
        this.toArchive(job);
        return { ok: true };
      }
      case 'autoarchive': {
        let archived = 0;
        for (const job of [...this.jobTable.values()]) {
          if (!isFinished(job.status)) continue;
          // Ganeti's age of a job: since it ended, else since it started, else since it was received.
          const sinceMs = job.endMs ?? job.startMs ?? job.receivedMs;
          if (command.ageS !== undefined && command.atMs - sinceMs <= command.ageS * 1000) continue;
          this.toArchive(job);
          archived++;
        }
        return { ok: true, archived };
      }
      case 'change-priority': {
        const job = this.requireJob(command.job);
        if (job.status !== 'queued' && job.status !== 'waiting')
          throw new CorralError(
            'conflict',
            `job ${job.id} is ${job.status}; only queued or waiting jobs can change priority`,
          );
        this.putJob({ ...job, priority: command.priority });
        return { ok: true };
      }
    }
  }

  /**
   * Ends a job that has not started (queued, or waiting for its locks) as canceled. A running one only when
   * its opcode is an interruptible test delay (canceled too), or when told to kill it: then it ends in error,
   * the master's job queue sees it end and stops the opcode at its next wait.
   */
  private cancel(command: Extract<ClusterCommand, { type: 'cancel' }>): ClusterOutcome {
    const job = this.requireJob(command.job);
    const current = job.ops.findIndex((op) => !isFinished(op.status));
    const input = job.ops[current]?.input;
    const interruptible = input?.OP_ID === 'OP_TEST_DELAY' && input.interruptible === true;
    if (job.status === 'queued' || job.status === 'waiting' || (job.status === 'running' && interruptible)) {
      this.finishJob({
        ...job,
        status: 'canceled',
        ops: job.ops.map((op) =>
          isFinished(op.status) ? op : { ...op, status: 'canceled' as const, endMs: command.atMs },
        ),
        endMs: command.atMs,
        log: appendLog(job.log, command.atMs, [
          {
            type: 'message',
            message: job.status === 'running' ? 'job canceled: delay interrupted' : 'job canceled',
          },
        ]),
      });
      return { ok: true };
    }
    if (job.status !== 'running' || command.kill !== true) {
      throw new CorralError(
        'conflict',
        job.status === 'running'
          ? `job ${job.id} is running; only queued or waiting jobs can be canceled (a running one is stopped only with --kill --yes-do-it)`
          : `job ${job.id} is ${job.status}; only queued or waiting jobs can be canceled`,
      );
    }
    const message = `killed while it ran (job cancel --kill): what ${input?.OP_ID ?? 'the opcode'} had done stays done, and work already sent to nodes may still finish there; check its effect`;
    const ops = job.ops.map((op, i): OpRecord => {
      if (i < current || isFinished(op.status)) return op;
      if (i === current)
        return { ...op, status: 'error', result: { code: 'aborted', message }, endMs: command.atMs };
      return { ...op, status: 'error', result: 'a previous opcode failed' };
    });
    const log = appendLog(job.log, command.atMs, [{ type: 'message', message: `error: ${message}` }]);
    this.finishJob({ ...job, ops, log, status: 'error', endMs: command.atMs });
    return { ok: true };
  }

  private init(command: Extract<ClusterCommand, { type: 'init' }>): ClusterOutcome {
    if (this.configData !== undefined) {
      throw new CorralError(
        'conflict',
        `this node already belongs to cluster ${this.configData.cluster.name}`,
      );
    }
    const { atMs } = command;
    const group: GroupRecord = {
      uuid: command.group.uuid as GroupUuid,
      name: command.group.name,
      allocPolicy: 'preferred',
      tags: [],
      ctimeMs: atMs,
      mtimeMs: atMs,
      serial: 1,
    };
    const node: NodeRecord = {
      ...command.node,
      uuid: command.node.uuid as NodeUuid,
      id: asNodeId(command.node.id),
      group: group.uuid,
      masterCandidate: true,
      masterCapable: true,
      vmCapable: true,
      drained: false,
      offline: false,
      tags: [],
      ctimeMs: atMs,
      mtimeMs: atMs,
      serial: 1,
    };
    this.setConfig({
      cluster: {
        ...command.cluster,
        ctimeMs: atMs,
        mtimeMs: atMs,
        maxRunningJobs: DEFAULT_MAX_RUNNING_JOBS,
        candidateDeadGraceMs: DEFAULT_CANDIDATE_DEAD_GRACE_MS,
        ha: DEFAULT_HA_PARAMS,
        beParams: DEFAULT_BE_PARAMS,
        nicParams: DEFAULT_NIC_PARAMS,
        macPrefix: DEFAULT_MAC_PREFIX,
        tags: [],
      },
      serial: 1,
      groups: new Map([[group.uuid, group]]),
      nodes: new Map([[node.uuid, node]]),
      instances: new Map(),
      master: node.id,
      ...(command.rapiCertificate !== undefined && { rapiCertificate: command.rapiCertificate }),
    });
    return { ok: true };
  }

  private submit(command: Extract<ClusterCommand, { type: 'submit' }>): ClusterOutcome {
    const known = this.keys.get(command.key);
    if (known !== undefined) return { ok: true, job: known };
    const pending = this.jobTable.size - this.finishedJobs;
    if (pending >= MAX_PENDING_JOBS) {
      throw new CorralError(
        'unavailable',
        `the queue holds ${pending} unfinished jobs; wait for some to end`,
      );
    }
    const id = asJobId(this.nextJobId++);
    this.keys.set(command.key, id);
    this.putJob({
      id,
      key: command.key,
      status: 'queued',
      priority: command.priority,
      ops: command.ops.map((input) => ({ input, status: 'queued' })),
      log: [],
      receivedMs: command.atMs,
      // putJob counts the submission as the first version.
      version: SUBMITTED_VERSION - 1,
    });
    return { ok: true, job: id };
  }

  private endOp(command: Extract<ClusterCommand, { type: 'op-end' }>, config: ConfigData): ClusterOutcome {
    const job = this.requireJob(command.job);
    const op = job.ops[command.op];
    if (op === undefined || isFinished(op.status) || isFinished(job.status))
      throw new CorralError('conflict', `job ${job.id} opcode ${command.op} has already ended`);
    let outcome = command.outcome;
    if (outcome.ok && command.mutation !== undefined) {
      try {
        this.setConfig(applyMutation(config, command.mutation, command.atMs));
      } catch (error) {
        if (!(error instanceof CorralError)) throw error;
        outcome = { ok: false, code: error.code, message: error.message };
      }
    }
    const startMs = op.startMs ?? command.startMs;
    const started = { ...op, ...(startMs !== undefined && { startMs }) };
    const ended: OpRecord = outcome.ok
      ? { ...started, status: 'success', result: outcome.result, endMs: command.atMs }
      : {
          ...started,
          status: 'error',
          result: { code: outcome.code, message: outcome.message },
          endMs: command.atMs,
        };
    let ops = replaceAt(job.ops, command.op, ended);
    const jobStarted = job.startMs === undefined && startMs !== undefined ? { ...job, startMs } : job;
    const last = command.op === job.ops.length - 1;
    if (!outcome.ok) {
      // Ganeti fails the rest of a job once one opcode fails.
      ops = ops.map((rest, i) =>
        i > command.op ? { ...rest, status: 'error' as const, result: 'a previous opcode failed' } : rest,
      );
      const log = appendLog(job.log, command.atMs, [
        { type: 'message', message: `error: ${outcome.message}` },
      ]);
      this.finishJob({ ...jobStarted, ops, log, status: 'error', endMs: command.atMs });
    } else if (last) {
      this.finishJob({ ...jobStarted, ops, status: 'success', endMs: command.atMs });
    } else {
      this.putJob({ ...jobStarted, ops, status: 'running' });
    }
    return outcome.ok ? { ok: true } : { ok: false, code: outcome.code, message: outcome.message };
  }

  private requireJob(id: number): JobRecord {
    const job = this.jobTable.get(asJobId(id));
    if (job === undefined) throw new CorralError('not_found', `job ${id} does not exist or was archived`);
    return job;
  }

  private putJob(job: JobRecord): void {
    const updated = { ...job, version: job.version + 1 };
    this.jobTable.set(job.id, updated);
    this.emit({ type: 'job', job: updated });
  }

  private finishJob(job: JobRecord): void {
    this.putJob(job);
    this.finishedJobs++;
    this.archiveOld();
  }

  /** Keeps the newest finished jobs; a tenth of slack so that archiving runs now and then, not on every job. */
  private archiveOld(): void {
    if (this.finishedJobs <= MAX_FINISHED_JOBS * 1.1) return;
    for (const job of [...this.jobTable.values()]) {
      if (this.finishedJobs <= MAX_FINISHED_JOBS) break;
      if (isFinished(job.status)) this.toArchive(job);
    }
  }

  /** Moves a finished job to the archive, which keeps the newest MAX_ARCHIVED_JOBS (see jobs.ts). */
  private toArchive(job: JobRecord): void {
    this.jobTable.delete(job.id);
    this.keys.delete(job.key);
    this.finishedJobs--;
    this.archive.set(job.id, job);
    for (const id of this.archive.keys()) {
      if (this.archive.size <= MAX_ARCHIVED_JOBS) break;
      this.archive.delete(id);
    }
  }

  private setConfig(config: ConfigData): void {
    this.configData = config;
    this.emit({ type: 'config', config });
  }

  private emit(change: StateChange): void {
    for (const listener of this.listeners) listener(change);
  }

  snapshot(): Uint8Array {
    const config = this.configData;
    return cbor.encode({
      applied: this.appliedIndex,
      nextJobId: this.nextJobId,
      config:
        config === undefined
          ? null
          : {
              cluster: config.cluster,
              serial: config.serial,
              master: config.master ?? null,
              groups: [...config.groups.values()],
              nodes: [...config.nodes.values()],
              instances: [...config.instances.values()],
              ...(config.clusterSecret !== undefined && { clusterSecret: config.clusterSecret }),
              ...(config.rapiCertificate !== undefined && { rapiCertificate: config.rapiCertificate }),
            },
      jobs: this.jobs(),
      archived: [...this.archive.values()],
    });
  }

  restore(data: Uint8Array): void {
    this.jobTable = new Map();
    this.keys = new Map();
    this.archive = new Map();
    this.finishedJobs = 0;
    if (data.byteLength === 0) {
      this.configData = undefined;
      this.nextJobId = 1;
      this.appliedIndex = 0;
      return;
    }
    const saved = cbor.decode(data) as SavedState;
    this.appliedIndex = saved.applied;
    this.nextJobId = saved.nextJobId;
    for (const job of saved.jobs) {
      this.jobTable.set(job.id, job);
      this.keys.set(job.key, job.id);
      if (isFinished(job.status)) this.finishedJobs++;
    }
    // Absent from snapshots taken before the archive was kept.
    for (const job of saved.archived ?? []) this.archive.set(job.id, job);
    const config = saved.config;
    this.configData =
      config === null
        ? undefined
        : {
            // A cluster saved before node leases existed takes their defaults.
            cluster: { ha: DEFAULT_HA_PARAMS, ...config.cluster },
            serial: config.serial,
            master: config.master ?? undefined,
            groups: new Map(config.groups.map((group) => [group.uuid, group])),
            nodes: new Map(config.nodes.map((node) => [node.uuid, node])),
            instances: new Map(config.instances.map((instance) => [instance.uuid, instance])),
            ...(config.clusterSecret !== undefined && { clusterSecret: config.clusterSecret }),
            ...(config.rapiCertificate !== undefined && { rapiCertificate: config.rapiCertificate }),
          };
    if (this.configData !== undefined) this.emit({ type: 'config', config: this.configData });
  }
}

interface SavedState {
  readonly applied: number;
  readonly nextJobId: number;
  readonly config: {
    /** Without `ha` when saved before node leases existed. */
    readonly cluster: Omit<ConfigData['cluster'], 'ha'> & Partial<Pick<ConfigData['cluster'], 'ha'>>;
    readonly serial: number;
    readonly master: NodeId | null;
    readonly groups: GroupRecord[];
    readonly nodes: NodeRecord[];
    readonly instances: InstanceRecord[];
    readonly clusterSecret?: Uint8Array;
    readonly rapiCertificate?: RapiCertificate;
  } | null;
  readonly jobs: JobRecord[];
  readonly archived?: JobRecord[];
}

function replaceAt<T>(items: readonly T[], index: number, item: T): T[] {
  return items.map((existing, i) => (i === index ? item : existing));
}

function appendLog(
  log: readonly JobLogEntry[],
  tsMs: number,
  entries: readonly { type: JobLogEntry['type']; message: string }[],
): JobLogEntry[] {
  let serial = log.at(-1)?.serial ?? 0;
  const added = entries.map((entry) => ({ serial: ++serial, tsMs, ...entry }));
  const next = [...log, ...added];
  // Keeps the newest messages; serials still tell a watcher that some were dropped.
  return next.length > MAX_LOG_ENTRIES_PER_JOB ? next.slice(next.length - MAX_LOG_ENTRIES_PER_JOB) : next;
}
