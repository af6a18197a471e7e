import { readFileSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { type DiskTemplate, diskTemplates } from '../../cluster/disk-templates.js';
import { resolveRelativeDepends } from '../../cluster/job-dependencies.js';
import { MAX_OPS_PER_JOB } from '../../cluster/jobs.js';
import { asJobId } from '../../cluster/model.js';
import { type Opcode, opcodeSchema } from '../../cluster/opcodes.js';
import { CorralError } from '../../common/errors.js';
import { callDaemon, controlSocketPath } from '../../daemon/control-client.js';
import { priorities, submitJob } from '../../daemon/job-client.js';
import {
  type ConnectionArgs,
  connectionOptions,
  daemonCall,
  follow,
  type JobArgs,
  jobOps,
  jobOptions,
  runOps,
} from '../cluster-client.js';
import { parseSizeMiB } from '../ganeti-options.js';
import { testJobQueue } from '../jobqueue-test.js';
import { renderTable } from '../table.js';
import { jobIds } from './job.js';

interface SocketArgs {
  socket?: string;
  'data-dir'?: string;
}

const socketOptions = <T>(yargs: Argv<T>) =>
  yargs
    .option('socket', { type: 'string', describe: 'control socket path' })
    .option('data-dir', { type: 'string' });

const print = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value)}\n`);
};

const echo: CommandModule<
  object,
  SocketArgs & { node: string; count: number; concurrency: number; size: number }
> = {
  command: 'echo <node>',
  describe: 'time request/response round trips from this daemon to another node',
  builder: (yargs) =>
    socketOptions(yargs)
      .positional('node', { type: 'string', demandOption: true })
      .option('count', { type: 'number', default: 1000 })
      .option('concurrency', { type: 'number', default: 1 })
      .option('size', { type: 'number', default: 1024, describe: 'payload bytes' }),
  handler: async (args) =>
    print(
      await callDaemon(controlSocketPath({ socket: args.socket, dataDir: args['data-dir'] }), {
        op: 'debug-echo',
        peer: args.node,
        count: args.count,
        concurrency: args.concurrency,
        sizeBytes: args.size,
      }),
    ),
};

const probe: CommandModule<object, SocketArgs & { count: number; interval: number }> = {
  command: 'probe',
  describe: 'publish timestamped probe messages on gossip',
  builder: (yargs) =>
    socketOptions(yargs)
      .option('count', { type: 'number', default: 10 })
      .option('interval', { type: 'number', default: 100, describe: 'milliseconds between probes' }),
  handler: async (args) =>
    print(
      await callDaemon(controlSocketPath({ socket: args.socket, dataDir: args['data-dir'] }), {
        op: 'debug-probe',
        count: args.count,
        intervalMs: args.interval,
      }),
    ),
};

const probeStats: CommandModule<object, SocketArgs> = {
  command: 'probe-stats',
  describe: 'delivery delays of the probes this daemon received since the last call',
  builder: socketOptions,
  handler: async (args) =>
    print(
      await callDaemon(controlSocketPath({ socket: args.socket, dataDir: args['data-dir'] }), {
        op: 'debug-probe-stats',
      }),
    ),
};

const delay: CommandModule<
  object,
  JobArgs & {
    duration: number;
    'on-nodes'?: string | string[];
    repeat: number;
    master: boolean;
    interruptible: boolean;
    locks: boolean;
    l: boolean;
  }
> = {
  command: 'delay <duration>',
  describe: 'submit a test opcode that holds its locks for that many seconds (gnt-debug delay)',
  builder: (yargs) =>
    jobOptions(yargs)
      .positional('duration', { type: 'number', demandOption: true })
      // Ganeti's -n is given once per node: an array option would take the duration as a node too.
      .option('on-nodes', {
        alias: 'n',
        type: 'string',
        describe: "also hold this node's lock (once per node); each must answer after every sleep",
      })
      .option('master', {
        type: 'boolean',
        default: true,
        describe: '--no-master: do not sleep in the master (with no -n, sleep nowhere)',
      })
      .option('repeat', { alias: 'r', type: 'number', default: 0, describe: 'sleep this many times' })
      .option('interruptible', {
        alias: 'i',
        type: 'boolean',
        default: false,
        describe: 'job cancel stops the delay while it sleeps',
      })
      .option('locks', { type: 'boolean', default: true, describe: '--no-locks (-l): take no lock at all' })
      .option('l', { type: 'boolean', default: false, describe: 'the same as --no-locks' }),
  handler: async (args) => {
    if (!Number.isFinite(args.duration) || args.duration < 0)
      throw new CorralError('bad_request', `the duration is a number of seconds, not ${args.duration}`);
    if (!Number.isInteger(args.repeat) || args.repeat < 0)
      throw new CorralError('bad_request', `--repeat takes a whole number of times, not ${args.repeat}`);
    await runOps(args, [
      {
        OP_ID: 'OP_TEST_DELAY',
        duration: args.duration,
        ...(args['on-nodes'] !== undefined && { on_nodes: [args['on-nodes']].flat() }),
        ...(args.repeat > 0 && { repeat: args.repeat }),
        ...(!args.master && { on_master: false }),
        ...(args.interruptible && { interruptible: true }),
        ...((!args.locks || args.l) && { no_locks: true }),
      },
    ]);
  },
};

const ialModes = [
  'relocate',
  'allocate',
  'multi-allocate',
  'allocate-secondary',
  'change-group',
  'node-evacuate',
] as const;

interface IAllocatorArgs extends ConnectionArgs {
  names: string[];
  dir: 'in' | 'out';
  iallocator?: string;
  mode: (typeof ialModes)[number];
  memory: string;
  disks: string;
  'disk-template'?: DiskTemplate;
  nics: string;
  'os-type'?: string;
  vcpus: number;
  tags?: string;
  'evac-mode': 'all' | 'primary-only' | 'secondary-only';
  'target-groups'?: string | string[];
  'spindle-use': number;
  count: number;
  'dry-run': boolean;
  priority: keyof typeof priorities;
}

/** Ganeti's --nics: mac/ip/bridge per NIC, comma separated; a missing or empty part is None. */
export function parseTestNics(
  text: string,
): { mac: string | null; ip: string | null; bridge: string | null }[] {
  if (text.trim() === '') return [];
  return text.split(',').map((nic) => {
    const parts = nic.split('/');
    if (parts.length > 3) throw new CorralError('bad_request', `--nics: ${nic} has more than mac/ip/bridge`);
    const part = (i: number) => (parts[i] === undefined || parts[i] === '' ? null : parts[i]!);
    return { mac: part(0), ip: part(1), bridge: part(2) };
  });
}

const whole = (value: number, option: string, min: number): number => {
  if (!Number.isInteger(value) || value < min)
    throw new CorralError('bad_request', `${option} takes a whole number of at least ${min}, not ${value}`);
  return value;
};

const iallocator: CommandModule<object, IAllocatorArgs> = {
  command: ['iallocator <names..>', 'allocator'],
  describe:
    'run the allocator on a request made from these options; print the request (in) or its answer (out)',
  builder: (yargs) =>
    connectionOptions(yargs)
      .positional('names', { type: 'string', array: true, demandOption: true, describe: 'the instance(s)' })
      .option('dir', {
        choices: ['in', 'out'] as const,
        default: 'in' as const,
        describe: 'the request or the answer',
      })
      .option('iallocator', {
        alias: 'I',
        type: 'string',
        describe: 'who answers with --dir out: . for the built-in one, or a program',
      })
      .option('mode', { alias: 'm', choices: ialModes, default: 'relocate' as const })
      .option('memory', { type: 'string', default: '128', describe: 'the new instance memory (512, 1G)' })
      .option('disks', { type: 'string', default: '4096,4096', describe: 'comma separated disk sizes' })
      .option('disk-template', { alias: 't', choices: diskTemplates })
      .option('nics', {
        type: 'string',
        default: '00:11:22:33:44:55',
        describe: 'mac/ip/bridge per NIC, comma separated',
      })
      .option('os-type', { alias: 'o', type: 'string' })
      .option('vcpus', { alias: 'p', type: 'number', default: 1 })
      .option('tags', { type: 'string', describe: 'comma separated tags' })
      .option('evac-mode', {
        choices: ['all', 'primary-only', 'secondary-only'] as const,
        default: 'all' as const,
      })
      .option('target-groups', {
        type: 'string',
        describe: 'a node group to move to (change-group; once per group)',
      })
      .option('spindle-use', { type: 'number', default: 1 })
      .option('count', { type: 'number', default: 2, describe: 'how many instances multi-allocate asks for' })
      .option('dry-run', { type: 'boolean', default: false })
      .option('priority', { choices: ['low', 'normal', 'high'] as const, default: 'normal' as const }),
  handler: async (args) => {
    const [name, ...more] = args.names;
    const op: Opcode = {
      OP_ID: 'OP_TEST_ALLOCATOR',
      direction: args.dir,
      mode: args.mode,
      name: name!,
      instances: [name!, ...more],
      memory: parseSizeMiB(args.memory, '--memory'),
      disks:
        args.disks.trim() === ''
          ? []
          : args.disks
              .split(',')
              .map((size) => ({ size: parseSizeMiB(size, '--disks'), mode: 'rw' as const })),
      nics: parseTestNics(args.nics),
      vcpus: whole(args.vcpus, '--vcpus', 1),
      spindle_use: whole(args['spindle-use'], '--spindle-use', 0),
      count: whole(args.count, '--count', 1),
      evac_mode: args['evac-mode'],
      tags: args.tags === undefined || args.tags === '' ? [] : args.tags.split(','),
      target_groups: [args['target-groups'] ?? []].flat(),
      ...(args['disk-template'] !== undefined && { disk_template: args['disk-template'] }),
      ...(args['os-type'] !== undefined && { os: args['os-type'] }),
      ...(args.iallocator !== undefined && { iallocator: args.iallocator }),
    };
    const results = await runOps({ ...args, submit: false, 'print-jobid': false }, [op]);
    if (results !== undefined) process.stdout.write(`${String(results[0])}\n`);
  },
};

/** The fields of gnt-debug locks, as Ganeti names them. */
const lockFields = {
  name: { title: 'Name', value: (lock: LockRow) => lock.lock },
  mode: {
    title: 'Mode',
    value: (lock: LockRow) => [...new Set(lock.owners.map((owner) => owner.mode))].join(',') || '-',
  },
  owner: {
    title: 'Owner',
    value: (lock: LockRow) => lock.owners.map((owner) => ownerName(owner.owner)).join(',') || '-',
  },
  pending: { title: 'Pending', value: (lock: LockRow) => pendingText(lock.pending) || '-' },
} as const;
type LockField = keyof typeof lockFields;
const defaultLockFields: readonly LockField[] = ['name', 'mode', 'owner', 'pending'];

interface LockRow {
  readonly lock: string;
  readonly owners: readonly { readonly owner: number; readonly mode: string }[];
  readonly pending: readonly { readonly owner: number; readonly mode: string }[];
}

const ownerName = (job: number): string => `job/${job}`;

/** Ganeti's pending column: waiters in line, runs of one mode together, as `mode:owner,owner`. */
function pendingText(pending: LockRow['pending']): string {
  const runs: { mode: string; owners: string[] }[] = [];
  for (const waiter of pending) {
    const last = runs.at(-1);
    if (last?.mode === waiter.mode) last.owners.push(ownerName(waiter.owner));
    else runs.push({ mode: waiter.mode, owners: [ownerName(waiter.owner)] });
  }
  return runs.map((run) => `${run.mode}:${run.owners.join(',')}`).join(', ');
}

/** Ganeti's -o: the fields named, or `+f` to add to the default ones. */
export function chosenLockFields(output: string | undefined): LockField[] {
  const names =
    output === undefined
      ? [...defaultLockFields]
      : output.startsWith('+')
        ? [...defaultLockFields, ...output.slice(1).split(',')]
        : output.split(',');
  for (const name of names)
    if (!(name in lockFields))
      throw new CorralError(
        'bad_request',
        `unknown lock field ${name}; known: ${Object.keys(lockFields).join(', ')}`,
      );
  return names as LockField[];
}

const locks: CommandModule<
  object,
  ConnectionArgs & {
    output?: string;
    headers: boolean;
    separator?: string;
    interval?: number;
    verbose: boolean;
  }
> = {
  command: 'locks',
  describe: "the master's locks: who holds each and who waits for it (only locks held or awaited exist)",
  builder: (yargs) =>
    connectionOptions(yargs)
      .option('output', { alias: 'o', type: 'string', describe: 'fields: name, mode, owner, pending' })
      .option('headers', {
        type: 'boolean',
        default: true,
        describe: '--no-headers: leave out the header line',
      })
      .option('separator', { type: 'string', describe: 'join fields with this instead of aligning them' })
      .option('interval', {
        type: 'number',
        describe: 'show them again every this many seconds, until interrupted',
      })
      .option('verbose', {
        alias: 'v',
        type: 'boolean',
        default: false,
        describe: 'accepted: every lock field is always known',
      }),
  handler: async (args) => {
    const fields = chosenLockFields(args.output);
    if (args.interval !== undefined && !(args.interval > 0))
      throw new CorralError(
        'bad_request',
        `--interval takes a number of seconds above 0, not ${args.interval}`,
      );
    const call = daemonCall(args);
    for (;;) {
      const response = await call({ op: 'master', request: { op: 'locks' } });
      if (!('locks' in response))
        throw new CorralError('internal', 'the master did not answer with its locks');
      const table = renderTable(
        fields.map((field) => lockFields[field].title),
        response.locks.map((lock) => fields.map((field) => lockFields[field].value(lock))),
        { noHeaders: !args.headers, separator: args.separator },
      );
      if (table.length > 0) process.stdout.write(`${table}\n`);
      if (args.interval === undefined) return;
      process.stdout.write('\n');
      await new Promise((resolve) => setTimeout(resolve, args.interval! * 1000));
    }
  },
};

interface SubmitJobArgs extends ConnectionArgs {
  files: string[];
  verbose: boolean;
  'op-repeat': number;
  'job-repeat': number;
  'timing-stats': boolean;
  each: boolean;
  'dry-run': boolean;
  priority?: keyof typeof priorities;
}

/** One job read from a file: its opcodes, and the priority its opcodes ask for (Ganeti's are per opcode). */
export interface JobFile {
  readonly ops: Opcode[];
  readonly priority: number | undefined;
}

/**
 * Ganeti's job file: a JSON list of opcodes, each an object with its OP_ID and fields. Ganeti's own fields
 * (priority, depends, debug_level, comment) are taken or ignored as Ganeti does.
 */
export function parseJobFile(text: string, file: string): JobFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CorralError('bad_request', `${file}: not valid JSON (${(error as Error).message})`);
  }
  if (!Array.isArray(json) || json.length === 0)
    throw new CorralError(
      'bad_request',
      `${file}: a job file is a JSON list of opcodes, such as [{"OP_ID": "OP_TEST_DELAY", "duration": 1}]`,
    );
  const priorities: number[] = [];
  const ops = json.map((raw: unknown, i) => {
    const where = `${file}: opcode ${i + 1}`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw new CorralError('bad_request', `${where} is not an object with an OP_ID`);
    const { priority, ...fields } = raw as Record<string, unknown>;
    if (priority !== undefined) {
      if (typeof priority !== 'number' || !Number.isInteger(priority) || priority < -20 || priority > 19)
        throw new CorralError('bad_request', `${where}: priority is a whole number from -20 to 19`);
      priorities.push(priority);
    }
    const parsed = opcodeSchema.safeParse(fields);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const path = issue?.path.join('.');
      throw new CorralError(
        'bad_request',
        `${where} (${String(fields.OP_ID)}): ${path ? `${path}: ` : ''}${issue?.message ?? 'invalid'}`,
      );
    }
    return parsed.data;
  });
  return { ops, priority: priorities.length === 0 ? undefined : Math.min(...priorities) };
}

function readJobFile(file: string): JobFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CorralError(
      'not_found',
      `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  return parseJobFile(text, file);
}

