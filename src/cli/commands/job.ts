import type { CommandModule } from 'yargs';
import { fieldDefinitions, jobRows, listArguments, neededData, runQuery } from '../../cluster/query/index.js';
import { type JobView, jobViewSchema } from '../../cluster/views.js';
import { type ConnectionArgs, connectionOptions, daemonCall, follow } from '../cluster-client.js';
import {
  chosenFields,
  type ListArgs,
  listOptions,
  localTime,
  printFields,
  printQuery,
  splitTime,
  type ValueFormat,
} from '../fields.js';

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

async function jobs(args: ConnectionArgs, ids?: number[]): Promise<JobView[]> {
  const response = await daemonCall(args)({ op: 'jobs', consistent: true, ...(ids && { ids }) });
  if (response.staleMs !== undefined)
    process.stderr.write(
      `warning: the cluster has no master; these records may be ${Math.round(response.staleMs / 1000)} s old\n`,
    );
  return response.jobs.map((job) => jobViewSchema.parse(job));
}

const statusFilters = {
  pending: ['queued', 'waiting'],
  running: ['running'],
  error: ['error'],
  finished: ['success', 'error', 'canceled'],
} as const;

const list: CommandModule<
  object,
  ConnectionArgs &
    ListArgs & { ids: string[]; pending: boolean; running: boolean; error: boolean; finished: boolean }
> = {
  command: 'list [ids..]',
  describe: 'list jobs (Ganeti fields; -o, -F filter, --no-headers, --separator, --json)',
  builder: (yargs) =>
    listOptions(connectionOptions(yargs))
      .positional('ids', { type: 'string', array: true, default: [] })
      .option('pending', { type: 'boolean', default: false })
      .option('running', { type: 'boolean', default: false })
      .option('error', { type: 'boolean', default: false })
      .option('finished', { type: 'boolean', default: false }),
  handler: async (args) => {
    const fields = chosenFields('job', ['id', 'status', 'summary'], args.output);
    const selection = listArguments(args.ids.map(String), args.filter, { nameField: 'id', numeric: true });
    const filter = 'filter' in selection ? selection.filter : undefined;
    // Checks the filter before the daemon is asked anything.
    neededData('job', fields, filter);
    const wanted = (Object.keys(statusFilters) as (keyof typeof statusFilters)[])
      .filter((key) => args[key])
      .flatMap((key) => statusFilters[key] as readonly string[]);
    const ids = 'names' in selection && selection.names.length > 0 ? selection.names.map(Number) : undefined;
    const all = await jobs(args, ids);
    const shown = wanted.length === 0 ? all : all.filter((job) => wanted.includes(job.status));
    printQuery(runQuery('job', fields, filter, jobRows(shown)), args, formats);
  },
};

const listFields: CommandModule<object, ConnectionArgs & { fields: string[] }> = {
  command: 'list-fields [fields..]',
  describe: 'the fields job list knows',
  builder: (yargs) =>
    connectionOptions(yargs).positional('fields', { type: 'string', array: true, default: [] }),
  handler: (args) => printFields(fieldDefinitions('job', args.fields)),
};

const info: CommandModule<object, ConnectionArgs & { ids: number[] }> = {
  command: ['info <ids..>', 'show'],
  describe: 'per-opcode details of jobs',
  builder: (yargs) =>
    connectionOptions(yargs).positional('ids', { type: 'number', array: true, demandOption: true }),
  handler: async (args) => {
    for (const job of await jobs(args, args.ids)) {
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
  },
};

const watch: CommandModule<object, ConnectionArgs & { id: number }> = {
  command: 'watch <id>',
  describe: "follow a job's log until it ends (across a master failover)",
  builder: (yargs) => connectionOptions(yargs).positional('id', { type: 'number', demandOption: true }),
  handler: async (args) => {
    await follow(daemonCall(args), args.id);
  },
};

const cancel: CommandModule<object, ConnectionArgs & { ids: number[] }> = {
  command: 'cancel <ids..>',
  describe: 'cancel queued or waiting jobs',
  builder: (yargs) =>
    connectionOptions(yargs).positional('ids', { type: 'number', array: true, demandOption: true }),
  handler: async (args) => {
    const call = daemonCall(args);
    for (const id of args.ids) {
      await call({ op: 'master', request: { op: 'cancel', job: id } });
      process.stdout.write(`Job ${id} canceled\n`);
    }
  },
};

export const jobCommand: CommandModule = {
  command: 'job <command>',
  builder: (yargs) => {
    for (const command of [list, listFields, info, watch, cancel]) yargs.command(command as CommandModule);
    return yargs.demandCommand(1);
  },
  handler: () => undefined,
};
