import type { Argv } from 'yargs';
import { livePolicy } from '../alloc/live-snapshot.js';
import type { IPolicy, ISpec } from '../alloc/types.js';
import { type DataCollectorName, dataCollectorNames } from '../cluster/data-collectors.js';
import { nicModes } from '../cluster/model.js';
import type { BeParamsInput, Opcode } from '../cluster/opcodes.js';
import { CorralError } from '../common/errors.js';
import { onlyKeys, parseBool, parseInteger, parseKeyValues, parseSizeMiB } from './ganeti-options.js';
import { addUnusedOptions, checkUnusedOptions, type UnusedOption } from './unused-options.js';

/**
 * What `gnt-cluster init` and `modify` take beyond Corral's own options: the parameter families Corral
 * stores (-B, -N, --mac-prefix, -I), the instance policy, which Corral keeps fixed, and the options Corral
 * has no use for, each with the reason in its help and a note when given (never silently dropped).
 */

type SetParams = Extract<Opcode, { OP_ID: 'OP_CLUSTER_SET_PARAMS' }>;

const BE_KEYS = ['memory', 'maxmem', 'minmem', 'vcpus', 'auto_balance', 'always_failover', 'spindle_use'];

/** `-B k=v,...`: the cluster's backend parameters (instances inherit those they do not set). */
export function parseBeParams(value: string): BeParamsInput {
  const raw = parseKeyValues(value, '-B');
  onlyKeys(raw, BE_KEYS, '-B');
  const out: BeParamsInput = {};
  for (const [key, text] of Object.entries(raw)) {
    if (key === 'memory' || key === 'maxmem' || key === 'minmem') out[key] = parseSizeMiB(text, `-B ${key}`);
    else if (key === 'vcpus' || key === 'spindle_use') out[key] = parseInteger(text, `-B ${key}`);
    else if (key === 'auto_balance' || key === 'always_failover') out[key] = parseBool(text, `-B ${key}`);
  }
  return out;
}

/** `-N mode=...,link=...`: the NIC an instance gets when it names no mode or link. */
export function parseNicParams(value: string): NonNullable<SetParams['nicparams']> {
  const raw = parseKeyValues(value, '-N');
  if ('vlan' in raw)
    throw new CorralError('bad_request', '-N vlan: Corral has no VLAN parameter; set mode and link only');
  onlyKeys(raw, ['mode', 'link'], '-N');
  const out: NonNullable<SetParams['nicparams']> = {};
  if (raw.mode !== undefined) {
    const mode = raw.mode as (typeof nicModes)[number];
    if (!nicModes.includes(mode))
      throw new CorralError('bad_request', `-N mode: ${raw.mode} is not one of ${nicModes.join(', ')}`);
    out.mode = mode;
  }
  if (raw.link !== undefined) out.link = raw.link;
  return out;
}

/** `-m/--mac-prefix XX:XX:XX`. */
export function parseMacPrefix(value: string): string {
  if (!/^[0-9a-fA-F]{2}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}$/.test(value))
    throw new CorralError('bad_request', `--mac-prefix: ${value} is not three hex pairs such as aa:00:00`);
  return value.toLowerCase();
}

/** Ganeti's time specs (watcher pause): a whole number, then s, m, h, d or w; seconds without a unit. */
export function parseTimespecMs(value: string): number {
  const match = /^(\d+)([smhdw])?$/.exec(value.trim());
  if (match === null)
    throw new CorralError(
      'bad_request',
      `invalid time specification '${value}': give a whole number with s, m, h, d or w (e.g. 30m)`,
    );
  const unitS = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }[match[2] ?? 's'] ?? 1;
  return Number(match[1]) * unitS * 1000;
}