const submitJobCommand: CommandModule<object, SubmitJobArgs> = {
  command: 'submit-job <files..>',
  describe: "submit each file as a job: Ganeti's JSON list of opcodes",
  builder: (yargs) =>
    connectionOptions(yargs)
      .positional('files', { type: 'string', array: true, demandOption: true })
      .option('verbose', {
        alias: 'v',
        type: 'boolean',
        default: false,
        describe: 'say which jobs were submitted',
      })
      .option('op-repeat', {
        type: 'number',
        default: 1,
        describe: 'repeat the opcodes of each job this many times',
      })
      .option('job-repeat', { type: 'number', default: 1, describe: 'submit each job this many times' })
      .option('timing-stats', { type: 'boolean', default: false, describe: 'show counts and timings' })
      .option('each', {
        type: 'boolean',
        default: false,
        describe:
          'submit every job on its own: a relative dependency (-1: the job before) then has no batch to count in',
      })
      .option('dry-run', { type: 'boolean', default: false })
      .option('priority', {
        choices: ['low', 'normal', 'high'] as const,
        describe: 'for every job (else as its opcodes ask)',
      }),
  handler: async (args) => {
    const opRepeat = whole(args['op-repeat'], '--op-repeat', 1);
    const jobRepeat = whole(args['job-repeat'], '--job-repeat', 1);
    const say = (line: string) => process.stdout.write(`${line}\n`);
    if (args['timing-stats']) say('Loading...');
    // Every file is read and checked before any job is submitted.
    const jobs: { name: string; ops: Opcode[]; priority: number }[] = [];
    for (let round = 0; round < jobRepeat; round++) {
      for (const file of args.files) {
        const loaded = readJobFile(file);
        const ops = Array.from({ length: opRepeat }, () => loaded.ops).flat();
        if (ops.length > MAX_OPS_PER_JOB)
          throw new CorralError(
            'bad_request',
            `${file}: ${ops.length} opcodes in one job; at most ${MAX_OPS_PER_JOB}`,
          );
        const priority =
          args.priority !== undefined ? priorities[args.priority] : (loaded.priority ?? priorities.normal);
        jobs.push({ name: `file ${file}/${round}`, ops: jobOps(args, ops), priority });
      }
    }
    const call = daemonCall(args);
    const t1 = performance.now();
    if (args['timing-stats']) say('Submitting...');
    const submitted: { name: string; job: number }[] = [];
    // As one batch (Ganeti's SubmitManyJobs), a relative dependency counts back among the jobs before it.
    for (const job of jobs) {
      const earlier = args.each ? [] : submitted.map((entry) => asJobId(entry.job));
      const ops = resolveRelativeDepends(job.ops, earlier);
      submitted.push({ name: job.name, job: await submitJob(call, ops, job.priority) });
    }
    const t2 = performance.now();
    if (args['timing-stats']) say('Executing...');
    if (args.verbose) say(`Submitted jobs ${submitted.map(({ job }) => job).join(', ')}`);
    const failures: string[] = [];
    for (const { name, job } of submitted) {
      say(`Waiting for job ${job} for ${name} ...`);
      try {
        await follow(call, job);
      } catch (error) {
        failures.push(`job ${job} for ${name} has failed: ${(error as Error).message}`);
      }
    }
    const t3 = performance.now();
    if (args['timing-stats']) {
      const seconds = (ms: number) => (ms / 1000).toFixed(4).padStart(9);
      say(`C:op     ${String(jobs.reduce((sum, job) => sum + job.ops.length, 0)).padStart(4)}`);
      say(`C:job    ${String(jobs.length).padStart(4)}`);
      say(`T:submit ${seconds(t2 - t1)}`);
      say(`T:exec   ${seconds(t3 - t2)}`);
      say(`T:total  ${seconds(t3 - t1)}`);
    }
    if (failures.length > 0)
      throw new CorralError(
        'conflict',
        `${failures.length} of ${jobs.length} jobs failed: ${failures.join('; ')}`,
      );
  },
};

