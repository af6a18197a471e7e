import type { Argv, CommandModule } from 'yargs';
import { type JobView, jobViewSchema } from '../../cluster/job-views.js';
import { type JobStatus, MAX_ARCHIVED_JOBS } from '../../cluster/jobs.js';
import { opSummary } from '../../cluster/opcodes.js';
import { jobRows, listArguments, neededData, runQuery } from '../../cluster/query/index.js';
import { CorralError } from '../../common/errors.js';
import { type DaemonCall, jobFailure, priorities, watchJob } from '../../daemon/job-client.js';
import {
  type ConnectionArgs,
  connectionOptions,
  daemonCall,
  follow,
  forceOption,
  yesDoItOption,
} from '../cluster-client.js';
import { confirm } from '../confirm.js';
import {
  chosenFields,
  type ListArgs,
  listFieldsCommand,
  listOptions,
  printQuery,
  splitTime,
  type ValueFormat,
} from '../fields.js';
import { localTime } from '../local-time.js';
import { renderTable } from '../table.js';

/** Ganeti's gnt-job prints its [seconds, microseconds] timestamps as local times. */
const opTimes: ValueFormat = (value) =>
  Array.isArray(value) ? value.map((time) => (time === null ? '' : splitTime(time))).join(',') : '-';
const formats: Record<string, ValueFormat> = {
  received_ts: splitTime,
  start_ts: splitTime,
  end_ts: splitTime,
  opstart: opTimes,
  opexec: opTimes,
  opend: opTimes,
};

interface Jobs {
  readonly jobs: JobView[];
  /** The archived jobs the cluster still keeps; empty unless asked for. */
  readonly archived: JobView[];
}

async function readJobs(args: ConnectionArgs, ids?: readonly number[], archived = false): Promise<Jobs> {
  const response = await daemonCall(args)({
    op: 'jobs',
    consistent: true,
    ...(ids && { ids: [...ids] }),
    ...(archived && { archived }),
  });
  if (response.staleMs !== undefined)
    process.stderr.write(
      `warning: the cluster has no master; these records may be ${Math.round(response.staleMs / 1000)} s old\n`,
    );
  return {
    jobs: response.jobs.map((job) => jobViewSchema.parse(job)),
    archived: (response.archived ?? []).map((job) => jobViewSchema.parse(job)),
  };
}

/** Job IDs as Ganeti takes them: whole numbers; anything else is refused before the cluster is asked. */
export function jobIds(words: readonly (string | number)[]): number[] {
  return words.map((word) => {
    const text = String(word);
    if (!/^[1-9]\d{0,15}$/.test(text))
      throw new CorralError(
        'bad_request',
        `invalid job ID ${text}: a job ID is a whole number, as job list shows`,
      );
    return Number(text);
  });
}

/** Ganeti's time specification: a whole number with s, m, h, d or w (seconds when bare), in seconds. */
export function parseTimespecS(text: string): number {
  const match = /^(\d+)([smhdw])?$/.exec(text.trim());
  if (match === null)
    throw new CorralError(
      'bad_request',
      `invalid age ${text}: write all, or a number with s, m, h, d or w (e.g. 1d)`,
    );
  const unitS = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }[match[2] ?? 's'] as number;
  return Number(match[1]) * unitS;
}

/** Ganeti's status selections (a job list, cancel, change-priority). */
const statusFilters = {
  pending: ['queued', 'waiting'],
  queued: ['queued'],
  waiting: ['waiting'],
  running: ['running'],
  error: ['error'],
  finished: ['success', 'error', 'canceled'],
} as const satisfies Record<string, readonly JobStatus[]>;
type StatusFilter = keyof typeof statusFilters;

function wantedStatuses(args: Partial<Record<StatusFilter, boolean>>): JobStatus[] | undefined {
  const chosen = (Object.keys(statusFilters) as StatusFilter[]).filter((key) => args[key] === true);
  return chosen.length === 0 ? undefined : chosen.flatMap((key) => statusFilters[key]);
}

