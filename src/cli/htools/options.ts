import type { BalanceOptions } from '../../alloc/balance.js';
import { parseUnitMiB } from '../../alloc/simulate.js';
import { type DiskTemplate, diskTemplates } from '../../cluster/disk-templates.js';
import type { OptionDescriptor } from '../getopt.js';

/**
 * The htools' options as Ganeti's htools/CLI.hs defines them: each tool picks its own list from this
 * catalogue, under the same spellings, value forms and defaults, so that a command line written for hbal,
 * hspace, hroller, hail, hcheck, hinfo, hsqueeze or harep means the same to Corral's.
 */

/** Instance resources as htools' --standard-alloc and --tiered-alloc take them (disk,ram,cpu[,spindles]). */
export interface RSpec {
  readonly diskMiB: number;
  readonly memoryMiB: number;
  readonly vcpus: number;
  readonly spindles: number;
}

export type SubmitPriority = 'low' | 'normal' | 'high';

export interface HtoolsOptions {
  dataFile?: string;
  diskMoves: boolean;
  instMoves: boolean;
  diskTemplate?: DiskTemplate;
  spindleUse?: number;
  dynuFile?: string;
  ignoreDynu: boolean;
  ignoreSoftErrors: boolean;
  independentGroups: boolean;
  acceptExisting: boolean;
  monD: boolean;
  monDFile?: string;
  monDXen: boolean;
  monDExitMissing: boolean;
  evacMode: boolean;
  restrictedMigrate: boolean;
  exInst: string[];
  exTags?: string[];
  execJobs: boolean;
  dryRun: boolean;
  firstJobGroup: boolean;
  force: boolean;
  fullEvacuation: boolean;
  group?: string;
  iallocSrc?: string;
  ignoreNonRedundant: boolean;
  selInst: string[];
  /** -L: the cluster's own daemon (Corral's control socket); the path, or '' for the default. */
  luxi?: string;
  jobDelay: number;
  machineReadable: boolean;
  /** -m: a Corral RAPI endpoint. */
  master: string;
  maxLength: number;
  mcpu?: number;
  mdsk: number;
  minGain: number;
  minGainLim: number;
  minResources: number;
  minScore: number;
  noHeaders: boolean;
  noSimulation: boolean;
  nodeSim: string[];
  nodeTags?: string[];
  offline: string[];
  restrictToNodes?: string[];
  offlineMaintenance: boolean;
  oneStepOnly: boolean;
  outPath: string;
  printMoves: boolean;
  reason?: string;
  saveCluster?: string;
  /** -C: '-' for standard output, else the file the commands go to. */
  showCmds?: string;
  showHelp: boolean;
  showComp: boolean;
  showInsts: boolean;
  showNodes?: string[];
  showVer: boolean;
  skipNonRedundant: boolean;
  staticKvmNodeMemory: number;
  stdSpec?: RSpec;
  targetResources: number;
  tieredSpec?: RSpec;
  verbose: number;
  priority?: SubmitPriority;
  capacity: boolean;
  /** Corral's addition: print JSON for scripts, where the tool has it. */
  json: boolean;
}

/** What hbal's balancing (and hcheck's simulation of it) takes from the command line. */
export function balanceOptionsOf(o: HtoolsOptions): BalanceOptions {
  return {
    maxLength: o.maxLength,
    minGain: o.minGain,
    minGainLimit: o.minGainLim,
    minScore: o.minScore,
    evacMode: o.evacMode,
    diskMoves: o.diskMoves,
    instanceMoves: o.instMoves,
    ignoreSoftErrors: o.ignoreSoftErrors,
    restrictedMigration: o.restrictedMigrate,
  };
}

/** Ganeti's defReservedDiskRatio. */
const defaultReservedDiskRatio = 0;

