import { connect } from 'node:net';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import {
  type CorralDiskTemplate,
  corralDiskTemplates,
  isCorralDiskTemplate,
} from '../../cluster/disk-templates.js';
import { type HypervisorName, hypervisors, isHypervisor } from '../../cluster/hypervisors.js';
import { type JobView, jobViewSchema } from '../../cluster/job-views.js';
import { compressionTools, filledBeParams } from '../../cluster/model.js';
import type { BeParamsInput, NicSpecInput, Opcode } from '../../cluster/opcodes.js';
import { usableOsNames } from '../../cluster/os-validity.js';
import {
  fieldEntry,
  findField,
  type InstanceRow,
  instanceRows,
  listArguments,
  type NeededData,
  neededData,
  runQuery,
} from '../../cluster/query/index.js';
import type { ConfigView } from '../../cluster/views.js';
import { CorralError } from '../../common/errors.js';
import {
  type ConnectionArgs,
  connectionOptions,
  daemonCall,
  forceOption,
  type JobArgs,
  jobOptions,
  queryOptions,
  readConfig,
  runAndFollowChildren,
  runJobs,
  runOps,
} from '../cluster-client.js';
import { choose, confirm } from '../confirm.js';
import { diskModifications, nicModifications } from '../device-mod-args.js';
import {
  chosenFields,
  type ListArgs,
  listFieldsCommand,
  listOptions,
  pickNamed,
  printQuery,
  type ValueFormat,
} from '../fields.js';
import {
  compressionTool,
  groupMoveOptions,
  onlyKeys,
  parseBool,
  parseHvParams,
  parseIndexed,
  parseInteger,
  parseKeyValues,
  parseSizeMiB,
  targetGroupsOption,
} from '../ganeti-options.js';
import {
  instanceAddOnlyUnused,
  instanceAddUnused,
  instanceModifyUnused,
  reinstallUnused,
} from '../instance-options.js';
import {
  isMultiple,
  multipleQuestion,
  multipleRefusal,
  type SelectionArgs,
  selectInstances,
  selectionMode,
  selectionOptions,
} from '../instance-selection.js';
import { localTime } from '../local-time.js';
import { tryToRoman } from '../roman.js';
import { addUnusedOptions, checkUnusedOptions, noteOnStderr } from '../unused-options.js';
import { batchCreateCommand } from './batch-create.js';
import { recreateDisksCommand } from './recreate-disks.js';
import { tagCommands } from './tags.js';

const nodeName = (config: ConfigView, uuid: string) =>
  config.nodes.find((n) => n.uuid === uuid)?.name ?? uuid;

/** How a mirrored disk's primary sees its peer: in sync, syncing (how far), or degraded; '' for the others. */
function mirrorState(row: InstanceRow, disk: string): string {
  if (row.instance.mirror === undefined || row.ctx.live === undefined) return '';
  const pnode = nodeName(row.ctx.config, row.instance.primaryNode);
  const entry = row.ctx.live.get(pnode)?.status?.mirrors.find((m) => m.uuid === disk);
  const primary = entry?.primary;
  if (primary === undefined) return ', not attached (the instance is stopped)';
  if (primary.failed !== undefined) return `, failed: ${primary.failed}`;
  const degraded = primary.peerOutdated ? ', degraded (the secondary copy is stale)' : '';
  if (primary.connection === 'connected') return `, in sync${degraded}`;
  if (primary.connection === 'syncing')
    return `, syncing ${primary.syncPercent}% (${Math.ceil(primary.dirtyBytes / 1048576)} MiB to go)${degraded}`;
  return `, secondary not connected${degraded}`;
}

/** Ganeti's default columns of gnt-instance list. */
const defaultFields = ['name', 'hypervisor', 'os', 'pnode', 'status', 'oper_ram'];

/** Columns whose values need more than their kind to print. */
const formats: Record<string, ValueFormat> = {
  last_move: (value) => {
    const move = value as { job: number; time: number; how: string; why?: string };
    return moveText({
      job: move.job,
      atMs: move.time * 1000,
      how: move.how,
      ...(move.why && { why: move.why }),
    });
  },
};

/** The job records, for the instances' last moves. */
async function jobRecords(args: ConnectionArgs): Promise<JobView[]> {
  const { jobs } = await daemonCall(args)({ op: 'jobs', consistent: false });
  return jobs.map((job) => jobViewSchema.parse(job));
}

/** The instances as query rows, with the live status and job records only when asked for. */
async function rows(args: ConnectionArgs, needed: Omit<NeededData, 'observed'>): Promise<InstanceRow[]> {
  const { config, masterName } = await readConfig(args);
  const live = needed.live ? (await daemonCall(args)({ op: 'nodes-live' })).nodes : undefined;
  const jobs = needed.jobs ? await jobRecords(args) : undefined;
  return instanceRows({ config, masterName, live, jobs });
}

/** Restricts rows to the named instances, in the order named, refusing unknown names. */
function named(all: readonly InstanceRow[], names: readonly string[]): InstanceRow[] {
  const items = all.map((row) => ({ name: row.instance.name, row }));
  return pickNamed(items, names, 'instance').map((item) => item.row);
}

const list: CommandModule<object, ConnectionArgs & ListArgs & { instances: string[] }> = {
  command: 'list [instances..]',
  describe: 'list instances (Ganeti fields; -o, -F filter, --no-headers, --separator, --json)',
  builder: (yargs) =>
    listOptions(connectionOptions(yargs)).positional('instances', {
      type: 'string',
      array: true,
      default: [],
    }),
  handler: async (args) => {
    const fields = chosenFields('instance', defaultFields, args.output);
    const selection = listArguments(args.instances, args.filter);
    const filter = 'filter' in selection ? selection.filter : undefined;
    const all = await rows(args, neededData('instance', fields, filter));
    const picked = 'names' in selection ? named(all, selection.names) : all;
    printQuery(runQuery('instance', fields, filter, picked), args, formats);
  },
};

const listFields = listFieldsCommand('instance', 'instance');

const info: CommandModule<
  object,
  ConnectionArgs & { instances: string[]; static: boolean; all: boolean; roman: boolean }
