import type { CommandModule } from 'yargs';
import { type ConfigQuery, configQueryTypes, MAX_QUERY_NODES } from '../../cluster/config-query.js';
import { CorralError } from '../../common/errors.js';
import { type ConnectionArgs, connectionOptions, daemonCall } from '../cluster-client.js';

interface QueryArgs extends ConnectionArgs {
  key: string;
  arg?: string;
  nodes: number;
  json: boolean;
}

/** The question a key and its argument ask; node-role needs a node name. */
export function parseConfigQuery(key: string, arg: string | undefined): ConfigQuery {
  switch (key) {
    case 'node-role':
      if (arg === undefined)
        throw new CorralError('bad_request', 'node-role needs a node name: config query node-role NODE');
      return { type: 'node-role', node: arg };
    case 'cluster-master':
    case 'node-pip-list':
    case 'mc-pip-list':
    case 'instances-ips-list':
      if (arg !== undefined) throw new CorralError('bad_request', `${key} takes no argument`);
      return { type: key };
    default:
      throw new CorralError('bad_request', `unknown key ${key}; known: ${configQueryTypes.join(', ')}`);
  }
}

const query: CommandModule<object, QueryArgs> = {
  command: 'query <key> [arg]',
  describe: `ask several nodes a configuration question and keep the freshest answer (Ganeti's confd); keys: ${configQueryTypes.join(', ')}`,
  builder: (yargs) =>
    connectionOptions(yargs)
      .positional('key', { type: 'string', demandOption: true })
      .positional('arg', { type: 'string' })
      .option('nodes', {
        alias: 'n',
        type: 'number',
        default: 3,
        describe: `how many nodes to ask, this one first (1–${MAX_QUERY_NODES})`,
      })
      .option('json', {
        type: 'boolean',
        default: false,
        describe: 'print the answer and every reply as JSON',
      }),
  handler: async (args) => {
    if (!Number.isInteger(args.nodes) || args.nodes < 1 || args.nodes > MAX_QUERY_NODES)
      throw new CorralError('bad_request', `--nodes is a whole number from 1 to ${MAX_QUERY_NODES}`);
    const result = await daemonCall(args)({
      op: 'config-query',
      query: parseConfigQuery(args.key, args.arg),
      nodes: args.nodes,
    });
    if (args.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return;
    }
    if (result.value === null)
      throw new CorralError(
        'not_found',
        `the configuration has no answer to ${args.key} (no such node, or no master yet)`,
      );
    const values = Array.isArray(result.value) ? result.value : [result.value];
    for (const value of values) process.stdout.write(`${value}\n`);
    const answered = result.replies.filter((reply) => reply.serial !== undefined).length;
    process.stderr.write(
      `config serial ${result.serial} from ${result.node} (${answered} of ${result.replies.length} nodes answered)\n`,
    );
  },
};

export const configCommand: CommandModule = {
  command: 'config <command>',
  builder: (yargs) => yargs.command(query as CommandModule).demandCommand(1),
  handler: () => undefined,
};
