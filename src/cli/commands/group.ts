import type { CommandModule } from 'yargs';
import {
  type CorralDiskTemplate,
  corralDiskTemplates,
  isCorralDiskTemplate,
} from '../../cluster/disk-templates.js';
import { allocPolicies } from '../../cluster/model.js';
import type { Opcode } from '../../cluster/opcodes.js';
import { groupRows, listArguments, neededData, runQuery } from '../../cluster/query/index.js';
import { CorralError } from '../../common/errors.js';
import {
  type ConnectionArgs,
  connectionOptions,
  type JobArgs,
  jobOptions,
  readConfig,
  runAndFollowChildren,
  runOps,
} from '../cluster-client.js';
import {
  checkIpolicyOptions,
  type IpolicyArgs,
  ipolicyGiven,
  noteUnusedOptions,
  unusedGanetiOptions,
} from '../cluster-params.js';
import {
  chosenFields,
  type ListArgs,
  listFieldsCommand,
  listOptions,
  pickNamed,
  printQuery,
} from '../fields.js';
import { groupMoveOptions, targetGroupsOption } from '../ganeti-options.js';
import { groupInfoText, groupIspecsCommands } from '../group-info.js';
import { ndParamsOption, parseNdParams } from '../ndparams-option.js';
import { tagCommands } from './tags.js';

const defaultGroupFields = ['name', 'node_cnt', 'pinst_cnt', 'alloc_policy', 'ndparams'];

const list: CommandModule<object, ConnectionArgs & ListArgs & { groups: string[] }> = {
  command: 'list [groups..]',
  describe: 'list node groups (Ganeti fields; -o, -F filter, --no-headers, --separator, --json)',
  builder: (yargs) =>
    listOptions(connectionOptions(yargs)).positional('groups', { type: 'string', array: true, default: [] }),
  handler: async (args) => {
    const fields = chosenFields('group', defaultGroupFields, args.output);
    const selection = listArguments(args.groups, args.filter);
    const filter = 'filter' in selection ? selection.filter : undefined;
    // Checks the filter before the daemon is asked anything.
    neededData('group', fields, filter);
    const { config, masterName } = await readConfig(args);
    const all = groupRows({ config, masterName });
    const picked =
      'names' in selection
        ? pickNamed(
            all.map((row) => ({ name: row.group.name, row })),
            selection.names,
            'node group',
          ).map((item) => item.row)
        : all;
    printQuery(runQuery('group', fields, filter, picked), args);
  },
};

const listFields = listFieldsCommand('group', 'group');

const info: CommandModule<object, ConnectionArgs & { groups: string[] }> = {
  command: 'info [groups..]',
  describe:
    'node groups in detail: members, node parameters, instance policy (all groups when none is named)',
  builder: (yargs) =>
    connectionOptions(yargs).positional('groups', { type: 'string', array: true, default: [] }),
  handler: async (args) => {
    const { config } = await readConfig(args);
    process.stdout.write(groupInfoText(config, args.groups));
  },
};

const showIspecsCmd: CommandModule<
  object,
  ConnectionArgs & { groups: string[]; 'include-defaults': boolean }
