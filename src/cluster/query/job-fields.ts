import type { JobView } from '../job-views.js';
import { opSummary } from '../opcodes.js';
import type { JobRow } from './rows.js';
import { type FieldDefinition, UNAVAILABLE } from './types.js';

/**
 * Ganeti's job fields (`gnt-job list -o`, RAPI's /2/jobs bulk and item dicts, /2/query/job). Timestamps are
 * Ganeti's [seconds, microseconds]; one that has not happened yet is unavailable (null in RAPI's dicts).
 */

type Field = FieldDefinition<JobRow>;

/** Ganeti's split timestamp: [seconds, microseconds]. */
export function splitTimestamp(ms: number): [number, number] {
  const sec = Math.floor(ms / 1000);
  const usec = Math.min(999_999, Math.round((ms - sec * 1000) * 1000));
  return [sec, usec];
}

type Op = JobView['ops'][number];

/** The log entries of each opcode: Corral logs per job, and its opcodes run one after the other. */
function opLogs(job: JobView): unknown[][] {
  const logs: unknown[][] = job.ops.map(() => []);
  for (const entry of job.log) {
    let index = 0;
    job.ops.forEach((op, n) => {
      if (op.startMs !== undefined && op.startMs <= entry.tsMs) index = n;
    });
    logs[index]?.push([entry.serial, splitTimestamp(entry.tsMs), entry.type, entry.message]);
  }
  return logs;
}

const perOp = (name: string, title: string, doc: string, get: (op: Op, job: JobView) => unknown): Field => ({
  name,
  title,
  kind: 'other',
  doc,
  get: (r) => r.job.ops.map((op) => get(op, r.job)),
});

const jobTimestamp = (
  name: string,
  title: string,
  doc: string,
  pick: (job: JobView) => number | undefined,
): Field => ({
  name,
  title,
  kind: 'other',
  doc: `${doc} (tuple containing seconds and microseconds)`,
  splitTimestamp: true,
  get: (r) => {
    const ms = pick(r.job);
    return ms === undefined ? UNAVAILABLE : splitTimestamp(ms);
  },
});

const opTimestamp = (ms: number | undefined) => (ms === undefined ? null : splitTimestamp(ms));

export const jobFields: readonly Field[] = [
  { name: 'id', title: 'ID', kind: 'number', doc: 'Job ID', get: (r) => r.job.id },
  { name: 'status', title: 'Status', kind: 'text', doc: 'Job status', get: (r) => r.job.status },
  {
    name: 'priority',
    title: 'Priority',
    kind: 'number',
    doc: 'Current job priority (19 to -20)',
    get: (r) => r.job.priority,
  },
  {
    name: 'archived',
    title: 'Archived',
    kind: 'bool',
    doc: 'Whether job is archived',
    // Archived jobs leave the job table; list --archived adds those the cluster still keeps.
    get: (r) => r.archived === true,
  },
  perOp('ops', 'OpCodes', 'List of all opcodes', (op) => op.input),
  perOp('opresult', 'OpCode_result', 'List of opcodes results', (op) => op.result ?? null),
  perOp('opstatus', 'OpCode_status', 'List of opcodes status', (op) => op.status),
  {
    name: 'oplog',
    title: 'OpCode_log',
    kind: 'other',
    doc: 'List of opcode output logs',
    get: (r) => opLogs(r.job),
  },
  // Corral records when each opcode got its locks and ran, not when it began waiting for them.
  perOp('opstart', 'OpCode_start', 'List of opcode start timestamps (before acquiring locks)', () => null),
  perOp('opexec', 'OpCode_exec', 'List of opcode execution start timestamps (after acquiring locks)', (op) =>
    opTimestamp(op.startMs),
  ),
  perOp('opend', 'OpCode_end', 'List of opcode execution end timestamps', (op) => opTimestamp(op.endMs)),
  perOp('oppriority', 'OpCode_prio', 'List of opcode priorities', (_op, job) => job.priority),
  perOp('summary', 'Summary', 'List of per-opcode summaries', (op) => opSummary(op.input)),
  jobTimestamp('received_ts', 'Received', 'Timestamp of when job was received', (job) => job.receivedMs),
  jobTimestamp('start_ts', 'Start', 'Timestamp of job start', (job) => job.startMs),
  jobTimestamp('end_ts', 'End', 'Timestamp of job end', (job) => job.endMs),
];
