import type { CommandModule } from 'yargs';
import { callDaemon, controlSocketPath, DEFAULT_DATA_DIR } from '../../daemon/control-client.js';
import { loadOrCreateIdentity } from '../../peer/identity.js';
import { parseDurationMs } from '../duration.js';

export const identityCommand: CommandModule<object, { 'data-dir': string }> = {
  command: 'identity',
  describe: "print this node's ID (its libp2p peer ID), creating its key on first use",
  builder: (yargs) =>
    yargs.option('data-dir', { type: 'string', default: process.env.CORRAL_DATA_DIR ?? DEFAULT_DATA_DIR }),
  handler: async (args) => {
    const identity = await loadOrCreateIdentity(args['data-dir']);
    process.stdout.write(`${identity.nodeId}\n`);
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
  describe: 'issue a join token for the node with this ID (run on a member)',
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
