import type { Argv, CommandModule } from 'yargs';
import { z } from 'zod';
import { parseExportInfo } from '../../cluster/export-info.js';
import { compressionTools } from '../../cluster/model.js';
import type { Opcode } from '../../cluster/opcodes.js';
import type { FieldDescription } from '../../cluster/query/index.js';
import { CorralError } from '../../common/errors.js';
import { runJob } from '../../daemon/job-client.js';
import {
  type ConnectionArgs,
  connectionOptions,
  daemonCall,
  forceOption,
  runOps,
} from '../cluster-client.js';
import { listFieldsOptions, printFields, type SizeUnit, sizeUnits } from '../fields.js';
import { compressionTool } from '../ganeti-options.js';
import { exportUnused, instanceAddUnused } from '../instance-options.js';
import { renderTable } from '../table.js';
import { addUnusedOptions, checkUnusedOptions, noteOnStderr } from '../unused-options.js';
import {
  type AddArgs,
  addOptions,
  createOpcode,
  type NamedArgs,
  simple,
  templateOption,
  timeoutOption,
  timeoutSeconds,
} from './instance.js';

/** gnt-backup: instance exports (an OS export script's dump of each disk, and a config.ini) and imports. */

const queryResultSchema = z.object({
  exports: z.array(z.object({ node: z.string(), export: z.string(), info: z.string().optional() })),
  unreachable: z.array(z.string()),
});

async function queryExports(args: ConnectionArgs, op: Extract<Opcode, { OP_ID: 'OP_BACKUP_QUERY' }>) {
  const view = await runJob(daemonCall(args), [op]);
  return queryResultSchema.parse(view.ops[0]?.result);
}

const exportCommand = simple(
  'export <instance>',
  'export an instance to a node: its OS export script dumps each disk there (gnt-backup export)',
  (y) =>
    timeoutOption('shutdown-timeout')(
      forceOption(
        addUnusedOptions(y, exportUnused),
        "accepted for Ganeti's command lines: Corral does not ask before an export",
      )
        .option('node', {
          alias: 'n',
          type: 'string',
          demandOption: true,
          describe: 'the node that keeps the export',
        })
        .option('shutdown', {
          type: 'boolean',
          default: true,
          describe: '--noshutdown: export it as it runs (needs disk snapshots)',
        })
        .option('noshutdown', { type: 'boolean', default: false, hidden: true })
        .option('remove-instance', {
          type: 'boolean',
          default: false,
          describe: 'remove the instance once exported',
        })
        .option('ignore-remove-failures', { type: 'boolean', default: false })
        .option('transport-compression', {
          type: 'string',
          describe: `${compressionTools.join(', ')}: Ganeti's names are taken, but Corral sends the dumps uncompressed`,
        })
        .option('long-sleep', {
          type: 'boolean',
          default: false,
          describe:
            'the instance may stay shut down for the whole export, as it does: Corral takes no snapshots',
        }),
    ),
  (a) => {
    checkUnusedOptions(a, exportUnused, noteOnStderr);
    return {
      OP_ID: 'OP_BACKUP_EXPORT',
      instance_name: a.instance,
      target_node: String(a.node),
      // Ganeti spells it --noshutdown; yargs' negation spells it --no-shutdown: both are taken.
      shutdown: a.shutdown !== false && a.noshutdown !== true,
      ...(a['transport-compression'] !== undefined && {
        compress: compressionTool(a['transport-compression'], '--transport-compression'),
      }),
      ...(a['long-sleep'] && { long_sleep: true }),
      ...(a['remove-instance'] === true && { remove_instance: true }),
      ...(a['ignore-remove-failures'] === true && { ignore_remove_failures: true }),
      ...(timeoutSeconds(a['shutdown-timeout'], 'shutdown-timeout') !== undefined && {
        shutdown_timeout: timeoutSeconds(a['shutdown-timeout'], 'shutdown-timeout'),
      }),
    };
  },
);

interface ImportArgs extends Omit<AddArgs, 'disk-template'> {
  'disk-template'?: string;
  'src-node'?: string;
  'src-dir'?: string;
  'identify-defaults': boolean;
  compress?: string;
}

