import type { CommandModule } from 'yargs';
import { opSummary } from '../../cluster/opcodes.js';
import { type JobView, jobViewSchema } from '../../cluster/views.js';
import { type ConnectionArgs, connectionOptions, daemonCall, follow } from '../cluster-client.js';
import { type Field, type ListArgs, listOptions, localTime, printList, selectFields } from '../fields.js';

const jobFields: Field<JobView>[] = [
  { name: 'id', title: 'ID', get: (j) => j.id },
  { name: 'status', title: 'Status', get: (j) => j.status },
  { name: 'summary', title: 'Summary', get: (j) => j.ops.map((op) => opSummary(op.input)) },
  { name: 'priority', title: 'Prio', get: (j) => j.priority },
  { name: 'opstatus', title: 'OpCode_status', get: (j) => j.ops.map((op) => op.status) },
  { name: 'received_ts', title: 'Received', get: (j) => localTime(j.receivedMs) },
  {
    name: 'start_ts',
    title: 'Start',
    get: (j) => (j.startMs === undefined ? undefined : localTime(j.startMs)),
  },
  { name: 'end_ts', title: 'End', get: (j) => (j.endMs === undefined ? undefined : localTime(j.endMs)) },
];

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
    ListArgs & { ids: number[]; pending: boolean; running: boolean; error: boolean; finished: boolean }
> = {
  command: 'list [ids..]',
  describe: 'list jobs',
  builder: (yargs) =>
    listOptions(connectionOptions(yargs))
      .positional('ids', { type: 'number', array: true, default: [] })
      .option('pending', { type: 'boolean', default: false })
      .option('running', { type: 'boolean', default: false })
      .option('error', { type: 'boolean', default: false })
      .option('finished', { type: 'boolean', default: false }),
  handler: async (args) => {
    const wanted = (Object.keys(statusFilters) as (keyof typeof statusFilters)[])
      .filter((key) => args[key])
      .flatMap((key) => statusFilters[key] as readonly string[]);
    const all = await jobs(args, args.ids.length > 0 ? args.ids : undefined);
    const shown = wanted.length === 0 ? all : all.filter((job) => wanted.includes(job.status));
    printList(selectFields(jobFields, ['id', 'status', 'summary'], args.output), shown, args);
  },
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
    for (const command of [list, info, watch, cancel]) yargs.command(command as CommandModule);
    return yargs.demandCommand(1);
  },
  handler: () => undefined,
};
