import type { Argv, CommandModule } from 'yargs';
import { callDaemon, controlSocketPath } from '../../daemon/control-client.js';
import { type JobArgs, jobOptions, runOps } from '../cluster-client.js';

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

const delay: CommandModule<object, JobArgs & { duration: number; 'on-nodes'?: string[]; repeat: number }> = {
  command: 'delay <duration>',
  describe: 'submit a test opcode that holds its locks for that many seconds (gnt-debug delay)',
  builder: (yargs) =>
    jobOptions(yargs)
      .positional('duration', { type: 'number', demandOption: true })
      .option('on-nodes', {
        alias: 'n',
        type: 'string',
        array: true,
        describe: "also hold these nodes' locks",
      })
      .option('no-master', { type: 'boolean', describe: 'accepted for Ganeti compatibility' })
      .option('repeat', { type: 'number', default: 0 }),
  handler: async (args) => {
    await runOps(args, [
      {
        OP_ID: 'OP_TEST_DELAY',
        duration: args.duration,
        ...(args['on-nodes'] !== undefined && { on_nodes: args['on-nodes'] }),
        ...(args.repeat > 0 && { repeat: args.repeat }),
      },
    ]);
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
      .demandCommand(1),
  handler: () => undefined,
};