> = {
  command: ['info [instances..]', 'show'],
  describe: 'details of instances',
  builder: (yargs) =>
    queryOptions(yargs)
      .positional('instances', { type: 'string', array: true, default: [] })
      .option('static', {
        alias: 's',
        type: 'boolean',
        default: false,
        describe: 'only what the config says',
      })
      .option('all', { type: 'boolean', default: false })
      .option('roman', { type: 'boolean', default: false, describe: 'numbers in roman numerals' }),
  handler: async (args) => {
    const num = (value: number) => (args.roman ? tryToRoman(value) : String(value));
    if (args.instances.length === 0 && !args.all)
      throw new CorralError('bad_request', 'name instances, or give --all');
    const statusField = findField('instance', 'status')!;
    const all = await rows(args, { live: !args.static, jobs: !args.static });
    for (const row of named(all, args.instances)) {
      const { instance } = row;
      const config = row.ctx.config;
      const moved = row.ctx.lastMoves?.get(instance.name);
      const params = filledBeParams(config.cluster, instance);
      const lines = [
        `Instance name: ${instance.name}`,
        `UUID: ${instance.uuid}`,
        `Serial number: ${num(instance.serial)}`,
        `Creation time: ${localTime(instance.ctimeMs)}`,
        `Modification time: ${localTime(instance.mtimeMs)}`,
        `State: configured to be ${instance.adminState}${args.static ? '' : `, actual state is ${fieldEntry(statusField, row)[1]}`}`,
        '  Nodes:',
        `    - primary: ${nodeName(config, instance.primaryNode)}`,
        `    - secondaries: ${instance.secondaryNodes.map((u) => nodeName(config, u)).join(', ')}`,
        `  Operating system: ${instance.os || '(none)'}`,
        `  Disk template: ${instance.diskTemplate}`,
        `  Hypervisor: ${instance.hypervisor}`,
        ...Object.entries(instance.hvParams).map(([k, v]) => `    - ${k}: ${v}`),
        '  Back-end parameters:',
        `    - always_failover: ${params.alwaysFailover}`,
        `    - auto_balance: ${params.autoBalance}`,
        `    - maxmem: ${num(params.maxmemMiB)}`,
        `    - minmem: ${num(params.minmemMiB)}`,
        `    - spindle_use: ${num(params.spindleUse)}`,
        `    - vcpus: ${num(params.vcpus)}`,
        '  OS parameters:',
        ...Object.entries({ ...instance.osParams, ...instance.osParamsPrivate }).map(
          ([k, v]) => `    - ${k}: ${v}`,
        ),
        '  NICs:',
        ...instance.nics.map(
          (nic, n) =>
            `    - nic/${num(n)}: MAC: ${nic.mac}, IP: ${nic.ip ?? 'None'}, mode: ${nic.mode}, link: ${nic.link}`,
        ),
        '  Disks:',
        ...instance.disks.map(
          (disk, n) =>
            `    - disk/${num(n)}: ${instance.diskTemplate}, size ${num(disk.sizeMiB)}M, mode ${disk.mode}, format ${disk.format}${disk.name ? `, name ${disk.name}` : ''}${mirrorState(row, disk.uuid)}`,
        ),
        ...(instance.mirror !== undefined
          ? [
              `  Mirror: generation ${instance.mirror.generation}, current on ${instance.mirror.current.map((u) => nodeName(config, u)).join(', ') || 'no node'}`,
            ]
          : []),
        ...(moved === undefined ? [] : [`  Last moved: ${moveText(moved)}`]),
        `  Tags: ${instance.tags.join(', ')}`,
        '',
      ];
      process.stdout.write(lines.join('\n'));
    }
  },
};

function moveText(move: { job: number; atMs: number; how: string; why?: string | undefined }): string {
  return `job ${move.job}, ${localTime(move.atMs)}: ${move.how}${move.why ? ` (${move.why})` : ''}`;
}

export interface AddArgs extends JobArgs {
  instance: string;
  'disk-template': string;
  disk: string[];
  'os-size'?: string;
  net: string[];
  /** --no-nics: yargs reads a --no-X flag as X = false. */
  nics: boolean;
  'os-type'?: string;
  'force-variant'?: boolean;
  backend: string[];
  hypervisor: string[];
  'os-parameters': string[];
  node?: string;
  iallocator?: string;
  'node-group'?: string;
  tags?: string;
  start?: boolean;
  install: boolean;
  'wait-for-sync': boolean;
  'os-parameters-private'?: string;
}

const DISK_KEYS = ['size', 'mode', 'name', 'format'];
const NIC_KEYS = ['mac', 'ip', 'mode', 'link', 'name'];
const BE_KEYS = ['memory', 'maxmem', 'minmem', 'vcpus', 'auto_balance', 'always_failover', 'spindle_use'];

function diskSpecs(values: readonly string[]) {
  return parseIndexed(values, '--disk').map((disk) => {
    onlyKeys(disk, DISK_KEYS, '--disk');
    if (disk.size === undefined) throw new CorralError('bad_request', '--disk: every disk needs size=');
    if (disk.mode !== undefined && disk.mode !== 'rw' && disk.mode !== 'ro')
      throw new CorralError('bad_request', `--disk: mode is rw or ro, not ${disk.mode}`);
    if (disk.format !== undefined && disk.format !== 'raw' && disk.format !== 'qcow2')
      throw new CorralError('bad_request', `--disk: format is raw or qcow2, not ${disk.format}`);
    return {
      size: parseSizeMiB(disk.size, '--disk size'),
      ...(disk.mode !== undefined && { mode: disk.mode as 'rw' | 'ro' }),
      ...(disk.name !== undefined && { name: disk.name }),
      ...(disk.format !== undefined && { format: disk.format as 'raw' | 'qcow2' }),
    };
  });
}

function beParams(values: readonly string[]): BeParamsInput | undefined {
  if (values.length === 0) return undefined;
  const raw = parseKeyValues(values.join(','), '-B');
  onlyKeys(raw, BE_KEYS, '-B');
  const out: BeParamsInput = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'memory' || key === 'maxmem' || key === 'minmem') out[key] = parseSizeMiB(value, `-B ${key}`);
    else if (key === 'vcpus' || key === 'spindle_use') out[key] = parseInteger(value, `-B ${key}`);
    else if (key === 'auto_balance' || key === 'always_failover') out[key] = parseBool(value, `-B ${key}`);
  }
  return out;
}

function hvOptions(values: readonly string[]): {
  hypervisor?: HypervisorName;
  params?: Record<string, string>;
} {
  if (values.length === 0) return {};
  let hypervisor: string | undefined;
  const params: Record<string, string> = {};
  for (const value of values) {
    const parsed = parseHvParams(value);
    if (parsed.hypervisor !== undefined) {
      if (hypervisor !== undefined && hypervisor !== parsed.hypervisor)
        throw new CorralError('bad_request', '-H names two hypervisors');
      hypervisor = parsed.hypervisor;
    }
    Object.assign(params, parsed.params);
  }
  if (hypervisor !== undefined && !isHypervisor(hypervisor))
    throw new CorralError(
      'bad_request',
      `-H: unknown hypervisor ${hypervisor}; known: ${hypervisors.join(', ')}`,
    );
  return { ...(hypervisor !== undefined && { hypervisor }), params };
}