const importCommand: CommandModule<object, ImportArgs> = {
  command: 'import <instance>',
  describe: 'create an instance from an export; what is not given comes from the export (gnt-backup import)',
  builder: (yargs) =>
    addOptions(yargs, templateOption)
      .option('src-node', {
        type: 'string',
        describe: 'the node holding the export (default: the newest export)',
      })
      .option('src-dir', {
        type: 'string',
        describe: "the export's name, or its directory on the source node (default: the instance's name)",
      })
      .option('identify-defaults', {
        type: 'boolean',
        default: false,
        describe:
          "parameters equal to the cluster's defaults follow them rather than being set on the instance",
      })
      .option('compress', {
        type: 'string',
        describe: `${compressionTools.join(', ')}: Ganeti's names are taken, but Corral reads the dumps uncompressed`,
      }),
  handler: async (args) => {
    checkUnusedOptions(args, instanceAddUnused, noteOnStderr);
    // Ganeti names the export by its directory; its last part is the exported instance's name.
    const source = args['src-dir']?.replace(/\/+$/, '').split('/').pop() || args.instance;
    let template = args['disk-template'];
    if (template === undefined) {
      const found = await queryExports(args, { OP_ID: 'OP_BACKUP_QUERY', instance_name: source });
      const infos = found.exports
        .filter((e) => args['src-node'] === undefined || e.node === args['src-node'])
        .map((e) => parseExportInfo(e.info ?? '', `the export of ${source} on ${e.node}`))
        .sort((a, b) => b.timestampS - a.timestampS);
      if (infos[0] === undefined)
        throw new CorralError('not_found', `no export of ${source} found (see backup list)`);
      template = infos[0].diskTemplate;
    }
    const op = createOpcode({ ...args, 'disk-template': template });
    await runOps(args, [
      {
        ...op,
        mode: 'import',
        src_path: source,
        ...(args['src-node'] !== undefined && { src_node: args['src-node'] }),
        ...(args['identify-defaults'] && { identify_defaults: true }),
        ...(args.compress !== undefined && { compress: compressionTool(args.compress, '--compress') }),
      },
    ]);
  },
};

/** Ganeti's fields of an export (gnt-backup list -o, list-fields). */
const exportFields: readonly FieldDescription[] = [
  { name: 'node', title: 'Node', kind: 'text', doc: 'Node name' },
  { name: 'export', title: 'Export', kind: 'text', doc: 'Export name' },
];

/** The export fields named (refusing unknown ones), or all of them. */
function chosenExportFields(output: string | undefined): FieldDescription[] {
  if (output === undefined) return [...exportFields];
  const names = output.startsWith('+')
    ? ['node', 'export', ...output.slice(1).split(',')]
    : output.split(',');
  return names.map((name) => {
    const field = exportFields.find((candidate) => candidate.name === name);
    if (field === undefined)
      throw new CorralError('bad_request', `unknown export field ${name}; the fields are node and export`);
    return field;
  });
}

const list: CommandModule<
  object,
  ConnectionArgs & {
    node: string[];
    headers: boolean;
    separator?: string;
    output?: string;
    units?: SizeUnit;
    verbose: boolean;
  }
> = {
  command: 'list',
  describe: 'the exports on each node (gnt-backup list)',
  builder: (yargs: Argv) =>
    listFieldsOptions(connectionOptions(yargs))
      .option('node', {
        alias: 'n',
        type: 'string',
        default: [] as string[],
        coerce: (value: string | string[]) => [value].flat(),
        describe: 'only this node (repeatable)',
      })
      .option('output', { alias: 'o', type: 'string', describe: 'fields to show: node, export (+f adds)' })
      .option('units', {
        choices: sizeUnits,
        describe: "accepted for Ganeti's command lines: an export list has no sizes",
      })
      .option('verbose', {
        alias: 'v',
        type: 'boolean',
        default: false,
        describe: "accepted for Ganeti's command lines: an export list has no missing values to spell out",
      }),
  handler: async (args) => {
    const fields = chosenExportFields(args.output);
    const found = await queryExports(args, {
      OP_ID: 'OP_BACKUP_QUERY',
      ...(args.node.length > 0 && { nodes: args.node }),
    });
    const rows = found.exports.map((e) => fields.map((field) => (field.name === 'node' ? e.node : e.export)));
    const table = renderTable(
      fields.map((field) => field.title),
      rows,
      { noHeaders: !args.headers, separator: args.separator },
    );
    process.stdout.write(`${table}\n`);
    if (found.unreachable.length > 0)
      process.stderr.write(
        `warning: no answer from ${found.unreachable.join(', ')}; their exports are not listed\n`,
      );
  },
};

const listFields: CommandModule<
  object,
  ConnectionArgs & { fields: string[]; headers: boolean; separator?: string }
> = {
  command: 'list-fields [fields..]',
  describe: 'the fields backup list knows',
  builder: (yargs) =>
    listFieldsOptions(connectionOptions(yargs)).positional('fields', {
      type: 'string',
      array: true,
      default: [],
    }),
  handler: (args) =>
    printFields(
      args.fields.length === 0
        ? exportFields
        : args.fields.map(
            (name) =>
              exportFields.find((field) => field.name === name) ?? {
                name,
                title: name,
                kind: 'unknown',
                doc: `Unknown field '${name}'`,
              },
          ),
      args,
    ),
};

const remove = simple(
  'remove <instance>',
  'remove the exports of an instance from every node (gnt-backup remove)',
  (y: Argv<NamedArgs>) => y,
  (a) => ({ OP_ID: 'OP_BACKUP_REMOVE', instance_name: a.instance }),
);

export const backupCommand: CommandModule = {
  command: 'backup <command>',
  builder: (yargs) =>
    yargs
      .command(exportCommand)
      .command(importCommand as CommandModule)
      .command(list as CommandModule)
      .command(listFields as CommandModule)
      .command(remove)
      .demandCommand(1),
  handler: () => undefined,
};
