import type { CommandModule } from 'yargs';
import type { TagKind } from '../../cluster/opcodes.js';
import { CorralError } from '../../common/errors.js';
import {
  type ConnectionArgs,
  connectionOptions,
  type JobArgs,
  jobOptions,
  readConfig,
  runOps,
} from '../cluster-client.js';

type TagArgs = JobArgs & { name?: string; tags: string[] };

/** Ganeti's add-tags, remove-tags and list-tags for one kind of object; the cluster's take no name. */
export function tagCommands(kind: TagKind): CommandModule[] {
  const target = kind === 'cluster' ? '' : ' <name>';
  const change = (how: 'add' | 'remove'): CommandModule<object, TagArgs> => ({
    command: `${how}-tags${target} <tags..>`,
    describe: `${how} tags ${how === 'add' ? 'to' : 'from'} the ${kind}`,
    builder: (yargs) =>
      jobOptions(yargs).positional('tags', { type: 'string', array: true, demandOption: true }),
    handler: async (args) => {
      await runOps(args, [
        {
          OP_ID: how === 'add' ? 'OP_TAGS_SET' : 'OP_TAGS_DEL',
          kind,
          ...(args.name !== undefined && { name: args.name }),
          tags: args.tags,
        },
      ]);
    },
  });
  const list: CommandModule<object, ConnectionArgs & { name?: string }> = {
    command: `list-tags${target}`,
    describe: `list the tags of the ${kind}`,
    builder: (yargs) => connectionOptions(yargs),
    handler: async (args) => {
      const { config } = await readConfig(args);
      const holder =
        kind === 'cluster'
          ? config.cluster
          : (kind === 'node' ? config.nodes : kind === 'instance' ? config.instances : config.groups).find(
              (item) => item.name === args.name,
            );
      if (holder === undefined) throw new CorralError('not_found', `${kind} ${args.name} does not exist`);
      for (const tag of [...holder.tags].sort()) process.stdout.write(`${tag}\n`);
    },
  };
  return [change('add'), change('remove'), list] as CommandModule[];
}