function nicSpecs(values: readonly string[]): NicSpecInput[] {
  return parseIndexed(values, '--net').map((nic) => {
    onlyKeys(nic, NIC_KEYS, '--net');
    if (nic.mode !== undefined && !['bridged', 'routed', 'openvswitch', 'none'].includes(nic.mode))
      throw new CorralError(
        'bad_request',
        `--net: mode is bridged, routed, openvswitch or none, not ${nic.mode}`,
      );
    return nic as NicSpecInput;
  });
}

/**
 * An option given once or several times (`--disk 0:… --disk 1:…`). Not a yargs array option: those take every
 * following word, so `-B memory=1G web1` would swallow the instance name; a repeated flag collects instead.
 */
function repeatable<T, K extends string>(
  yargs: Argv<T>,
  name: K,
  alias: string | readonly string[] | undefined,
  describe: string,
) {
  return yargs.option(name, {
    ...(alias !== undefined && { alias: [alias].flat() }),
    type: 'string',
    default: [] as string[],
    coerce: (value: string | string[]) => [value].flat(),
    describe: `${describe} (repeatable)`,
  });
}

/** Instance add's -t, which it demands; backup import takes it too, but there it may come from the export. */
export const templateOption = {
  alias: 't',
  type: 'string',
  describe: 'diskless, file, sharedfile, plain, drbd (with -n PRIMARY:SECONDARY)',
} as const;

/** The options of instance add, which backup import shares; `template` is -t's, demanded or not. */
export function addOptions<T, const O extends typeof templateOption & { demandOption?: boolean }>(
  yargs: Argv<T>,
  template: O,
) {
  const y = jobOptions(yargs)
    .positional('instance', { type: 'string', demandOption: true })
    .option('disk-template', template)
    .option('os-size', { alias: 's', type: 'string', describe: 'one disk of this size (512M, 10G)' })
    .option('os-type', { alias: 'o', type: 'string', describe: 'OS[+variant]' })
    .option('force-variant', forceVariantOption)
    .option('node', { alias: 'n', type: 'string', describe: 'primary node (default: the allocator picks)' })
    .option('iallocator', {
      alias: 'I',
      type: 'string',
      describe: "place with this iallocator program (name or path, e.g. hail; '.' is the built-in one)",
    })
    .option('node-group', {
      alias: 'g',
      type: 'string',
      describe: 'the allocator places the instance in this node group (not with -n)',
    })
    .option('tags', { type: 'string', describe: 'comma-separated tags' })
    .option('nics', { type: 'boolean', default: true, describe: '--no-nics: an instance without NICs' })
    .option('start', { type: 'boolean', describe: '--no-start: create it stopped' })
    .option('install', {
      type: 'boolean',
      default: true,
      describe: '--no-install: skip the OS create script',
    })
    .option('wait-for-sync', {
      type: 'boolean',
      default: true,
      describe: "--no-wait-for-sync: end before a drbd instance's new disks are in sync",
    });
  const disks = repeatable(y, 'disk', undefined, 'N:size=SIZE[,mode=rw|ro][,name=X][,format=raw|qcow2]');
  const nets = repeatable(disks, 'net', undefined, 'N:[mac=X|generate][,ip=IP][,mode=M][,link=L][,name=X]');
  const backend = repeatable(nets, 'backend', backendAliases, 'memory=SIZE,vcpus=N,…');
  return privateParamsOption(
    conflictsCheckOption(
      noDnsChecks(
        ignoreIpolicyOption(
          repeatable(
            repeatable(
              addUnusedOptions(backend, instanceAddUnused),
              'hypervisor',
              hypervisorAliases,
              '[hv:]k=v,…',
            ),
            'os-parameters',
            'O',
            'k=v,…',
          ),
        ),
      ),
    ),
  );
}

/** Ganeti's --force-variant (instance add, modify, reinstall and backup import). */
const forceVariantOption = {
  type: 'boolean',
  default: false,
  describe: 'use an OS variant the OS does not list in its variants.list',
} as const;

/** The opcode field --force-variant sets. */
export function forceVariantField(args: { readonly 'force-variant'?: boolean }): { force_variant?: true } {
  return args['force-variant'] === true ? { force_variant: true } : {};
}

/** Ganeti's --os-parameters-private (add, modify, reinstall, import): OS parameters no view shows. */
function privateParamsOption<T>(yargs: Argv<T>) {
  return yargs.option('os-parameters-private', {
    type: 'string',
    describe: 'k=v,…: OS parameters the OS scripts get, which instance info and job info show as <redacted>',
  });
}

/** The opcode field of --os-parameters-private, when given. */
function privateParamsField(value: string | undefined): { osparams_private?: Record<string, string> } {
  return value === undefined ? {} : { osparams_private: parseKeyValues(value, '--os-parameters-private') };
}

/** Ganeti's --no-conflicts-check (add, modify): its check is of IPs within networks, which Corral has not. */
function conflictsCheckOption<T>(yargs: Argv<T>) {
  return yargs.option('conflicts-check', {
    type: 'boolean',
    default: true,
    describe:
      "--no-conflicts-check: accepted for Ganeti's command lines; Corral has no networks to check IPs in",
  });
}

/** Ganeti's -B and -H with their long names (Corral's own were --backend and --hypervisor). */
const backendAliases = ['B', 'backend-parameters'];
const hypervisorAliases = ['H', 'hypervisor-parameters'];

/** Ganeti's --no-name-check and --no-ip-check: Corral resolves no names and pings no IPs, so they change nothing. */
export function noDnsChecks<T>(yargs: Argv<T>) {
  return yargs
    .option('name-check', {
      type: 'boolean',
      default: true,
      describe: "--no-name-check: accepted for Ganeti's command lines; Corral does no DNS checks",
    })
    .option('ip-check', {
      type: 'boolean',
      default: true,
      describe: "--no-ip-check: accepted for Ganeti's command lines; Corral does no DNS or ping checks",
    });
}

/** Ganeti's --ignore-ipolicy: Corral's one instance policy, the group's disk templates, is always kept. */
export function ignoreIpolicyOption<T>(yargs: Argv<T>) {
  return yargs.option('ignore-ipolicy', {
    type: 'boolean',
    default: false,
    describe:
      "accepted for Ganeti's command lines; Corral's only instance policy (the group's disk templates) still holds",
  });
}

