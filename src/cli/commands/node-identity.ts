import type { CommandModule } from 'yargs';
import { callDaemon, controlSocketPath, DEFAULT_DATA_DIR } from '../../daemon/control-client.js';
import { Enrolment } from '../../peer/enrolment.js';
import { loadOrCreateIdentity } from '../../peer/identity.js';
import { parseDurationMs } from '../duration.js';

interface IdentityArgs {
  'data-dir': string;
  id?: boolean;
  'enrol-code'?: boolean;
}

export const identityCommand: CommandModule<object, IdentityArgs> = {
  command: 'identity',
  builder: (yargs) =>
    yargs
      .option('data-dir', { type: 'string', default: process.env.CORRAL_DATA_DIR ?? DEFAULT_DATA_DIR })
      .option('id', { type: 'boolean', describe: 'print only the node ID' })
      .option('enrol-code', {
        type: 'boolean',
        describe: 'print only the enrolment code (node add --enrol-code takes it; keep it secret)',
      })
      .conflicts('id', 'enrol-code'),
  handler: async (args) => {
    const identity = await loadOrCreateIdentity(args['data-dir']);
    const code = (await Enrolment.open(args['data-dir'], identity.nodeId)).code();
    if (args.id) process.stdout.write(`${identity.nodeId}\n`);
    else if (args['enrol-code']) process.stdout.write(`${code}\n`);
    else process.stdout.write(`node ID:        ${identity.nodeId}\nenrolment code: ${code}\n`);
  },
};

interface TokenArgs {
  node: string;
  ttl: string;
  socket?: string;
  'data-dir'?: string;
}

export const tokenCommand: CommandModule<object, TokenArgs> = {
  command: 'token create <node>',
  builder: (yargs) =>
    yargs
      .positional('node', {
        type: 'string',
        demandOption: true,
        describe: "the joining node's ID ('corral identity' there)",
      })
      .option('ttl', {
        type: 'string',
        default: '1h',
        describe: 'how long the token is valid (e.g. 30m, 1h, 7d)',
      })
      .option('socket', { type: 'string' })
      .option('data-dir', { type: 'string' }),
  handler: async (args) => {
    const answer = await callDaemon(controlSocketPath({ socket: args.socket, dataDir: args['data-dir'] }), {
      op: 'token-create',
      peer: args.node,
      lifetimeMs: parseDurationMs(args.ttl),
    });
    process.stdout.write(`${answer.token}\n`);
  },
};