export function defaultOptions(): HtoolsOptions {
  return {
    diskMoves: true,
    instMoves: true,
    ignoreDynu: false,
    ignoreSoftErrors: false,
    independentGroups: false,
    acceptExisting: false,
    monD: false,
    monDXen: false,
    monDExitMissing: false,
    evacMode: false,
    restrictedMigrate: false,
    exInst: [],
    execJobs: false,
    dryRun: false,
    firstJobGroup: false,
    force: false,
    fullEvacuation: false,
    ignoreNonRedundant: false,
    selInst: [],
    jobDelay: 10,
    machineReadable: false,
    master: '',
    maxLength: -1,
    mdsk: defaultReservedDiskRatio,
    minGain: 1e-2,
    minGainLim: 1e-1,
    minResources: 2.0,
    minScore: 1e-9,
    noHeaders: false,
    noSimulation: false,
    nodeSim: [],
    offline: [],
    offlineMaintenance: false,
    oneStepOnly: false,
    outPath: '.',
    printMoves: false,
    showHelp: false,
    showComp: false,
    showInsts: false,
    showVer: false,
    skipNonRedundant: false,
    staticKvmNodeMemory: 4096,
    targetResources: 2.0,
    verbose: 1,
    capacity: true,
    json: false,
  };
}

/** A value htools refuses; the message is Ganeti's, shown after "Error while parsing command line arguments:". */
export class OptionValueError extends Error {}

export interface HtoolsOption extends OptionDescriptor {
  /** How Ganeti lists the value's completion (--help-completion). */
  readonly completion: string;
  apply(options: HtoolsOptions, value: string | undefined): void;
}

const sepSplit = (value: string): string[] => value.split(',');

/** Haskell's `reads` of an Int. */
function readInt(name: string, text: string): number {
  if (!/^\s*-?\d+\s*$/.test(text)) throw new OptionValueError(`${name}: cannot parse string '${text}'`);
  return Number(text);
}

/** Haskell's `reads` of a Double: digits with a fraction or exponent (a bare integer reads too). */
function readDouble(name: string, text: string): number {
  if (!/^\s*-?\d+(\.\d+)?([eE][-+]?\d+)?\s*$/.test(text))
    throw new OptionValueError(`${name}: cannot parse string '${text}'`);
  return Number(text);
}

function parseISpec(descr: string, text: string): RSpec {
  const parts = sepSplit(text);
  if (parts.length < 3 || parts.length > 4)
    throw new OptionValueError(`Invalid ${descr} specification: '${text}', expected disk,ram,cpu`);
  const annotate = (what: string, f: () => number): number => {
    try {
      return f();
    } catch (error) {
      throw new OptionValueError(`${descr} specs ${what}: ${(error as Error).message}`);
    }
  };
  return {
    diskMiB: annotate('disk', () => parseUnitMiB(parts[0] as string)),
    memoryMiB: annotate('memory', () => parseUnitMiB(parts[1] as string)),
    vcpus: readInt(`${descr} specs cpus`, parts[2] as string),
    spindles: parts[3] === undefined ? 1 : readInt(`${descr} specs spindles`, parts[3]),
  };
}

function parseYesNo(value: string | undefined): boolean {
  if (value === undefined || value === 'yes') return true;
  if (value === 'no') return false;
  throw new OptionValueError(`Invalid choice '${value}', pass one of 'yes' or 'no'`);
}

const required = (value: string | undefined): string => value ?? '';

type Catalogue = Record<string, HtoolsOption>;

function option(
  short: string,
  long: string,
  arg: OptionDescriptor['arg'],
  argName: string | undefined,
  help: string,
  completion: string,
  apply: HtoolsOption['apply'],
): HtoolsOption {
  return { short, long: [long], arg, ...(argName === undefined ? {} : { argName }), help, completion, apply };
}

/** The default -L socket: the local daemon's control socket. */
export const defaultLuxiSocket = '';