/** -t's value, checked. */
function templateName(template: string): CorralDiskTemplate {
  if (!isCorralDiskTemplate(template))
    throw new CorralError(
      'bad_request',
      `-t: unknown disk template ${template}; known: ${corralDiskTemplates.join(', ')}`,
    );
  return template;
}

/** The create opcode of instance add's options; only what was given is set, so that an import can fill the rest. */
export function createOpcode(args: AddArgs): Extract<Opcode, { OP_ID: 'OP_INSTANCE_CREATE' }> {
  const template = templateName(args['disk-template']);
  if (args['os-size'] !== undefined && args.disk.length > 0)
    throw new CorralError('bad_request', 'give either -s or --disk, not both');
  const disks =
    args['os-size'] !== undefined ? [{ size: parseSizeMiB(args['os-size'], '-s') }] : diskSpecs(args.disk);
  if (!args.nics && args.net.length > 0)
    throw new CorralError('bad_request', 'give either --no-nics or --net');
  const [pnode, snode] = (args.node ?? '').split(':');
  const hv = hvOptions(args.hypervisor);
  const be = beParams(args.backend);
  const osParams =
    args['os-parameters'].length > 0 ? parseKeyValues(args['os-parameters'].join(','), '-O') : undefined;
  return {
    OP_ID: 'OP_INSTANCE_CREATE',
    instance_name: args.instance,
    disk_template: template,
    disks,
    ...(!args.nics ? { nics: [] } : args.net.length > 0 ? { nics: nicSpecs(args.net) } : {}),
    ...(args['os-type'] !== undefined && { os_type: args['os-type'] }),
    ...forceVariantField(args),
    ...(osParams !== undefined && { osparams: osParams }),
    ...privateParamsField(args['os-parameters-private']),
    ...(be !== undefined && { beparams: be }),
    ...(hv.hypervisor !== undefined && { hypervisor: hv.hypervisor }),
    ...(hv.params !== undefined && Object.keys(hv.params).length > 0 && { hvparams: hv.params }),
    ...(pnode ? { pnode } : {}),
    ...(snode ? { snode } : {}),
    ...(args.iallocator !== undefined && { iallocator: args.iallocator }),
    ...(args['node-group'] !== undefined && { group_name: args['node-group'] }),
    ...(args.tags !== undefined && { tags: args.tags.split(',').filter((t) => t.length > 0) }),
    ...(!args.install && { no_install: true }),
    ...(!args['wait-for-sync'] && { wait_for_sync: false }),
    // Ganeti: --no-install implies --no-start unless a start is asked for.
    start: args.start ?? args.install,
  };
}

const add: CommandModule<object, AddArgs> = {
  command: 'add <instance>',
  describe: 'create an instance: disks, OS install, start (gnt-instance add)',
  builder: (yargs) =>
    addUnusedOptions(addOptions(yargs, { ...templateOption, demandOption: true }), instanceAddOnlyUnused),
  handler: async (args) => {
    checkUnusedOptions(args, [...instanceAddUnused, ...instanceAddOnlyUnused], noteOnStderr);
    await runOps(args, [createOpcode(args)]);
  },
};

export type NamedArgs = JobArgs & { instance: string };

/** A command on one instance whose options make one opcode: `opcode` builds it from the options as typed. */
export function simple<A extends NamedArgs>(
  command: string | string[],
  describe: string,
  options: (yargs: Argv<NamedArgs>) => Argv<A>,
  opcode: (args: ArgumentsCamelCase<A>) => Opcode,
): CommandModule<object, A> {
  return {
    command,
    describe,
    builder: (yargs) =>
      options(jobOptions(yargs).positional('instance', { type: 'string', demandOption: true })),
    handler: async (args) => {
      const results = await runOps(args, [opcode(args)]);
      for (const result of results ?? []) {
        const disks = (result as { disks?: unknown })?.disks;
        if (Array.isArray(disks)) for (const line of disks) process.stdout.write(`${String(line)}\n`);
      }
    },
  };
}

export const timeoutOption =
  <K extends string>(name: K) =>
  <T>(yargs: Argv<T>) =>
    yargs.option(name, {
      type: 'number',
      describe: 'seconds before the instance is killed (default 120)',
    });

/**
 * Ganeti's shutdown timeouts are seconds, as its code uses them (its man pages say minutes; a script written
 * against Ganeti passes seconds).
 */
export function timeoutSeconds(value: unknown, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 86_400)
    throw new CorralError(
      'bad_request',
      `--${option} is a whole number of seconds from 0 to 86400, not ${String(value)}`,
    );
  return value;
}

/** Before asking about an instance: it exists (Ganeti checks too, so that nobody is asked about a typo). */
async function requireInstance(args: ConnectionArgs, name: string): Promise<void> {
  const { config } = await readConfig(args);
  if (!config.instances.some((instance) => instance.name === name))
    throw new CorralError('not_found', `instance ${name} does not exist`);
}

/** Ganeti's question before a remove, unless -f: the disks go with the instance. */
const remove: CommandModule<
  object,
  NamedArgs & { force: boolean; 'ignore-failures': boolean; 'shutdown-timeout'?: number }
> = {
  command: 'remove <instance>',
  describe: 'remove an instance and its disks (asks first, unless -f)',
  builder: (yargs) =>
    timeoutOption('shutdown-timeout')(
      forceOption(
        jobOptions(yargs).positional('instance', { type: 'string', demandOption: true }),
        'do not ask for confirmation',
      ).option('ignore-failures', { type: 'boolean', default: false }),
    ),
  handler: async (args) => {
    const timeout = timeoutSeconds(args['shutdown-timeout'], 'shutdown-timeout');
    if (!args.force) {
      await requireInstance(args, args.instance);
      await confirm(
        `This will remove the volumes of the instance ${args.instance} (including mirrors), thus removing all the data of the instance. Continue?`,
        `instance remove deletes the disks of ${args.instance}: give -f to remove it without being asked`,
      );
    }
    await runOps(args, [
      {
        OP_ID: 'OP_INSTANCE_REMOVE',
        instance_name: args.instance,
        ...(args['ignore-failures'] && { ignore_failures: true }),
        ...(timeout !== undefined && { shutdown_timeout: timeout }),
      },
    ]);
  },
};

/** Ganeti's --ignore-offline of startup and shutdown. */
function ignoreOfflineOption(state: 'up' | 'down') {
  return {
    type: 'boolean',
    default: false,
    describe: `with the primary node offline, only record the instance as ${state} (nothing runs or stops)`,
  } as const;
}