/** Python's time.ctime in local time: `Sun Dec  7 06:25:00 2025`, as Ganeti prints the watcher's pause. */
export function ctime(ms: number): string {
  const date = new Date(ms);
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][date.getDay()];
  const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][
    date.getMonth()
  ];
  const two = (n: number) => String(n).padStart(2, '0');
  const time = `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
  return `${day} ${month} ${String(date.getDate()).padStart(2, ' ')} ${time} ${date.getFullYear()}`;
}

/** An instance spec in Ganeti's keys (ipolicy specs), in Ganeti's printed order (sorted). */
function specText(spec: ISpec): string {
  const values: Record<string, number> = {
    'cpu-count': spec.cpuCount,
    'disk-count': spec.diskCount,
    'disk-size': spec.diskMiB,
    'memory-size': spec.memoryMiB,
    'nic-count': spec.nicCount,
    'spindle-use': spec.spindleUse,
  };
  return Object.keys(values)
    .sort()
    .map((key) => `${key}=${values[key]}`)
    .join(',');
}

/** The bounds of an instance policy as Ganeti prints them, or nothing when it has none (a group's form). */
export function ipolicyBoundsOption(policy: Pick<IPolicy, 'minMax'>): string[] {
  const bounds = policy.minMax.map((range) => `min:${specText(range.min)}/max:${specText(range.max)}`);
  return bounds.length > 0 ? [`--ipolicy-bounds-specs ${bounds.join('//')}`] : [];
}

/** The instance policy's options as Ganeti prints them (show-ispecs-cmd): the std specs, then the bounds. */
export function ipolicyCommandLine(policy: IPolicy): string {
  return [`--ipolicy-std-specs ${specText(policy.std)}`, ...ipolicyBoundsOption(policy)].join(' ');
}

/** The instance policy options Corral takes (all fixed), as init and modify receive them. */
export interface IpolicyArgs {
  'ipolicy-std-specs'?: string;
  'ipolicy-bounds-specs'?: string;
  'ipolicy-disk-templates'?: string;
  'ipolicy-vcpu-ratio'?: number;
  'ipolicy-spindle-ratio'?: number;
  'specs-cpu-count'?: string;
  'specs-disk-count'?: string;
  'specs-disk-size'?: string;
  'specs-mem-size'?: string;
  'specs-nic-count'?: string;
}

/** Ganeti's --specs-* options and the spec field each sets. */
const specOptions = {
  'specs-cpu-count': 'cpuCount',
  'specs-disk-count': 'diskCount',
  'specs-disk-size': 'diskMiB',
  'specs-mem-size': 'memoryMiB',
  'specs-nic-count': 'nicCount',
} as const satisfies Record<string, keyof ISpec>;

const fixedPolicy = "Corral's instance policy is fixed: accepted only as it is (show-ispecs-cmd prints it)";

/** The instance policy options of init and modify. */
export function ipolicyOptions<T>(yargs: Argv<T>): Argv<T> {
  let out = yargs
    .option('ipolicy-std-specs', { type: 'string', describe: fixedPolicy })
    .option('ipolicy-bounds-specs', { type: 'string', describe: fixedPolicy })
    .option('ipolicy-disk-templates', { type: 'string', describe: fixedPolicy })
    .option('ipolicy-vcpu-ratio', { type: 'number', describe: fixedPolicy })
    .option('ipolicy-spindle-ratio', { type: 'number', describe: fixedPolicy });
  for (const option of Object.keys(specOptions))
    out = out.option(option, { type: 'string', describe: `min=…,max=…,std=…: ${fixedPolicy}` });
  return out;
}

/** Whether any instance policy option was given. */
export function ipolicyGiven(args: IpolicyArgs): boolean {
  return (
    [
      'ipolicy-std-specs',
      'ipolicy-bounds-specs',
      'ipolicy-disk-templates',
      'ipolicy-vcpu-ratio',
      'ipolicy-spindle-ratio',
      ...Object.keys(specOptions),
    ] as const
  ).some((option) => args[option as keyof IpolicyArgs] !== undefined);
}

/**
 * Corral keeps one instance policy, not stored in the configuration (livePolicy): init and modify take the
 * policy's options only when they say what it already is, as show-ispecs-cmd prints them, and refuse others.
 */
export function checkIpolicyOptions(args: IpolicyArgs, enabledTemplates: readonly string[]): void {
  const policy = livePolicy(enabledTemplates);
  const refuse = (option: string, given: string | number, is: string | number) =>
    new CorralError(
      'bad_request',
      `--${option} ${given}: Corral's instance policy is fixed at ${is} (show-ispecs-cmd prints it); it cannot be changed yet`,
    );
  const std = args['ipolicy-std-specs'];
  if (std !== undefined && !sameSpecs(std, specText(policy.std)))
    throw refuse('ipolicy-std-specs', std, specText(policy.std));
  const bounds = args['ipolicy-bounds-specs'];
  const current = policy.minMax.map((range) => `min:${specText(range.min)}/max:${specText(range.max)}`);
  if (bounds !== undefined) {
    const given = bounds.split('//');
    const matches =
      given.length === current.length &&
      given.every((range, i) => {
        const [min, max] = range.split('/');
        const [currentMin, currentMax] = current[i]!.split('/');
        return (
          min?.startsWith('min:') === true &&
          max?.startsWith('max:') === true &&
          sameSpecs(min.slice(4), currentMin!.slice(4)) &&
          sameSpecs(max.slice(4), currentMax!.slice(4))
        );
      });
    if (!matches) throw refuse('ipolicy-bounds-specs', bounds, current.join('//'));
  }
  const templates = args['ipolicy-disk-templates'];
  if (templates !== undefined) {
    const given = [...new Set(templates.split(',').filter(Boolean))].sort();
    const is = [...policy.diskTemplates].sort();
    if (given.join(',') !== is.join(','))
      throw refuse('ipolicy-disk-templates', templates, `${is.join(',')}, the enabled disk templates`);
  }
  for (const [option, is] of [
    ['ipolicy-vcpu-ratio', policy.vcpuRatio],
    ['ipolicy-spindle-ratio', policy.spindleRatio],
  ] as const) {
    const given = args[option];
    if (given !== undefined && given !== is) throw refuse(option, given, is);
  }
  const [range] = policy.minMax;
  for (const [option, field] of Object.entries(specOptions)) {
    const given = args[option as keyof typeof specOptions];
    if (given === undefined || range === undefined) continue;
    const values = parseKeyValues(given, `--${option}`);
    onlyKeys(values, ['min', 'max', 'std'], `--${option}`);
    const is = { min: range.min[field], max: range.max[field], std: policy.std[field] };
    const matches = Object.entries(values).every(
      ([key, value]) => specValue(option, field, value) === is[key as keyof typeof is],
    );
    if (!matches) throw refuse(option, given, `min=${is.min},max=${is.max},std=${is.std}`);
  }
}