const testJobqueue: CommandModule<object, ConnectionArgs & { priority: keyof typeof priorities }> = {
  command: 'test-jobqueue',
  describe: "Ganeti's self-test of the job queue: refused submissions, and test jobs' logs and states",
  builder: (yargs) =>
    connectionOptions(yargs).option('priority', {
      choices: ['low', 'normal', 'high'] as const,
      default: 'normal' as const,
      describe: 'the test jobs run at this priority',
    }),
  handler: async (args) => {
    await testJobQueue(daemonCall(args), priorities[args.priority], (line) =>
      process.stdout.write(`${line}\n`),
    );
  },
};

/**
 * Ganeti's wconfd, the daemon that holds its configuration and locks: in Corral the master holds both (the
 * configuration replicated through Raft, the locks in its job queue), so the commands ask the master.
 */
const wconfd: CommandModule<object, ConnectionArgs & { words: string[] }> = {
  command: 'wconfd <words..>',
  describe:
    'ask the master what Ganeti asks wconfd: echo WORD, listlocks JOB, listalllocks, listalllocksowners, cleanuplocks',
  builder: (yargs) =>
    connectionOptions(yargs).positional('words', { type: 'string', array: true, demandOption: true }),
  handler: async (args) => {
    const [command, ...rest] = args.words;
    const call = daemonCall(args);
    const takes = (count: number, what: string) => {
      if (rest.length !== count) throw new CorralError('bad_request', `Command '${command}' takes ${what}.`);
    };
    const locks = async () => {
      const response = await call({ op: 'master', request: { op: 'locks' } });
      if (!('locks' in response))
        throw new CorralError('internal', 'the master did not answer with its locks');
      return response.locks;
    };
    const answer = (value: unknown): void => {
      process.stdout.write(`Answer: ${JSON.stringify(value)}\n`);
    };
    switch (command) {
      case 'echo':
        takes(1, 'precisely one argument');
        await call({ op: 'master', request: { op: 'ping' } });
        return answer(rest[0]);
      case 'listlocks': {
        takes(1, 'precisely one argument');
        const job = jobIds([rest[0]!])[0]!;
        return answer(
          (await locks()).flatMap((lock) =>
            lock.owners.filter((owner) => owner.owner === job).map((owner) => [lock.lock, owner.mode]),
          ),
        );
      }
      case 'listalllocks':
        takes(0, 'no arguments');
        return answer((await locks()).filter((lock) => lock.owners.length > 0).map((lock) => lock.lock));
      case 'listalllocksowners':
        takes(0, 'no arguments');
        return answer(
          (await locks()).map((lock) => [lock.lock, lock.owners.map((owner) => [owner.owner, owner.mode])]),
        );
      case 'cleanuplocks':
        takes(0, 'no arguments');
        // A job's locks go with its end, or with the master that ran it: none can outlive their owner.
        await call({ op: 'master', request: { op: 'ping' } });
        process.stdout.write('Stale locks cleaned up.\n');
        return;
      default:
        throw new CorralError(
          'bad_request',
          `Command '${command}' not supported; wconfd takes echo, listlocks, listalllocks, listalllocksowners, cleanuplocks`,
        );
    }
  },
};