/** Ganeti's --no-remember (yargs reads --no-X as X = false): the change is not recorded as the admin state. */
const rememberOption = {
  type: 'boolean',
  default: true,
  describe: '--no-remember: do not record the new state (the watcher will undo it)',
} as const;

export type ManyArgs = JobArgs & SelectionArgs & { instances: string[]; force: boolean };

/**
 * Ganeti's commands on one instance or many (startup, shutdown, reboot, reinstall): the arguments are read
 * by the selector given (instance names by default). One instance named makes one job, as before; a
 * selection makes one job per instance, after a confirmation unless --force-multiple or -f.
 */
function many<A extends ManyArgs>(
  command: string | string[],
  describe: string,
  verb: string,
  options: (yargs: Argv<ManyArgs>) => Argv<A>,
  opcode: (args: ArgumentsCamelCase<A>, instance: string) => Opcode,
  single?: (args: ArgumentsCamelCase<A>, instance: string) => Promise<void>,
  /** Once, before anything else: what the command asks or checks of the options as a whole. */
  prepare?: (args: ArgumentsCamelCase<A>) => Promise<Partial<A>>,
): CommandModule<object, A> {
  return {
    command,
    describe,
    builder: (yargs) =>
      options(
        selectionOptions(
          jobOptions(yargs).positional('instances', { type: 'string', array: true, default: [] }),
        ) as unknown as Argv<ManyArgs>,
      ),
    handler: async (given) => {
      const args = { ...given, ...(await prepare?.(given)) };
      const mode = selectionMode(args);
      const config = mode === 'instance' ? undefined : (await readConfig(args)).config;
      const instances = selectInstances(mode, args.instances, config);
      if (instances.length === 0) {
        if (mode === 'all') {
          process.stdout.write(`Cluster is empty, no instances to ${verb}\n`);
          return;
        }
        throw new CorralError('bad_request', 'the selection matches no instance');
      }
      // Every opcode is made (and its options checked) before anyone is asked anything.
      const jobs = instances.map((name) => ({ name, ops: [opcode(args, name)] }));
      if (!isMultiple(mode, instances)) {
        await single?.(args, instances[0]!);
        await runOps(args, jobs[0]!.ops);
        return;
      }
      if (!args['force-multiple'] && !args.force)
        await confirm(multipleQuestion(verb, instances), multipleRefusal(verb, instances));
      await runJobs(args, jobs);
    },
  };
}

/** Ganeti's -H and -B of startup: parameters for this start only, which Corral has no way to apply. */
function noOneOffParams(args: { backend: string[]; hypervisor: string[] }): void {
  if (args.backend.length > 0 || args.hypervisor.length > 0)
    throw new CorralError(
      'bad_request',
      'Corral cannot start an instance with one-off -H/-B parameters: change them with instance modify, then start it',
    );
}

const startup = many(
  ['startup [instances..]', 'start'],
  'start instances on their primary nodes',
  'startup',
  (y) =>
    repeatable(
      repeatable(y, 'backend', backendAliases, 'not taken: Corral has no one-off parameters'),
      'hypervisor',
      hypervisorAliases,
      'not taken: Corral has no one-off parameters',
    )
      .option('force', {
        alias: 'f',
        type: 'boolean',
        default: false,
        describe: "Ganeti's force (hooks see it as FORCE); do not ask before starting several",
      })
      .option('remember', rememberOption)
      .option('paused', { type: 'boolean', default: false })
      .option('ignore-offline', ignoreOfflineOption('up')),
  (a, instance) => {
    noOneOffParams(a);
    return {
      OP_ID: 'OP_INSTANCE_STARTUP',
      instance_name: instance,
      ...(a.force && { force: true }),
      ...(a.remember === false && { no_remember: true }),
      ...(a.paused === true && { paused: true }),
      ...(a['ignore-offline'] && { ignore_offline_nodes: true }),
    };
  },
);

const shutdown = many(
  ['shutdown [instances..]', 'stop'],
  'shut instances down (clean, then forced after the timeout)',
  'shutdown',
  (y) =>
    timeoutOption('timeout')(
      forceOption(y, 'do not ask before shutting down several')
        .option('remember', rememberOption)
        .option('ignore-offline', ignoreOfflineOption('down')),
    ),
  (a, instance) => ({
    OP_ID: 'OP_INSTANCE_SHUTDOWN',
    instance_name: instance,
    ...(a['ignore-offline'] && { ignore_offline_nodes: true }),
    ...(timeoutSeconds(a.timeout, 'timeout') !== undefined && {
      timeout: timeoutSeconds(a.timeout, 'timeout'),
    }),
    ...(a.remember === false && { no_remember: true }),
  }),
);

const reboot = many(
  'reboot [instances..]',
  'reboot instances (soft, hard or full)',
  'reboot',
  (y) =>
    timeoutOption('shutdown-timeout')(
      forceOption(y, 'do not ask before rebooting several')
        .option('type', {
          alias: 't',
          choices: ['soft', 'hard', 'full'] as const,
          default: 'hard' as const,
        })
        .option('ignore-secondaries', {
          type: 'boolean',
          default: false,
          describe: 'a full reboot of a drbd instance goes ahead though its secondary does not answer',
        }),
    ),
  (a, instance) => ({
    OP_ID: 'OP_INSTANCE_REBOOT',
    instance_name: instance,
    reboot_type: a.type,
    ...(a['ignore-secondaries'] && { ignore_secondaries: true }),
    ...(timeoutSeconds(a['shutdown-timeout'], 'shutdown-timeout') !== undefined && {
      shutdown_timeout: timeoutSeconds(a['shutdown-timeout'], 'shutdown-timeout'),
    }),
  }),
);