export const htoolsOptions = {
  dataFile: option('t', 'text-data', 'required', 'FILE', 'the cluster data FILE', 'file', (o, v) => {
    o.dataFile = required(v);
  }),
  diskMoves: option(
    '',
    'no-disk-moves',
    'none',
    undefined,
    "disallow disk moves from the list of allowed instance changes, thus allowing only the 'cheap' failover/migrate operations",
    'none',
    (o) => {
      o.diskMoves = false;
    },
  ),
  monD: option(
    '',
    'mond',
    'optional',
    'CHOICE',
    "pass either 'yes' or 'no' to query all monDs",
    'choices=yes,no',
    (o, v) => {
      o.monD = parseYesNo(v);
    },
  ),
  monDDataFile: option(
    '',
    'mond-data',
    'required',
    'FILE',
    'Import data provided by MonDs from the given FILE',
    'file',
    (o, v) => {
      o.monDFile = required(v);
    },
  ),
  monDXen: option(
    '',
    'mond-xen',
    'none',
    undefined,
    'also consider xen-specific collectors in MonD queries',
    'none',
    (o) => {
      o.monDXen = true;
    },
  ),
  monDExitMissing: option(
    '',
    'exit-on-missing-mond-data',
    'none',
    undefined,
    'abort if the data available from the monitoring daemons is incomplete',
    'none',
    (o) => {
      o.monDExitMissing = true;
    },
  ),
  diskTemplate: option(
    '',
    'disk-template',
    'required',
    'TEMPLATE',
    'select the desired disk template',
    `choices=${diskTemplates.join(',')}`,
    (o, v) => {
      const template = required(v);
      if (!(diskTemplates as readonly string[]).includes(template))
        throw new OptionValueError(`Invalid disk template '${template}'`);
      o.diskTemplate = template as DiskTemplate;
    },
  ),
  spindleUse: option(
    '',
    'spindle-use',
    'required',
    'SPINDLES',
    'select how many virtual spindle instances use [default read from cluster]',
    'float',
    (o, v) => {
      const use = readInt('parsing spindle-use', required(v));
      if (use < 0) throw new OptionValueError('Invalid value of the spindle-use (expected >= 0)');
      o.spindleUse = use;
    },
  ),
  selInst: option(
    '',
    'select-instances',
    'required',
    'INSTS',
    'only select given instances for any moves',
    'manyinstances',
    (o, v) => {
      o.selInst = sepSplit(required(v));
    },
  ),
  instMoves: option(
    '',
    'no-instance-moves',
    'none',
    undefined,
    'disallow instance (primary node) moves from the list of allowed, instance changes, thus allowing only slower, but sometimes safer, drbd secondary changes',
    'none',
    (o) => {
      o.instMoves = false;
    },
  ),
  dynuFile: option(
    'U',
    'dynu-file',
    'required',
    'FILE',
    'Import dynamic utilisation data from the given FILE',
    'file',
    (o, v) => {
      o.dynuFile = required(v);
    },
  ),
  ignoreDynu: option(
    '',
    'ignore-dynu',
    'none',
    undefined,
    'Ignore any dynamic utilisation information',
    'none',
    (o) => {
      o.ignoreDynu = true;
    },
  ),
  ignoreSoftErrors: option(
    '',
    'ignore-soft-errors',
    'none',
    undefined,
    'Ignore any soft restrictions in balancing',
    'none',
    (o) => {
      o.ignoreSoftErrors = true;
    },
  ),
  independentGroups: option(
    '',
    'independent-groups',
    'none',
    undefined,
    'Consider groups independently',
    'none',
    (o) => {
      o.independentGroups = true;
    },
  ),
  acceptExisting: option(
    '',
    'accept-existing-errors',
    'none',
    undefined,
    "Accept existing N+1 violations; just don't add new ones",
    'none',
    (o) => {
      o.acceptExisting = true;
    },
  ),
  evacMode: option(
    'E',
    'evac-mode',
    'none',
    undefined,
    'enable evacuation mode, where the algorithm only moves instances away from offline and drained nodes',
    'none',
    (o) => {
      o.evacMode = true;
    },
  ),
  restrictedMigrate: option(
    '',
    'restricted-migration',
    'none',
    undefined,
    'disallow replace-primary moves (aka frf-moves); in evacuation mode, this will ensure that the only migrations are off the drained nodes',
    'none',
    (o) => {
      o.restrictedMigrate = true;
    },
  ),
  exInst: option(
    '',
    'exclude-instances',
    'required',
    'INSTS',
    'exclude given instances from any moves',
    'manyinstances',
    (o, v) => {
      o.exInst = sepSplit(required(v));
    },
  ),
  exTags: option(
    '',
    'exclusion-tags',
    'required',
    'TAG,...',
    'Enable instance exclusion based on given tag prefix',
    'string',
    (o, v) => {
      o.exTags = sepSplit(required(v));
    },
  ),
  execJobs: option(
    'X',
    'exec',
    'none',
    undefined,
    'execute the suggested moves via Luxi (only available when using it for data gathering)',
    'none',
    (o) => {
      o.execJobs = true;
    },
  ),
  dryRun: option(
    '',
    'dry-run',
    'none',
    undefined,
    'do not execute any commands and just report what would be done',
    'none',
    (o) => {
      o.dryRun = true;
    },
  ),
  reason: option(
    '',
    'reason',
    'required',
    'REASON',
    'The reason to pass to the submitted jobs',
    'none',
    (o, v) => {
      o.reason = required(v);
    },
  ),
  firstJobGroup: option(
    '',
    'first-job-group',
    'none',
    undefined,
    'only execute the first group of jobs',
    'none',
    (o) => {
      o.firstJobGroup = true;
    },
  ),
  force: option(
    'f',
    'force',
    'none',
    undefined,
    'force the execution of this program, even if warnings would otherwise prevent it',
    'none',
    (o) => {
      o.force = true;
    },
  ),
  fullEvacuation: option(
    '',
    'full-evacuation',
    'none',
    undefined,
    'fully evacuate the nodes to be rebooted',
    'none',
    (o) => {
      o.fullEvacuation = true;
    },
  ),
  group: option(
    'G',
    'group',
    'required',
    'ID',
    'the target node group (name or UUID)',
    'onegroup',
    (o, v) => {
      o.group = required(v);
    },
  ),
  iallocSrc: option(
    'I',
    'ialloc-src',
    'required',
    'FILE',
    'Specify an iallocator spec as the cluster data source',
    'file',
    (o, v) => {
      o.iallocSrc = required(v);
    },
  ),
  ignoreNonRedundant: option(
    '',
    'ignore-non-redundant',
    'none',
    undefined,
    'Pretend that there are no non-redundant instances in the cluster',
    'none',
    (o) => {
      o.ignoreNonRedundant = true;
    },
  ),
  jobDelay: option(
    '',
    'job-delay',
    'required',
    'SECONDS',
    'insert this much delay before the execution of repair jobs to allow the tool to continue processing instances',
    'float',
    (o, v) => {
      o.jobDelay = readDouble('job delay', required(v));
    },
  ),
  luxi: option(
    'L',
    'luxi',
    'optional',
    'SOCKET',
    "collect data from the cluster's own daemon, optionally through the given control SOCKET path [the local daemon's]",
    'file',
    (o, v) => {
      o.luxi = v ?? defaultLuxiSocket;
    },
  ),
  machineReadable: option(
    '',
    'machine-readable',
    'optional',
    'CHOICE',
    "enable machine readable output (pass either 'yes' or 'no' to explicitly control the flag, or without an argument defaults to yes)",
    'choices=yes,no',
    (o, v) => {
      o.machineReadable = parseYesNo(v);
    },
  ),
  maxCpu: option(
    '',
    'max-cpu',
    'required',
    'RATIO',
    'maximum virtual-to-physical cpu ratio for nodes (from 0 upwards) [default read from cluster]',
    'float',
    (o, v) => {
      const ratio = readDouble('parsing max-cpu', required(v));
      if (ratio <= 0) throw new OptionValueError('Invalid value of the max-cpu ratio, expected >0');
      o.mcpu = ratio;
    },
  ),
  maxSolLength: option(
    'l',
    'max-length',
    'required',
    'N',
    'cap the solution at this many balancing or allocation rounds (useful for very unbalanced clusters or empty clusters)',
    'integer',
    (o, v) => {
      o.maxLength = readInt('max solution length', required(v));
    },
  ),
  minDisk: option(
    '',
    'min-disk',
    'required',
    'RATIO',
    'minimum free disk space for nodes (between 0 and 1) [0]',
    'float',
    (o, v) => {
      o.mdsk = readDouble('min free disk space', required(v));
    },
  ),
  minGain: option(
    'g',
    'min-gain',
    'required',
    'DELTA',
    'minimum gain to aim for in a balancing step before giving up',
    'float',
    (o, v) => {
      o.minGain = readDouble('min gain', required(v));
    },
  ),
  minGainLim: option(
    '',
    'min-gain-limit',
    'required',
    'SCORE',
    'minimum cluster score for which we start checking the min-gain',
    'float',
    (o, v) => {
      o.minGainLim = readDouble('min gain limit', required(v));
    },
  ),
  minResources: option(
    '',
    'minimal-resources',
    'required',
    'FACTOR',
    'minimal resources to be present on each in multiples of the standard allocation for not onlining standby nodes',
    'float',
    (o, v) => {
      o.minResources = readDouble('minimal resources', required(v));
    },
  ),
  minScore: option(
    'e',
    'min-score',
    'required',
    'EPSILON',
    'mininum excess to the N+1 limit to aim for',
    'float',
    (o, v) => {
      o.minScore = readDouble('min score', required(v));
    },
  ),
  noHeaders: option('', 'no-headers', 'none', undefined, 'do not show a header line', 'none', (o) => {
    o.noHeaders = true;
  }),
  noSimulation: option(
    '',
    'no-simulation',
    'none',
    undefined,
    'do not perform rebalancing simulation',
    'none',
    (o) => {
      o.noSimulation = true;
    },
  ),
  nodeSim: option(
    '',
    'simulate',
    'required',
    'SPEC',
    "simulate an empty cluster, given as 'alloc_policy,num_nodes,disk,ram,cpu'",
    'string',
    (o, v) => {
      o.nodeSim = [required(v), ...o.nodeSim];
    },
  ),
  nodeTags: option(
    '',
    'node-tags',
    'required',
    'TAG,...',
    'Restrict to nodes with the given tags',
    'string',
    (o, v) => {
      o.nodeTags = sepSplit(required(v));
    },
  ),
  offlineMaintenance: option(
    '',
    'offline-maintenance',
    'none',
    undefined,
    'Schedule offline maintenance, i.e., pretend that all instance are offline.',
    'none',
    (o) => {
      o.offlineMaintenance = true;
    },
  ),
  offlineNode: option('O', 'offline', 'required', 'NODE', 'set node as offline', 'onenode', (o, v) => {
    o.offline = [required(v), ...o.offline];
  }),
  restrictToNodes: option(
    '',
    'restrict-allocation-to',
    'required',
    'NODE,...',
    'Restrict allocations to the given set of nodes',
    'manynodes',
    (o, v) => {
      o.restrictToNodes = sepSplit(required(v));
    },
  ),
  oneStepOnly: option('', 'one-step-only', 'none', undefined, 'Only do the first step', 'none', (o) => {
    o.oneStepOnly = true;
  }),
  outputDir: option(
    'd',
    'output-dir',
    'required',
    'PATH',
    'directory in which to write output files',
    'dir',
    (o, v) => {
      o.outPath = required(v);
    },
  ),
  printCommands: option(
    'C',
    'print-commands',
    'optional',
    'FILE',
    'print the ganeti command list for reaching the solution, if an argument is passed then write the commands to a file named as such',
    'none',
    (o, v) => {
      o.showCmds = v ?? '-';
    },
  ),
  printInsts: option(
    '',
    'print-instances',
    'none',
    undefined,
    'print the final instance map',
    'none',
    (o) => {
      o.showInsts = true;
    },
  ),
  printMoves: option(
    '',
    'print-moves',
    'none',
    undefined,
    'print the moves of the instances',
    'none',
    (o) => {
      o.printMoves = true;
    },
  ),
  printNodes: option(
    'p',
    'print-nodes',
    'optional',
    'FIELDS',
    'print the final node list',
    'none',
    (o, v) => {
      const fields = v ?? '';
      o.showNodes = fields.startsWith('+')
        ? ['+', ...sepSplit(fields.slice(1))]
        : fields === ''
          ? []
          : sepSplit(fields);
    },
  ),
  quiet: option('q', 'quiet', 'none', undefined, 'decrease the verbosity level', 'none', (o) => {
    o.verbose--;
  }),
  rapiMaster: option(
    'm',
    'master',
    'required',
    'ADDRESS',
    'collect data via RAPI at the given ADDRESS',
    'host',
    (o, v) => {
      o.master = required(v);
    },
  ),
  saveCluster: option(
    'S',
    'save',
    'required',
    'FILE',
    'Save cluster state at the end of the processing to FILE',
    'none',
    (o, v) => {
      o.saveCluster = required(v);
    },
  ),
  skipNonRedundant: option(
    '',
    'skip-non-redundant',
    'none',
    undefined,
    'Skip nodes that host a non-redundant instance',
    'none',
    (o) => {
      o.skipNonRedundant = true;
    },
  ),
  staticKvmNodeMemory: option(
    '',
    'static-kvm-node-memory',
    'required',
    'N',
    'use static node memory [in MB] on KVM instead of value reported by hypervisor. Use 0 to take value reported from hypervisor.',
    'integer',
    (o, v) => {
      o.staticKvmNodeMemory = readInt('static node memory', required(v));
    },
  ),
  stdSpec: option(
    '',
    'standard-alloc',
    'required',
    'STDSPEC',
    "enable standard specs allocation, given as 'disk,ram,cpu'",
    'string',
    (o, v) => {
      o.stdSpec = parseISpec('standard', required(v));
    },
  ),
  targetResources: option(
    '',
    'target-resources',
    'required',
    'FACTOR',
    'target resources to be left on each node after squeezing in multiples of the standard allocation',
    'float',
    (o, v) => {
      o.targetResources = readDouble('target resources', required(v));
    },
  ),
  tieredSpec: option(
    '',
    'tiered-alloc',
    'required',
    'TSPEC',
    "enable tiered specs allocation, given as 'disk,ram,cpu'",
    'string',
    (o, v) => {
      o.tieredSpec = parseISpec('tiered', required(v));
    },
  ),
  verbose: option('v', 'verbose', 'none', undefined, 'increase the verbosity level', 'none', (o) => {
    o.verbose++;
  }),
  priority: option(
    '',
    'priority',
    'required',
    'PRIO',
    'set the priority of submitted jobs',
    'choices=low,normal,high',
    (o, v) => {
      const priority = required(v);
      if (priority !== 'low' && priority !== 'normal' && priority !== 'high')
        throw new OptionValueError(`Unknown priority '${priority}'`);
      o.priority = priority;
    },
  ),
  noCapacityChecks: option(
    '',
    'no-capacity-checks',
    'none',
    undefined,
    'disable capacity checks (like global N+1 redundancy)',
    'none',
    (o) => {
      o.capacity = false;
    },
  ),
  json: option('', 'json', 'none', undefined, "print JSON for scripts (Corral's addition)", 'none', (o) => {
    o.json = true;
  }),
} satisfies Catalogue;

export type HtoolsOptionKey = keyof typeof htoolsOptions;

/** GetOpt's generic options, last on every tool's list. */
export const genericOptions: readonly HtoolsOption[] = [
  option('V', 'version', 'none', undefined, 'show the version of the program', 'none', (o) => {
    o.showVer = true;
  }),
  option('h', 'help', 'none', undefined, 'show help', 'none', (o) => {
    o.showHelp = true;
  }),
  option('', 'help-completion', 'none', undefined, 'show completion info', 'none', (o) => {
    o.showComp = true;
  }),
];
