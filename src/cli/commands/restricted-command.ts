import type { CommandModule } from 'yargs';
import { CorralError } from '../../common/errors.js';
import { type JobArgs, jobOptions, readConfig, runOps } from '../cluster-client.js';

interface RestrictedArgs extends JobArgs {
  command: string;
  nodes: string[];
  'node-group'?: string;
  'show-machine-names': boolean;
  sync: boolean;
}

/**
 * Ganeti's gnt-node restricted-command: runs the executable of that name from each node's
 * restricted-commands directory (<data dir>/restricted-commands, root's alone), on the nodes named or those
 * of a group, and prints each node's output in Ganeti's layout; fails when any node's run failed.
 */
export const restrictedCommand: CommandModule<object, RestrictedArgs> = {
  command: 'restricted-command <command> [nodes..]',
  describe:
    "run a command from the nodes' restricted-commands directory (<data dir>/restricted-commands) on them",
  builder: (yargs) =>
    jobOptions(yargs)
      .positional('command', { type: 'string', demandOption: true })
      .positional('nodes', { type: 'string', array: true, default: [] })
      .option('node-group', { alias: 'g', type: 'string', describe: 'every online node of this group' })
      .option('show-machine-names', {
        alias: 'M',
        type: 'boolean',
        default: false,
        describe: "prefix each line with its node's name",
      })
      .option('sync', {
        type: 'boolean',
        default: false,
        describe: "hold the nodes' locks while the commands run",
      }),
  handler: async (args) => {
    if (args.nodes.length === 0 && args['node-group'] === undefined)
      throw new CorralError('bad_request', 'Node group or node names must be given');
    const { config } = await readConfig(args);
    const group =
      args['node-group'] === undefined
        ? undefined
        : config.groups.find((g) => g.name === args['node-group'] || g.uuid === args['node-group']);
    if (args['node-group'] !== undefined && group === undefined)
      throw new CorralError('not_found', `node group ${args['node-group']} does not exist`);
    const named = args.nodes.map((name) => {
      const node = config.nodes.find((n) => n.name === name);
      if (node === undefined) throw new CorralError('not_found', `node ${name} does not exist`);
      return node;
    });
    const chosen = [...named, ...config.nodes.filter((node) => node.group === group?.uuid)];
    const offline = chosen.filter((node) => node.offline).map((node) => node.name);
    if (offline.length > 0) process.stderr.write(`Note: skipping offline node(s): ${offline.join(', ')}\n`);
    const nodes = [...new Set(chosen.filter((node) => !node.offline).map((node) => node.name))];
    if (nodes.length === 0) throw new CorralError('conflict', 'no online node to run the command on');
    const results = await runOps(args, [
      {
        OP_ID: 'OP_RESTRICTED_COMMAND',
        command: args.command,
        nodes,
        ...(args.sync && { use_locking: true }),
      },
    ]);
    if (results === undefined) return;
    const outcome = (results[0] ?? []) as [boolean, string][];
    let failed = false;
    for (const [i, node] of nodes.entries()) {
      const [ok, text] = outcome[i] ?? [false, 'no answer'];
      process.stdout.write('------------------------------------------------\n');
      if (!ok) {
        failed = true;
        process.stdout.write(`${text}\n`);
      } else if (args['show-machine-names']) {
        // Python's splitlines: no empty last line for a text that ends its last line.
        const lines = text.split('\n');
        if (lines.at(-1) === '') lines.pop();
        for (const line of lines) process.stdout.write(`${node}: ${line}\n`);
      } else process.stdout.write(`Node: ${node}\n${text}\n`);
    }
    if (failed) process.exitCode = 1;
  },
};