const modify = simple(
  'modify <instance>',
  'change parameters, NICs and disks, the primary node or runtime memory; mark offline or online (most changes apply at the next start)',
  (y) => {
    const backend = repeatable(y, 'backend', backendAliases, 'memory=SIZE,vcpus=N,…');
    const hv = repeatable(backend, 'hypervisor', hypervisorAliases, 'k=v,… (value default drops a setting)');
    const disks = repeatable(
      repeatable(hv, 'os-parameters', 'O', 'k=v,…'),
      'disk',
      undefined,
      'add:size=SIZE[,mode=…][,name=…], N:add,size=…, [N:]remove, N:modify,mode=ro|rw,name=… (N: index, name or UUID)',
    );
    return ignoreIpolicyOption(
      forceOption(
        repeatable(
          privateParamsOption(conflictsCheckOption(addUnusedOptions(disks, instanceModifyUnused))),
          'net',
          undefined,
          'add[:mac=…,ip=…,mode=…,link=…,name=…], N:add,…, [N:]remove, N:modify,… or N:k=v,… (N: index, name or UUID)',
        ),
        '--new-primary: skip the check that the instance stopped when its node cannot be asked; -m: allow memory outside minmem..maxmem',
      ),
    )
      .option('wait-for-sync', {
        type: 'boolean',
        default: true,
        describe: "--no-wait-for-sync: accepted for Ganeti's command lines; a conversion to drbd waits",
      })
      .option('os-type', { alias: 'o', type: 'string' })
      .option('force-variant', forceVariantOption)
      .option('disk-template', {
        alias: 't',
        type: 'string',
        describe: 'convert the stopped instance to drbd (with -n) or back to file or plain',
      })
      .option('node', { alias: 'n', type: 'string', describe: 'the secondary node of a conversion to drbd' })
      .option('iallocator', {
        alias: 'I',
        type: 'string',
        describe: "or the allocator that chooses it (name or path; '.' is the cluster's default)",
      })
      .option('new-primary', {
        type: 'string',
        describe: 'the new primary node of a stopped sharedfile or diskless instance',
      })
      .option('runtime-memory', {
        alias: 'm',
        type: 'string',
        describe: "balloon the running instance's memory to SIZE (within minmem..maxmem)",
      })
      .option('hotplug', {
        type: 'boolean',
        default: false,
        describe: 'hot-plug NIC and disk changes into the running instance (refused: Corral cannot yet)',
      })
      .option('hotplug-if-possible', {
        type: 'boolean',
        default: false,
        describe: 'hot-plug if possible, else apply the NIC and disk changes at the next start',
      })
      .option('offline', { type: 'boolean', describe: 'mark the stopped instance offline' })
      .option('online', { type: 'boolean', describe: 'bring an offline instance back (as down)' });
  },
  (a) => {
    checkUnusedOptions(a, instanceModifyUnused, noteOnStderr);
    const nics = nicModifications(a.net);
    const disks = diskModifications(a.disk);
    const hv = hvOptions(a.hypervisor);
    if (hv.hypervisor !== undefined)
      throw new CorralError('bad_request', 'the hypervisor of an instance cannot change; give -H k=v only');
    const be = beParams(a.backend);
    const osParams = a['os-parameters'];
    if (a.offline === true && a.online === true)
      throw new CorralError('bad_request', 'give --offline or --online, not both');
    if (a.hotplug && a['hotplug-if-possible'])
      throw new CorralError('bad_request', 'give --hotplug or --hotplug-if-possible, not both');
    const runtimeMem = a['runtime-memory'];
    return {
      OP_ID: 'OP_INSTANCE_SET_PARAMS',
      instance_name: a.instance,
      ...(be !== undefined && { beparams: be }),
      ...(hv.params !== undefined && { hvparams: hv.params }),
      ...(osParams.length > 0 && { osparams: parseKeyValues(osParams.join(','), '-O') }),
      ...privateParamsField(a['os-parameters-private']),
      ...(typeof a['os-type'] === 'string' && { os_name: a['os-type'] }),
      ...forceVariantField(a),
      ...(nics.length > 0 && { nics }),
      ...(disks.length > 0 && { disks }),
      ...(a['disk-template'] !== undefined && { disk_template: templateName(a['disk-template']) }),
      ...(a.node !== undefined && { remote_node: a.node }),
      ...(a.iallocator !== undefined && { iallocator: a.iallocator }),
      ...(a['new-primary'] !== undefined && { pnode: a['new-primary'] }),
      ...(runtimeMem !== undefined && { runtime_mem: parseSizeMiB(runtimeMem, '--runtime-memory') }),
      ...(a.force && { force: true }),
      ...(a.hotplug && { hotplug: true }),
      ...(a['hotplug-if-possible'] && { hotplug_if_possible: true }),
      ...(a.offline === true && { offline: true }),
      ...(a.online === true && { offline: false }),
    };
  },
);

const growDisk: CommandModule<object, NamedArgs & { disk: number; amount: string; absolute: boolean }> = {
  command: 'grow-disk <instance> <disk> <amount>',
  describe: 'grow a disk by AMOUNT (or to it, with --absolute); disks never shrink',
  builder: (yargs) =>
    jobOptions(yargs)
      .positional('instance', { type: 'string', demandOption: true })
      .positional('disk', { type: 'number', demandOption: true })
      .positional('amount', { type: 'string', demandOption: true })
      .option('absolute', { type: 'boolean', default: false })
      .option('wait-for-sync', {
        type: 'boolean',
        default: true,
        describe:
          "--no-wait-for-sync: accepted for Ganeti's command lines; the job ends once the disk has grown",
      })
      .option('ignore-ipolicy', {
        type: 'boolean',
        default: false,
        describe: "accepted for Ganeti's command lines; Corral's policy has no disk size limits",
      }),
  handler: async (args) => {
    if (!Number.isInteger(args.disk) || args.disk < 0)
      throw new CorralError('bad_request', `disk index ${args.disk} is not a whole number`);
    await runOps(args, [
      {
        OP_ID: 'OP_INSTANCE_GROW_DISK',
        instance_name: args.instance,
        disk: args.disk,
        amount: parseSizeMiB(args.amount, 'amount'),
        ...(args.absolute && { absolute: true }),
      },
    ]);
  },
};

const reinstall = many(
  'reinstall [instances..]',
  'run the OS create script again on stopped instances; their data is lost (asks first, unless -f)',
  'reinstall',
  (y) =>
    forceOption(
      privateParamsOption(addUnusedOptions(repeatable(y, 'os-parameters', 'O', 'k=v,…'), reinstallUnused))
        .option('os-type', { alias: 'o', type: 'string' })
        .option('force-variant', forceVariantOption)
        .option('select-os', {
          type: 'boolean',
          default: false,
          describe: 'choose the OS from a numbered list of those valid on every node (needs a terminal)',
        }),
      'do not ask for confirmation',
    ),
  (a, instance) => ({
    OP_ID: 'OP_INSTANCE_REINSTALL',
    instance_name: instance,
    ...(typeof a['os-type'] === 'string' && { os_type: a['os-type'] }),
    ...forceVariantField(a),
    ...(a['os-parameters'].length > 0 && {
      osparams: parseKeyValues(a['os-parameters'].join(','), '-O'),
    }),
    ...privateParamsField(a['os-parameters-private']),
  }),
  // Ganeti asks before one reinstall too, unless -f (or --force-multiple, a stronger -f).
  async (a, instance) => {
    if (a.force || a['force-multiple']) return;
    await requireInstance(a, instance);
    const os = typeof a['os-type'] === 'string' ? `change the OS to '${a['os-type']}'` : 'keep the same OS';
    await confirm(
      `This will reinstall the instance '${instance}' (and ${os}) which removes all data. Continue?`,
      `instance reinstall erases the data of ${instance}: give -f to reinstall it without being asked`,
    );
  },
  async (a) => {
    checkUnusedOptions(a, reinstallUnused, noteOnStderr);
    if (!a['select-os']) return {};
    if (a['os-type'] !== undefined) throw new CorralError('bad_request', 'give -o or --select-os, not both');
    return { 'os-type': await selectOs(a) };
  },
);