> = {
  command: 'show-ispecs-cmd [groups..]',
  describe: "the command line that makes each group with its instance policy's specs",
  builder: (yargs) =>
    connectionOptions(yargs)
      .positional('groups', { type: 'string', array: true, default: [] })
      .option('include-defaults', {
        type: 'boolean',
        default: false,
        describe: 'also the specs the group inherits from the cluster',
      }),
  handler: async (args) => {
    const { config } = await readConfig(args);
    process.stdout.write(groupIspecsCommands(config, args.groups, args['include-defaults']));
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

type PolicyArgs = JobArgs &
  Omit<IpolicyArgs, 'ipolicy-disk-templates'> & {
    group: string;
    'alloc-policy'?: (typeof allocPolicies)[number];
    'ipolicy-disk-templates'?: string;
    'node-parameters'?: string;
  };

const fixedGroupPolicy = "taken only as Corral's fixed instance policy (show-ispecs-cmd prints it)";

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
      ndParamsOption(
        unusedGanetiOptions(jobOptions(yargs), 'group'),
        opId === 'OP_GROUP_SET_PARAMS' ? 'cluster' : undefined,
      )
        .positional('group', { type: 'string', demandOption: true })
        .option('alloc-policy', policy)
        .option('ipolicy-disk-templates', {
          type: 'string',
          describe: 'comma-separated disk templates the nodes of the group may hold instances of',
        })
        .option('ipolicy-std-specs', { type: 'string', describe: fixedGroupPolicy })
        .option('ipolicy-bounds-specs', { type: 'string', describe: fixedGroupPolicy })
        .option('ipolicy-vcpu-ratio', { type: 'number', describe: fixedGroupPolicy })
        .option('ipolicy-spindle-ratio', { type: 'number', describe: fixedGroupPolicy }),
    handler: async (args) => {
      noteUnusedOptions(args as unknown as Record<string, unknown>, 'group', (line) =>
        process.stderr.write(`${line}\n`),
      );
      // The group's templates are its own (checked by the master); the rest of its policy is the cluster's.
      const { 'ipolicy-disk-templates': _templates, ...policyArgs } = args;
      if (ipolicyGiven(policyArgs)) {
        const { config } = await readConfig(args);
        checkIpolicyOptions(policyArgs, config.cluster.enabledDiskTemplates);
      }
      await runOps(args, [
        {
          OP_ID: opId,
          group_name: args.group,
          ...(args['alloc-policy'] && { alloc_policy: args['alloc-policy'] }),
          ...(args['ipolicy-disk-templates'] !== undefined && {
            ipolicy_disk_templates: templateList(args['ipolicy-disk-templates']),
          }),
          ...(args['node-parameters'] !== undefined && {
            ndparams: parseNdParams(args['node-parameters'], opId === 'OP_GROUP_SET_PARAMS'),
          }),
        } as Opcode,
      ]);
    },
  };
}

const add = policyCommand('add <group>', 'create a node group', 'OP_GROUP_ADD');
const modify = policyCommand(
  'modify <group>',
  "change a node group's allocation policy, disk templates or node parameters",
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
      .option('force', {
        alias: 'f',
        type: 'boolean',
        default: false,
        describe: "Ganeti's -f (move even if instances then span groups); Corral does not refuse that",
      }),
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

const evacuate: CommandModule<
  object,
  JobArgs & {
    group: string;
    to?: string | string[];
    iallocator?: string;
    'early-release': boolean;
    'force-failover': boolean;
    sequential: boolean;
  }
> = {
  command: 'evacuate <group>',
  describe:
    'move every instance with a node in the group into other groups, one job per instance, as the allocator plans',
  builder: (yargs) =>
    groupMoveOptions(jobOptions(yargs).positional('group', { type: 'string', demandOption: true }))
      .option('force-failover', {
        type: 'boolean',
        default: false,
        describe: 'fail over (instance stopped and started) wherever the plan would migrate',
      })
      .option('sequential', {
        type: 'boolean',
        default: false,
        describe: 'each job waits for the one before it to end (by default they run side by side)',
      }),
  handler: async (args) => {
    await runAndFollowChildren(args, {
      OP_ID: 'OP_GROUP_EVACUATE',
      group_name: args.group,
      ...targetGroupsOption(args.to),
      ...(args.iallocator !== undefined && { iallocator: args.iallocator }),
      ...(args['early-release'] && { early_release: true }),
      ...(args['force-failover'] && { force_failover: true }),
      ...(args.sequential && { sequential: true }),
    });
  },
};

export const groupCommand: CommandModule = {
  command: 'group <command>',
  builder: (yargs) => {
    for (const command of [
      add,
      modify,
      remove,
      rename,
      assign,
      list,
      listFields,
      info,
      showIspecsCmd,
      evacuate,
      ...tagCommands('nodegroup'),
    ])
      yargs.command(command as CommandModule);
    return yargs.demandCommand(1);
  },
  handler: () => undefined,
};