/** A spec value as a number: sizes take units (1G), 0 is allowed (Corral's minimum). */
function specValue(option: string, field: keyof ISpec, value: string): number {
  if (value.trim() === '0') return 0;
  return field === 'diskMiB' || field === 'memoryMiB'
    ? parseSizeMiB(value, option)
    : parseInteger(value, option);
}

/** Whether two `k=v,...` spec lists say the same, whatever their order (`memory-size=1G` is 1024). */
function sameSpecs(given: string, current: string): boolean {
  const parse = (text: string, option: string) => {
    const raw = parseKeyValues(text, option);
    return Object.fromEntries(
      Object.entries(raw).map(([key, value]) => [
        key,
        value.trim() === '0'
          ? 0
          : key.endsWith('-size')
            ? parseSizeMiB(value, `${option} ${key}`)
            : parseInteger(value, `${option} ${key}`),
      ]),
    );
  };
  const a = parse(given, '--ipolicy specs');
  const b = parse(current, '--ipolicy specs');
  return Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);
}

/** The commands whose Ganeti options this table holds (group: group add and modify; node: node add and modify). */
type UnusedOn = 'init' | 'modify' | 'renew-crypto' | 'group' | 'node';

const noDeclaredState =
  "Corral measures each node's memory, CPUs and disks itself (its health reports); it takes no declared state";

const noSsh = 'Corral uses no SSH: nodes reach each other over libp2p with their own keys';
const nodeKeys =
  "each node's identity is its own libp2p key, which no job may carry; Corral cannot renew it for the node";
const noSecretInJobs =
  'a secret given to a job would be kept in its record, which every node and job info shows: Corral draws new ones on the master instead';