/** Ganeti's --select-os: the OSes valid on every node, numbered on stdout, and the one the user picks. */
async function selectOs(args: ConnectionArgs): Promise<string> {
  const { nodes } = await daemonCall(args)({ op: 'os-diagnose' });
  const names = usableOsNames(nodes);
  if (names.length === 0)
    throw new CorralError('not_found', 'no OS is valid on every node (see os diagnose)');
  process.stdout.write('Available OS templates:\n');
  for (const [number, name] of names.entries())
    process.stdout.write(`${String(number).padStart(3)}: ${name}\n`);
  return choose(
    'Enter OS template number (or x to abort):',
    names,
    '--select-os asks which OS to install, and stdin is not a terminal: give the OS with -o',
  );
}

const rename: CommandModule<object, NamedArgs & { 'new-name': string }> = {
  command: 'rename <instance> <new-name>',
  describe: 'rename a stopped instance (runs the OS rename script)',
  builder: (yargs) =>
    noDnsChecks(
      forceOption(
        jobOptions(yargs)
          .positional('instance', { type: 'string', demandOption: true })
          .positional('new-name', { type: 'string', demandOption: true }),
        "accepted for Ganeti's command lines: Corral does not ask before a rename",
      ),
    ),
  handler: async (args) => {
    await runOps(args, [
      { OP_ID: 'OP_INSTANCE_RENAME', instance_name: args.instance, new_name: args['new-name'] },
    ]);
  },
};

const activateDisks = simple(
  'activate-disks <instance>',
  "check the instance's disks and print node:disk/N:path",
  (y) =>
    y
      .option('wait-for-sync', {
        type: 'boolean',
        default: false,
        describe: "end only once a drbd instance's copies are in sync",
      })
      .option('ignore-size', {
        type: 'boolean',
        default: false,
        describe: 'check that the disks are there, not that they have the size the config records',
      }),
  (a) => ({
    OP_ID: 'OP_INSTANCE_ACTIVATE_DISKS',
    instance_name: a.instance,
    ...(a['wait-for-sync'] && { wait_for_sync: true }),
    ...(a['ignore-size'] && { ignore_size: true }),
  }),
);

const deactivateDisks = simple(
  'deactivate-disks <instance>',
  'mark the disks of a stopped instance inactive',
  (y) => y.option('force', { alias: 'f', type: 'boolean', default: false }),
  (a) => ({
    OP_ID: 'OP_INSTANCE_DEACTIVATE_DISKS',
    instance_name: a.instance,
    ...(a.force === true && { force: true }),
  }),
);

/**
 * Ganeti's -f and --ignore-ipolicy of failover, migrate and move. Ganeti asks before these; Corral does not,
 * and its only instance policy (the group's disk templates) holds on every node of a group.
 */
function notAsked<T>(yargs: Argv<T>, what: string) {
  return ignoreIpolicyOption(
    forceOption(yargs, `accepted for Ganeti's command lines: Corral does not ask before a ${what}`),
  );
}

/** Where failover and migrate go: a node (-n), or the allocator's choice (-I; '.' or none: the default one). */
function targetOptions<T>(yargs: Argv<T>) {
  return yargs.option('target-node', { alias: 'n', type: 'string' }).option('iallocator', {
    alias: 'I',
    type: 'string',
    describe: "pick the target with this iallocator (name or path; '.' is the cluster's default)",
  });
}

function moveTarget(a: { 'target-node'?: string; iallocator?: string }) {
  if (a['target-node'] !== undefined && a.iallocator !== undefined)
    throw new CorralError('bad_request', 'give a target node (-n) or an iallocator (-I), not both');
  return {
    ...(a['target-node'] !== undefined && { target_node: a['target-node'] }),
    ...(a.iallocator !== undefined && { iallocator: a.iallocator }),
  };
}

const migrate = simple(
  'migrate <instance>',
  'live-migrate a running instance to another node (shared storage)',
  (y) =>
    targetOptions(notAsked(y, 'migration'))
      .option('non-live', { type: 'boolean', default: false })
      .option('migration-mode', { choices: ['live', 'non-live'] as const })
      .option('cleanup', {
        type: 'boolean',
        default: false,
        describe: 'settle a migration a master crash cut short',
      })
      .option('allow-failover', { type: 'boolean', default: false })
      .option('runtime-changes', {
        type: 'boolean',
        default: true,
        describe:
          "--no-runtime-changes: refuse rather than balloon the instance's memory down to what the target has free",
      })
      .option('ignore-hvversions', {
        type: 'boolean',
        default: false,
        describe: "migrate between nodes whose node agents (Corral's hypervisor side) differ in version",
      }),
  (a) => ({
    OP_ID: 'OP_INSTANCE_MIGRATE',
    instance_name: a.instance,
    mode: a['non-live'] === true ? 'non-live' : (a['migration-mode'] ?? 'live'),
    ...moveTarget(a),
    ...(a.cleanup === true && { cleanup: true }),
    ...(a['allow-failover'] === true && { allow_failover: true }),
    ...(a['runtime-changes'] === false && { allow_runtime_changes: false }),
    ...(a['ignore-hvversions'] === true && { ignore_hvversions: true }),
  }),
);

const failover = simple(
  'failover <instance>',
  'stop the instance, switch its primary node, start it again if it was up',
  (y) =>
    timeoutOption('shutdown-timeout')(
      targetOptions(notAsked(y, 'failover'))
        .option('ignore-consistency', { type: 'boolean', default: false })
        .option('cleanup', {
          type: 'boolean',
          default: false,
          describe: 'instead of a failover, find where the instance runs after one cut short and record it',
        }),
    ),
  (a) => ({
    OP_ID: 'OP_INSTANCE_FAILOVER',
    instance_name: a.instance,
    ...moveTarget(a),
    ...(a['ignore-consistency'] === true && { ignore_consistency: true }),
    ...(a.cleanup === true && { cleanup: true }),
    ...(timeoutSeconds(a['shutdown-timeout'], 'shutdown-timeout') !== undefined && {
      shutdown_timeout: timeoutSeconds(a['shutdown-timeout'], 'shutdown-timeout'),
    }),
  }),
);

