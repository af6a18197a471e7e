import type { CommandModule } from 'yargs';
import {
  type CorralDiskTemplate,
  corralDiskTemplates,
  isCorralDiskTemplate,
} from '../../cluster/disk-templates.js';
import { allocPolicies, groupTemplates } from '../../cluster/model.js';
import type { Opcode } from '../../cluster/opcodes.js';
import type { ConfigView, GroupView } from '../../cluster/views.js';
import { CorralError } from '../../common/errors.js';
import {
  type ConnectionArgs,
  connectionOptions,
  type JobArgs,
  jobOptions,
  readConfig,
  runOps,
} from '../cluster-client.js';
import {
  type Field,
  type ListArgs,
  listOptions,
  localTime,
  pickNamed,
  printList,
  selectFields,
} from '../fields.js';
import { tagCommands } from './tags.js';

type GroupRow = { readonly group: GroupView; readonly config: ConfigView };
const members = (r: GroupRow) =>
  r.config.nodes
    .filter((node) => node.group === r.group.uuid)
    .map((node) => node.name)
    .sort();

const groupFields: Field<GroupRow>[] = [
  { name: 'name', title: 'Group', get: (r) => r.group.name },
  { name: 'uuid', title: 'UUID', get: (r) => r.group.uuid },
  { name: 'alloc_policy', title: 'AllocPolicy', get: (r) => r.group.allocPolicy },
  {
    name: 'ipolicy/disk-templates',
    title: 'DiskTemplates',
    get: (r) => groupTemplates(r.config.cluster.enabledDiskTemplates, r.group).join(','),
  },
  { name: 'node_cnt', title: 'Nodes', get: (r) => members(r).length },
  { name: 'node_list', title: 'NodeList', get: members },
  { name: 'pinst_cnt', title: 'Instances', get: () => 0 },
  { name: 'pinst_list', title: 'InstanceList', get: () => [] },
  { name: 'ndparams', title: 'NDParams', get: () => '{}' },
  { name: 'tags', title: 'Tags', get: (r) => r.group.tags },
  { name: 'ctime', title: 'CTime', get: (r) => localTime(r.group.ctimeMs) },
  { name: 'mtime', title: 'MTime', get: (r) => localTime(r.group.mtimeMs) },
  { name: 'serial_no', title: 'SerialNo', get: (r) => r.group.serial },
];
const defaultGroupFields = ['name', 'node_cnt', 'pinst_cnt', 'alloc_policy', 'ndparams'];

const list: CommandModule<object, ConnectionArgs & ListArgs & { groups: string[] }> = {
  command: 'list [groups..]',
  describe: 'list node groups',
  builder: (yargs) =>
    listOptions(connectionOptions(yargs)).positional('groups', { type: 'string', array: true, default: [] }),
  handler: async (args) => {
    const { config } = await readConfig(args);
    const groups = pickNamed(
      [...config.groups].sort((a, b) => a.name.localeCompare(b.name)),
      args.groups,
      'node group',
    );
    printList(
      selectFields(groupFields, defaultGroupFields, args.output),
      groups.map((group) => ({ group, config })),
      args,
    );
  },
};

/** A comma-separated list of disk templates, each one known. */
function templateList(value: string): CorralDiskTemplate[] {
  const names = value.split(',').filter((name) => name.length > 0);
  for (const name of names)
    if (!isCorralDiskTemplate(name))
      throw new CorralError(
        'bad_request',
        `--ipolicy-disk-templates: unknown disk template ${name}; known: ${corralDiskTemplates.join(', ')}`,
      );
  if (names.length === 0)
    throw new CorralError('bad_request', '--ipolicy-disk-templates: name at least one template');
  return names as CorralDiskTemplate[];
}

const policy = { choices: allocPolicies, describe: 'preferred, last_resort or unallocable' } as const;

type PolicyArgs = JobArgs & {
  group: string;
  'alloc-policy'?: (typeof allocPolicies)[number];
  'ipolicy-disk-templates'?: string;
};

/** add and modify take the same options and differ only in their opcode. */
function policyCommand(
  command: string,
  describe: string,
  opId: 'OP_GROUP_ADD' | 'OP_GROUP_SET_PARAMS',
): CommandModule<object, PolicyArgs> {
  return {
    command,
    describe,
    builder: (yargs) =>
      jobOptions(yargs)
        .positional('group', { type: 'string', demandOption: true })
        .option('alloc-policy', policy)
        .option('ipolicy-disk-templates', {
          type: 'string',
          describe: 'comma-separated disk templates the nodes of the group may hold instances of',
        }),
    handler: async (args) => {
      await runOps(args, [
        {
          OP_ID: opId,
          group_name: args.group,
          ...(args['alloc-policy'] && { alloc_policy: args['alloc-policy'] }),
          ...(args['ipolicy-disk-templates'] !== undefined && {
            ipolicy_disk_templates: templateList(args['ipolicy-disk-templates']),
          }),
        } as Opcode,
      ]);
    },
  };
}

const add = policyCommand('add <group>', 'create a node group', 'OP_GROUP_ADD');
const modify = policyCommand(
  'modify <group>',
  "change a node group's allocation policy",
  'OP_GROUP_SET_PARAMS',
);

const remove: CommandModule<object, JobArgs & { group: string }> = {
  command: 'remove <group>',
  describe: 'remove an empty node group',
  builder: (yargs) => jobOptions(yargs).positional('group', { type: 'string', demandOption: true }),
  handler: async (args) => {
    await runOps(args, [{ OP_ID: 'OP_GROUP_REMOVE', group_name: args.group }]);
  },
};

const rename: CommandModule<object, JobArgs & { group: string; 'new-name': string }> = {
  command: 'rename <group> <new-name>',
  describe: 'rename a node group',
  builder: (yargs) =>
    jobOptions(yargs)
      .positional('group', { type: 'string', demandOption: true })
      .positional('new-name', { type: 'string', demandOption: true }),
  handler: async (args) => {
    await runOps(args, [{ OP_ID: 'OP_GROUP_RENAME', group_name: args.group, new_name: args['new-name'] }]);
  },
};

const assign: CommandModule<object, JobArgs & { group: string; nodes: string[]; force: boolean }> = {
  command: 'assign-nodes <group> <nodes..>',
  describe: 'move nodes into a group',
  builder: (yargs) =>
    jobOptions(yargs)
      .positional('group', { type: 'string', demandOption: true })
      .positional('nodes', { type: 'string', array: true, demandOption: true })
      .option('force', { type: 'boolean', default: false }),
  handler: async (args) => {
    await runOps(args, [
      {
        OP_ID: 'OP_GROUP_ASSIGN_NODES',
        group_name: args.group,
        nodes: args.nodes,
        ...(args.force && { force: true }),
      },
    ]);
  },
};

export const groupCommand: CommandModule = {
  command: 'group <command>',
  builder: (yargs) => {
    for (const command of [add, modify, remove, rename, assign, list, ...tagCommands('nodegroup')])
      yargs.command(command as CommandModule);
    return yargs.demandCommand(1);
  },
  handler: () => undefined,
};