/** Ganeti's init and modify options that Corral has no use for; `init` and `modify` say where each applies. */
const unusedOptions: readonly (UnusedOption & { readonly on: readonly UnusedOn[] })[] = [
  {
    name: 'disk-parameters',
    alias: 'D',
    takesValue: true,
    reason: "Corral's disk templates take no parameters (its mirror resyncs at the disks' speed)",
    accepts: [],
    refusal:
      "Corral's disk templates take no parameters (DRBD's resync rates, LVM stripes): there is nothing to set",
    on: ['init', 'modify', 'group'],
  },
  {
    name: 'hypervisor-state',
    takesValue: true,
    reason: noDeclaredState,
    accepts: [],
    refusal: noDeclaredState,
    on: ['init', 'modify', 'group', 'node'],
  },
  {
    name: 'disk-state',
    takesValue: true,
    reason: noDeclaredState,
    accepts: [],
    refusal: noDeclaredState,
    on: ['init', 'modify', 'group', 'node'],
  },
  { name: 'ssh-init', negated: true, takesValue: false, reason: noSsh, on: ['init'] },
  { name: 'ssh-key-type', takesValue: true, reason: noSsh, on: ['init', 'renew-crypto'] },
  { name: 'ssh-key-bits', takesValue: true, reason: noSsh, on: ['init', 'renew-crypto'] },
  { name: 'new-ssh-keys', takesValue: false, reason: noSsh, on: ['renew-crypto'] },
  { name: 'ssh-key-check', negated: true, takesValue: false, reason: noSsh, on: ['renew-crypto'] },
  {
    name: 'new-confd-hmac-key',
    takesValue: false,
    reason: 'Corral has no confd: nodes read the configuration from their own Raft replica',
    on: ['renew-crypto'],
  },
  {
    name: 'new-spice-certificate',
    takesValue: false,
    reason: "Corral's consoles are serial consoles; it serves no SPICE",
    on: ['renew-crypto'],
  },
  {
    name: 'spice-certificate',
    takesValue: true,
    reason: "refused: Corral's consoles are serial consoles; it serves no SPICE",
    accepts: [],
    refusal: "Corral's consoles are serial consoles; it serves no SPICE",
    on: ['renew-crypto'],
  },
  {
    name: 'spice-ca-certificate',
    takesValue: true,
    reason: "refused: Corral's consoles are serial consoles; it serves no SPICE",
    accepts: [],
    refusal: "Corral's consoles are serial consoles; it serves no SPICE",
    on: ['renew-crypto'],
  },
  {
    name: 'new-cluster-certificate',
    takesValue: false,
    reason: `refused: ${nodeKeys}`,
    accepts: [],
    refusal: `${nodeKeys} (Noise checks it on every connection)`,
    on: ['renew-crypto'],
  },
  {
    name: 'new-node-certificates',
    takesValue: false,
    reason: `refused: ${nodeKeys}`,
    accepts: [],
    refusal: `${nodeKeys} (Noise checks it on every connection)`,
    on: ['renew-crypto'],
  },
  {
    name: 'rapi-certificate',
    takesValue: true,
    reason: `refused: ${noSecretInJobs} (--new-rapi-certificate)`,
    accepts: [],
    refusal: `${noSecretInJobs}: use --new-rapi-certificate`,
    on: ['renew-crypto'],
  },
  {
    name: 'cluster-domain-secret',
    takesValue: true,
    reason: `refused: ${noSecretInJobs} (--new-cluster-domain-secret)`,
    accepts: [],
    refusal: `${noSecretInJobs}: use --new-cluster-domain-secret`,
    on: ['renew-crypto'],
  },
  {
    name: 'etc-hosts',
    negated: true,
    takesValue: false,
    reason: 'Corral never edits /etc/hosts',
    on: ['init'],
  },
  {
    name: 'modify-etc-hosts',
    takesValue: true,
    reason: 'Corral never edits /etc/hosts',
    accepts: ['no'],
    refusal: 'Corral does not maintain /etc/hosts; keep host names in DNS or your own configuration',
    on: ['modify'],
  },
  {
    name: 'drbd-usermode-helper',
    takesValue: true,
    reason: "Corral's mirrored (drbd) template is its own block mirror, not DRBD: there is no helper to call",
    on: ['init', 'modify'],
  },
  {
    name: 'vg-name',
    takesValue: true,
    reason: "each node's plain disks use its own volume group: corral daemon --volume-group on that node",
    on: ['init', 'modify'],
  },
  {
    name: 'file-storage-dir',
    takesValue: true,
    reason: "each node's file disks live where its daemon says: corral daemon --file-storage-dir",
    on: ['init', 'modify'],
  },
  {
    name: 'shared-file-storage-dir',
    takesValue: true,
    reason:
      "each node's sharedfile disks live where its daemon says: corral daemon --shared-file-storage-dir",
    on: ['init', 'modify'],
  },
  {
    name: 'gluster-storage-dir',
    takesValue: true,
    reason: 'Corral has no gluster disk template',
    on: ['init'],
  },
  {
    name: 'primary-ip-version',
    takesValue: true,
    reason: 'nodes are reached at the addresses their daemons listen on, IPv4 and IPv6 alike',
    accepts: ['4', '6'],
    refusal: 'takes 4 or 6',
    on: ['init'],
  },
  {
    name: 'maintain-node-health',
    takesValue: true,
    reason:
      'Corral always keeps node health: a node cut off from the master kills its guests before its lease lapses',
    accepts: ['yes'],
    refusal: "Corral's lease fencing of cut-off nodes cannot be turned off",
    on: ['init', 'modify'],
  },
  {
    name: 'prealloc-wipe-disks',
    takesValue: true,
    reason: 'Corral does not wipe new disks; only no is accepted',
    accepts: ['no'],
    refusal: 'Corral does not wipe new disks before use; wipe them from the OS create script',
    on: ['init', 'modify'],
  },
  {
    name: 'uid-pool',
    takesValue: true,
    reason: 'Corral runs no KVM guest under a pooled user ID; only an empty pool is accepted',
    accepts: [''],
    refusal: 'Corral does not run KVM guests under pooled user IDs',
    on: ['init', 'modify'],
  },
  {
    name: 'add-uids',
    takesValue: true,
    reason: 'Corral runs no KVM guest under a pooled user ID',
    accepts: [''],
    refusal: 'Corral does not run KVM guests under pooled user IDs',
    on: ['modify'],
  },
  {
    name: 'remove-uids',
    takesValue: true,
    reason: 'Corral runs no KVM guest under a pooled user ID: there is nothing to remove',
    on: ['modify'],
  },
  {
    name: 'install-image',
    takesValue: true,
    reason: 'Corral runs OS scripts on the node, with no helper VM: only an empty image is accepted',
    accepts: [''],
    refusal: 'Corral runs OS installs on the node itself, with no helper VM image',
    on: ['init', 'modify'],
  },
  {
    name: 'zeroing-image',
    takesValue: true,
    reason: 'Corral zeroes no disks with a helper VM: only an empty image is accepted',
    accepts: [''],
    refusal: 'Corral does not zero disks with a helper VM image',
    on: ['init', 'modify'],
  },
  {
    name: 'user-shutdown',
    takesValue: true,
    reason:
      "the watcher restarts a guest that stops by itself: Ganeti's user shutdown is off, and only no is accepted",
    accepts: ['no'],
    refusal: 'Corral does not tell a guest shutting itself down from a crash: the watcher restarts it',
    on: ['init', 'modify'],
  },
  {
    name: 'instance-communication-network',
    takesValue: true,
    reason: 'Corral has no networks: only none (an empty name) is accepted',
    accepts: [''],
    refusal: 'Corral has no networks to connect instances to',
    on: ['modify'],
  },
  {
    name: 'compression-tools',
    takesValue: true,
    reason: 'Corral copies disks between nodes uncompressed, so it offers no compression tools',
    on: ['init', 'modify'],
  },
  {
    name: 'reserved-lvs',
    takesValue: true,
    reason: 'cluster verify reports no orphan volumes in Corral, so there is nothing to reserve',
    on: ['modify'],
  },
  {
    name: 'max-tracked-jobs',
    takesValue: true,
    reason: 'Corral follows every unfinished job from the replicated job table; there is no tracking limit',
    on: ['modify'],
  },
];