const replaceDisks = simple(
  'replace-disks <instance>',
  "remake a copy of a drbd instance's disks, or move its secondary to another node",
  (y) =>
    y
      .option('on-primary', { alias: 'p', type: 'boolean', default: false })
      .option('on-secondary', { alias: 's', type: 'boolean', default: false })
      .option('new-secondary', { alias: 'n', type: 'string' })
      .option('iallocator', { alias: 'I', type: 'string' })
      .option('auto', { alias: 'a', type: 'boolean', default: false })
      .option('disks', { type: 'string', describe: 'all the disks, as 0,1,…: Corral replaces them together' })
      .option('early-release', { type: 'boolean', default: false })
      .option('ignore-ipolicy', { type: 'boolean', default: false }),
  (a) => {
    const modes = [
      a['on-primary'] && ('replace_on_primary' as const),
      a['on-secondary'] && ('replace_on_secondary' as const),
      (a['new-secondary'] !== undefined || a.iallocator !== undefined) && ('replace_new_secondary' as const),
      a.auto && ('replace_auto' as const),
    ].filter((mode) => mode !== false);
    const [mode] = modes;
    if (modes.length !== 1 || mode === undefined)
      throw new CorralError('bad_request', 'give exactly one of -p, -s, -n NODE, -I NAME, -a');
    return {
      OP_ID: 'OP_INSTANCE_REPLACE_DISKS',
      instance_name: a.instance,
      mode,
      ...(a['new-secondary'] !== undefined && { remote_node: a['new-secondary'] }),
      ...(a.iallocator !== undefined && { iallocator: a.iallocator }),
      ...(a.disks !== undefined && { disks: diskIndices(a.disks) }),
      ...(a['early-release'] && { early_release: true }),
      ...(a['ignore-ipolicy'] && { ignore_ipolicy: true }),
    };
  },
);

/** `--disks 0,2`: disk indices. */
function diskIndices(value: string): number[] {
  return value.split(',').map((part) => {
    const index = Number(part);
    if (!/^\d+$/.test(part) || index > 15)
      throw new CorralError('bad_request', `--disks takes disk indices such as 0,1, not ${value}`);
    return index;
  });
}

const move = simple(
  'move <instance>',
  "copy the instance's disks to another node and start it there",
  (y) =>
    timeoutOption('shutdown-timeout')(
      notAsked(y, 'move')
        .option('target-node', { alias: ['n', 'node'], type: 'string', demandOption: true })
        .option('ignore-consistency', {
          type: 'boolean',
          default: false,
          describe: 'copy the disks even if the instance cannot be stopped cleanly on its node',
        })
        .option('compress', {
          type: 'string',
          describe: `${compressionTools.join(', ')}: Ganeti's names are taken, but Corral copies disks uncompressed`,
        }),
    ),
  (a) => ({
    OP_ID: 'OP_INSTANCE_MOVE',
    instance_name: a.instance,
    target_node: a['target-node'],
    ...(a['ignore-consistency'] && { ignore_consistency: true }),
    ...(a.compress !== undefined && { compress: compressionTool(a.compress, '--compress') }),
    ...(timeoutSeconds(a['shutdown-timeout'], 'shutdown-timeout') !== undefined && {
      shutdown_timeout: timeoutSeconds(a['shutdown-timeout'], 'shutdown-timeout'),
    }),
  }),
);

const consoleCommand: CommandModule<object, ConnectionArgs & { instance: string; 'show-cmd': boolean }> = {
  command: 'console <instance>',
  describe: "attach to the instance's serial console, from any node; Ctrl-] detaches",
  builder: (yargs) =>
    queryOptions(yargs).positional('instance', { type: 'string', demandOption: true }).option('show-cmd', {
      type: 'boolean',
      default: false,
      describe: 'print the command instead',
    }),
  handler: async (args) => {
    const { path } = await daemonCall(args)({ op: 'console', instance: args.instance });
    if (args['show-cmd']) {
      process.stdout.write(`socat stdin,raw,echo=0,escape=0x1d unix-connect:${path}\n`);
      return;
    }
    await attach(path);
  },
};

/** Joins the terminal to the console socket until Ctrl-] or the socket closes. */
function attach(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const stdin = process.stdin;
    const restore = () => {
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
    };
    socket.once('error', (error) => {
      restore();
      reject(new CorralError('unavailable', `cannot open the console at ${path}: ${error.message}`));
    });
    socket.once('connect', () => {
      if (stdin.isTTY) stdin.setRawMode(true);
      stdin.on('data', (chunk: Buffer) => {
        if (chunk.includes(0x1d)) {
          socket.end();
          return;
        }
        socket.write(chunk);
      });
      stdin.resume();
    });
    socket.pipe(process.stdout);
    socket.once('close', () => {
      restore();
      resolve();
    });
  });
}

const changeGroup: CommandModule<
  object,
  NamedArgs & { to?: string | string[]; iallocator?: string; 'early-release': boolean }
> = {
  command: 'change-group <instance>',
  describe: "move the instance to another node group's nodes, as the allocator plans (one job, followed)",
  builder: (yargs) =>
    groupMoveOptions(jobOptions(yargs).positional('instance', { type: 'string', demandOption: true })),
  handler: async (args) => {
    await runAndFollowChildren(args, {
      OP_ID: 'OP_INSTANCE_CHANGE_GROUP',
      instance_name: args.instance,
      ...targetGroupsOption(args.to),
      ...(args.iallocator !== undefined && { iallocator: args.iallocator }),
      ...(args['early-release'] && { early_release: true }),
    });
  },
};

const instanceCommands: CommandModule[] = [
  add,
  remove,
  startup,
  shutdown,
  reboot,
  modify,
  growDisk,
  reinstall,
  rename,
  activateDisks,
  deactivateDisks,
  migrate,
  failover,
  replaceDisks,
  recreateDisksCommand,
  move,
  changeGroup,
  batchCreateCommand,
  consoleCommand,
  list,
  listFields,
  info,
  ...tagCommands('instance'),
] as CommandModule[];

export const instanceCommand: CommandModule = {
  command: 'instance <command>',
  builder: (yargs) => {
    for (const command of instanceCommands) yargs.command(command);
    return yargs.demandCommand(1);
  },
  handler: () => undefined,
};
