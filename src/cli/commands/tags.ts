import { readFile } from 'node:fs/promises';
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

type TagArgs = JobArgs & { name?: string; tags: string[]; from?: string };

/** Ganeti's --from FILE: one tag a line (blank lines skipped); `-` reads stdin. */
async function tagsFrom(path: string): Promise<string[]> {
  let text: string;
  try {
    text = path === '-' ? await readStream(process.stdin) : await readFile(path, 'utf8');
  } catch (error) {
    throw new CorralError('bad_request', `--from: cannot read ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
}

async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Ganeti's add-tags, remove-tags and list-tags for one kind of object; the cluster's take no name. */
export function tagCommands(kind: TagKind): CommandModule[] {
  const target = kind === 'cluster' ? '' : ' <name>';
  const change = (how: 'add' | 'remove'): CommandModule<object, TagArgs> => ({
    command: `${how}-tags${target} [tags..]`,
    describe: `${how} tags ${how === 'add' ? 'to' : 'from'} the ${kind}`,
    builder: (yargs) =>
      jobOptions(yargs)
        .positional('tags', { type: 'string', array: true, default: [] })
        .option('from', { type: 'string', describe: "more tags, one a line, from this file ('-': stdin)" }),
    handler: async (args) => {
      const tags = [...args.tags, ...(args.from === undefined ? [] : await tagsFrom(args.from))];
      if (tags.length === 0) throw new CorralError('bad_request', 'name the tags, or give --from FILE');
      await runOps(args, [
        {
          OP_ID: how === 'add' ? 'OP_TAGS_SET' : 'OP_TAGS_DEL',
          kind,
          ...(args.name !== undefined && { name: args.name }),
          tags,
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