/** Ganeti's metad serves instances their metadata; Corral has no such service, and says so. */
const metad: CommandModule<object, ConnectionArgs & { words: string[] }> = {
  command: 'metad <words..>',
  describe: "refused: Corral has no metadata daemon (Ganeti's metad serves instances' metadata)",
  builder: (yargs) =>
    connectionOptions(yargs).positional('words', { type: 'string', array: true, demandOption: true }),
  handler: () => {
    throw new CorralError(
      'unavailable',
      'Corral has no metadata daemon (metad): its instances get no metadata service to talk to',
    );
  },
};

/** Ganeti's check that secret OS parameters travel unlogged; Corral has no secret OS parameters. */
const testOsparams: CommandModule<object, ConnectionArgs & { 'os-parameters-secret'?: string }> = {
  command: 'test-osparams',
  describe: 'refused: Corral has no secret OS parameters to test the transmission of',
  // Ganeti's job options too, so that its command lines reach the refusal rather than a usage error.
  builder: (yargs) => jobOptions(yargs).option('os-parameters-secret', { type: 'string' }),
  handler: () => {
    throw new CorralError(
      'unavailable',
      'Corral has no secret OS parameters (they would be kept in the replicated job records): nothing to test',
    );
  },
};

export const debugCommand: CommandModule = {
  command: 'debug <command>',
  builder: (yargs) =>
    yargs
      .command(echo as CommandModule)
      .command(probe as CommandModule)
      .command(probeStats as CommandModule)
      .command(delay as CommandModule)
      .command(iallocator as CommandModule)
      .command(locks as CommandModule)
      .command(submitJobCommand as CommandModule)
      .command(testJobqueue as CommandModule)
      .command(wconfd as CommandModule)
      .command(metad as CommandModule)
      .command(testOsparams as CommandModule)
      .demandCommand(1),
  handler: () => undefined,
};