type ListJobArgs = ConnectionArgs &
  ListArgs &
  Record<'pending' | 'running' | 'error' | 'finished' | 'archived', boolean> & { ids: string[] };

const list: CommandModule<object, ListJobArgs> = {
  command: 'list [ids..]',
  describe: 'list jobs (Ganeti fields; -o, -F filter, --no-headers, --separator, -v, --json)',
  builder: (yargs) =>
    listOptions(connectionOptions(yargs))
      .positional('ids', { type: 'string', array: true, default: [] })
      .option('pending', { type: 'boolean', default: false, describe: 'queued or waiting jobs only' })
      .option('running', { type: 'boolean', default: false, describe: 'running jobs only' })
      .option('error', { type: 'boolean', default: false, describe: 'failed jobs only' })
      .option('finished', { type: 'boolean', default: false, describe: 'finished jobs only' })
      .option('archived', {
        type: 'boolean',
        default: false,
        describe: `also the archived jobs the cluster still keeps (the newest ${MAX_ARCHIVED_JOBS}; older ones are gone)`,
      }),
  handler: async (args) => {
    const fields = chosenFields('job', ['id', 'status', 'summary'], args.output);
    if (args.archived && !fields.includes('archived')) fields.push('archived');
    const selection = listArguments(args.ids.map(String), args.filter, { nameField: 'id', numeric: true });
    const filter = 'filter' in selection ? selection.filter : undefined;
    // Checks the filter before the daemon is asked anything.
    neededData('job', fields, filter);
    const wanted = wantedStatuses(args);
    const ids = 'names' in selection && selection.names.length > 0 ? jobIds(selection.names) : undefined;
    const found = await readJobs(args, ids, args.archived);
    const shown = (jobs: JobView[]) =>
      wanted === undefined ? jobs : jobs.filter((job) => wanted.includes(job.status));
    printQuery(
      runQuery('job', fields, filter, jobRows(shown(found.jobs), shown(found.archived))),
      args,
      formats,
    );
  },
};

