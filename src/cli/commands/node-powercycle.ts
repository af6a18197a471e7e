import type { CommandModule } from 'yargs';
import { type JobArgs, jobOptions, runOps } from '../cluster-client.js';
import { confirm } from '../confirm.js';

/** Ganeti's gnt-node powercycle: the node's daemon hard-reboots its machine; the master only with -f. */
export const powercycle: CommandModule<object, JobArgs & { node: string; yes: boolean; force: boolean }> = {
  command: 'powercycle <node>',
  describe:
    "hard-reboot the node's machine (SysRq b: nothing is shut down or synced); the master only with -f",
  builder: (yargs) =>
    jobOptions(yargs)
      .positional('node', { type: 'string', demandOption: true })
      .option('yes', { type: 'boolean', default: false, describe: 'do not ask for confirmation' })
      .option('force', { alias: 'f', type: 'boolean', default: false, describe: 'the master too' }),
  handler: async (args) => {
    if (!args.yes)
      await confirm(
        `Are you sure you want to hard powercycle node ${args.node}?`,
        'powercycle asks for confirmation: give --yes to run it without a terminal',
      );
    const results = await runOps(args, [
      { OP_ID: 'OP_NODE_POWERCYCLE', node_name: args.node, ...(args.force && { force: true }) },
    ]);
    if (results !== undefined) process.stdout.write(`${String(results[0])}\n`);
  },
};