/** Adds the options of `command` that Corral takes for Ganeti's command lines only. */
export function unusedGanetiOptions<T>(yargs: Argv<T>, command: UnusedOn): Argv<T> {
  return addUnusedOptions(
    yargs,
    unusedOptions.filter((o) => o.on.includes(command)),
  );
}

/** Checks the unused options of `command` given: see checkUnusedOptions. */
export function noteUnusedOptions(
  args: Record<string, unknown>,
  command: UnusedOn,
  note: (line: string) => void,
): void {
  checkUnusedOptions(
    args,
    unusedOptions.filter((o) => o.on.includes(command)),
    note,
  );
}

/** A collector named in --enabled-data-collectors or --data-collector-interval, checked. */
function collectorName(name: string, option: string): DataCollectorName {
  const found = dataCollectorNames.find((known) => known === name);
  if (found === undefined)
    throw new CorralError(
      'bad_request',
      `${option}: unknown data collector ${name}; known: ${dataCollectorNames.join(', ')}`,
    );
  return found;
}

/** Ganeti's --enabled-data-collectors: `name=yes|no,…`. */
export function parseEnabledCollectors(value: string): Partial<Record<DataCollectorName, boolean>> {
  const option = '--enabled-data-collectors';
  return Object.fromEntries(
    Object.entries(parseKeyValues(value, option)).map(([name, flag]) => [
      collectorName(name, option),
      parseBool(flag, `${option} ${name}`),
    ]),
  );
}

/** Ganeti's --data-collector-interval: `name=seconds,…`. */
export function parseCollectorIntervals(value: string): Partial<Record<DataCollectorName, number>> {
  const option = '--data-collector-interval';
  return Object.fromEntries(
    Object.entries(parseKeyValues(value, option)).map(([name, seconds]) => {
      const interval = Number(seconds);
      if (!/^\d+(\.\d+)?$/.test(seconds) || interval < 5 || interval > 86_400)
        throw new CorralError(
          'bad_request',
          `${option} ${name}: ${seconds} is not a number of seconds from 5 (the monitor's tick) to 86400`,
        );
      return [collectorName(name, option), interval];
    }),
  );
}