const info: CommandModule<object, ConnectionArgs & { ids: string[] }> = {
  command: ['info <ids..>', 'show'],
  describe: 'per-opcode details of jobs (archived ones too, while the cluster keeps them)',
  builder: (yargs) =>
    connectionOptions(yargs).positional('ids', { type: 'string', array: true, demandOption: true }),
  handler: async (args) => {
    const ids = jobIds(args.ids);
    const found = await readJobs(args, ids, true);
    const byId = new Map([...found.jobs, ...found.archived].map((job) => [job.id, job]));
    for (const id of ids) {
      const job = byId.get(id);
      if (job === undefined) continue;
      const lines = [
        `Job ID: ${job.id}`,
        `  Status: ${job.status}`,
        `  Received: ${localTime(job.receivedMs)}`,
        `  Processing start: ${job.startMs === undefined ? 'unknown (not started)' : localTime(job.startMs)}`,
        `  Processing end: ${job.endMs === undefined ? 'unknown (not finished)' : localTime(job.endMs)}`,
        '  Opcodes:',
      ];
      for (const op of job.ops) {
        lines.push(`    - ${op.input.OP_ID}`, `      Status: ${op.status}`, `      Input fields:`);
        for (const [key, value] of Object.entries(op.input))
          if (key !== 'OP_ID') lines.push(`        ${key}: ${JSON.stringify(value)}`);
        lines.push(`      Result: ${JSON.stringify(op.result ?? null)}`);
      }
      lines.push('  Execution log:');
      for (const entry of job.log) lines.push(`    ${localTime(entry.tsMs)} ${entry.type} ${entry.message}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    const missing = ids.filter((id) => !byId.has(id));
    if (missing.length > 0)
      throw new CorralError(
        'not_found',
        `job ${missing.join(', ')} ${missing.length === 1 ? 'does' : 'do'} not exist (or ${missing.length === 1 ? 'was' : 'were'} archived and no longer kept)`,
      );
  },
};

const watch: CommandModule<object, ConnectionArgs & { id: string }> = {
  command: 'watch <id>',
  describe: "follow a job's log until it ends (across a master failover)",
  builder: (yargs) => connectionOptions(yargs).positional('id', { type: 'string', demandOption: true }),
  handler: async (args) => {
    const [id] = jobIds([args.id]);
    await follow(daemonCall(args), id!);
  },
};

const wait: CommandModule<object, ConnectionArgs & { id: string }> = {
  command: 'wait <id>',
  describe: 'wait for a job to end, printing nothing; fails as the job failed',
  builder: (yargs) => connectionOptions(yargs).positional('id', { type: 'string', demandOption: true }),
  handler: async (args) => {
    const [id] = jobIds([args.id]);
    const view = await watchJob(daemonCall(args), id!);
    const failure = jobFailure(view);
    if (failure === undefined) return;
    throw new CorralError(
      failure.code,
      view.status === 'canceled' ? failure.message : `job ${id} failed: ${failure.message}`,
    );
  },
};

type SelectArgs = ConnectionArgs &
  Record<'pending' | 'queued' | 'waiting' | 'force', boolean> & { ids: string[] };

const selectOptions = <T>(yargs: Argv<T>) =>
  forceOption(
    connectionOptions(yargs)
      .positional('ids', { type: 'string', array: true, default: [] })
      .option('pending', { type: 'boolean', default: false, describe: 'every queued or waiting job' })
      .option('queued', { type: 'boolean', default: false, describe: 'every queued job' })
      .option('waiting', { type: 'boolean', default: false, describe: 'every job waiting for its locks' }),
    'do not ask before acting on the jobs a status option selected',
  );

/**
 * Ganeti's _MultiJobAction: the jobs named, or those a status option selects (never both). Selected ones are
 * listed and confirmed first unless -f; named ones are acted on as given. Each job's outcome prints on its
 * own; the command fails at the end, naming the jobs it could not act on.
 */
async function eachJob(
  args: SelectArgs,
  question: string,
  act: (call: DaemonCall, job: JobView | number) => Promise<string>,
): Promise<void> {
  const statuses = wantedStatuses(args);
  if (args.ids.length > 0 === (statuses !== undefined))
    throw new CorralError(
      'bad_request',
      'name the jobs or select them with --pending, --queued or --waiting, never both',
    );
  const call = daemonCall(args);
  let targets: (JobView | number)[];
  if (statuses !== undefined) {
    const selected = (await readJobs(args)).jobs.filter((job) => statuses.includes(job.status));
    if (selected.length === 0)
      throw new CorralError('not_found', 'no jobs with the requested status have been found');
    if (!args.force) {
      const rows = selected.map((job) => [String(job.id), job.status, summaryOf(job)]);
      process.stdout.write(`${renderTable(['ID', 'Status', 'Summary'], rows)}\n`);
      await confirm(question, 'give -f to act on the jobs listed without being asked');
    }
    targets = selected;
  } else {
    const ids = jobIds(args.ids);
    const known = new Map((await readJobs(args, ids)).jobs.map((job) => [job.id, job]));
    targets = ids.map((id) => known.get(id) ?? id);
  }
  const failures: string[] = [];
  let code: CorralError['code'] = 'conflict';
  for (const target of targets) {
    try {
      process.stdout.write(`${await act(call, target)}\n`);
    } catch (error) {
      const failure = error instanceof CorralError ? error : new CorralError('internal', String(error));
      code = failure.code;
      failures.push(failure.message);
    }
  }
  if (failures.length > 0) throw new CorralError(code, failures.join('; '));
}

const summaryOf = (job: JobView): string => job.ops.map((op) => opSummary(op.input)).join(',');

const idOf = (target: JobView | number): number => (typeof target === 'number' ? target : target.id);

const cancel: CommandModule<object, SelectArgs & { kill: boolean; 'yes-do-it': boolean }> = {
  command: 'cancel [ids..]',
  describe: 'cancel queued or waiting jobs (--kill --yes-do-it: running ones too)',
  builder: (yargs) =>
    yesDoItOption(
      selectOptions(yargs).option('kill', {
        type: 'boolean',
        default: false,
        describe:
          'also stop running jobs: the opcode stops at its next wait, keeps what it did, and work already sent to nodes may finish there',
      }),
      'confirm --kill',
    ),
  handler: async (args) => {
    if (args.kill && !args['yes-do-it'])
      throw new CorralError('bad_request', 'the --kill option must be confirmed with --yes-do-it');
    await eachJob(args, `${args.kill ? 'Kill' : 'Cancel'} the job(s) listed above?`, async (call, target) => {
      const id = idOf(target);
      await call({ op: 'master', request: { op: 'cancel', job: id, ...(args.kill && { kill: true }) } });
      // A killed job ends in error; an interrupted delay, like a job that had not started, is canceled.
      const [after] = (await readJobs(args, [id])).jobs;
      return `Job ${id} ${after?.status === 'error' ? 'killed' : 'canceled'}`;
    });
  },
};

const changePriority: CommandModule<object, SelectArgs & { priority?: keyof typeof priorities }> = {
  command: 'change-priority [ids..]',
  describe: 'give queued or waiting jobs another priority',
  builder: (yargs) =>
    selectOptions(yargs).option('priority', {
      choices: ['low', 'normal', 'high'] as const,
      describe: 'the new priority',
    }),
  handler: async (args) => {
    const name = args.priority;
    if (name === undefined)
      throw new CorralError('bad_request', 'say the new priority with --priority low, normal or high');
    await eachJob(args, 'Change the priority of the job(s) listed above?', async (call, target) => {
      const id = idOf(target);
      await call({ op: 'master', request: { op: 'change-priority', job: id, priority: priorities[name] } });
      return `Job ${id}: priority changed to ${name}`;
    });
  },
};

const archive: CommandModule<object, ConnectionArgs & { ids: string[] }> = {
  command: 'archive <ids..>',
  describe: `move finished jobs out of the job table (the cluster keeps the newest ${MAX_ARCHIVED_JOBS} archived)`,
  builder: (yargs) =>
    connectionOptions(yargs).positional('ids', { type: 'string', array: true, demandOption: true }),
  handler: async (args) => {
    const call = daemonCall(args);
    const failures: string[] = [];
    for (const id of jobIds(args.ids)) {
      try {
        await call({ op: 'master', request: { op: 'archive', job: id } });
      } catch (error) {
        failures.push(error instanceof Error ? error.message : String(error));
      }
    }
    if (failures.length > 0) throw new CorralError('conflict', failures.join('; '));
  },
};

const autoarchive: CommandModule<object, ConnectionArgs & { age: string }> = {
  command: 'autoarchive <age>',
  describe: 'archive the jobs that ended longer ago than AGE (e.g. 1d, 4w), or all finished jobs',
  builder: (yargs) => connectionOptions(yargs).positional('age', { type: 'string', demandOption: true }),
  handler: async (args) => {
    const ageS = args.age === 'all' ? undefined : parseTimespecS(args.age);
    const response = await daemonCall(args)({
      op: 'master',
      request: { op: 'autoarchive', ...(ageS !== undefined && { ageS }) },
    });
    if (!('archived' in response))
      throw new CorralError('internal', 'the master did not say how many it archived');
    process.stdout.write(`Archived ${response.archived} jobs, ${response.left} unchecked left\n`);
  },
};

export const jobCommand: CommandModule = {
  command: 'job <command>',
  builder: (yargs) => {
    for (const command of [
      list,
      listFieldsCommand('job', 'job'),
      info,
      watch,
      wait,
      cancel,
      changePriority,
      archive,
      autoarchive,
    ])
      yargs.command(command as CommandModule);
    return yargs.demandCommand(1);
  },
  handler: () => undefined,
};
