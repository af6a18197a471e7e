import { livePolicy } from '../alloc/live-snapshot.js';
import type { ISpec } from '../alloc/types.js';
import { groupTemplates } from '../cluster/model.js';
import { filledNdParams, ND_KEYS } from '../cluster/ndparams.js';
import { niceCompare } from '../cluster/query/rows.js';
import type { ConfigView, GroupView } from '../cluster/views.js';
import { CorralError } from '../common/errors.js';
import { ipolicyBoundsOption } from './cluster-params.js';
import { ndValueText } from './ndparams-option.js';

/**
 * gnt-group info and show-ispecs-cmd, as pure functions of the configuration. Ganeti prints info as YAML
 * (PrintGenericInfo): a list item per group, values the group does not set itself as `default (value)`.
 */

/** Python's str() of a parameter value, as Ganeti's info output shows it. */
function py(value: unknown): string {
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (Array.isArray(value)) return value.join(', ');
  return String(value);
}

/** Ganeti's spec keys and Corral's fields, in Ganeti's printed (sorted) order. */
const specKeys = [
  ['cpu-count', 'cpuCount'],
  ['disk-count', 'diskCount'],
  ['disk-size', 'diskMiB'],
  ['memory-size', 'memoryMiB'],
  ['nic-count', 'nicCount'],
  ['spindle-use', 'spindleUse'],
] as const satisfies readonly (readonly [string, keyof ISpec])[];

/** The groups named, in the order named (every group, sorted, when none is); an unknown name is refused. */
export function pickGroups(config: ConfigView, names: readonly string[]): GroupView[] {
  if (names.length === 0) return [...config.groups].sort((a, b) => niceCompare(a.name, b.name));
  return names.map((name) => {
    const group = config.groups.find((g) => g.name === name || g.uuid === name);
    if (group === undefined)
      throw new CorralError(
        'not_found',
        `node group ${name} does not exist; known: ${config.groups.map((g) => g.name).join(', ')}`,
      );
    return group;
  });
}

function groupMembers(config: ConfigView, group: GroupView): { nodes: string[]; instances: string[] } {
  const nodes = config.nodes.filter((node) => node.group === group.uuid);
  const uuids = new Set(nodes.map((node) => node.uuid));
  return {
    nodes: nodes.map((node) => node.name).sort(niceCompare),
    instances: config.instances
      .filter((instance) => uuids.has(instance.primaryNode))
      .map((instance) => instance.name)
      .sort(niceCompare),
  };
}

/** One group in Ganeti's info layout, with Corral's uuid, policy and members among Ganeti's keys. */
function groupInfo(config: ConfigView, group: GroupView): string[] {
  const policy = livePolicy(groupTemplates(config.cluster.enabledDiskTemplates, group));
  const { nodes, instances } = groupMembers(config, group);
  // Ganeti's FormatParamsDictInfo: the group's own values as they are, the others as the cluster's default.
  const inherited = filledNdParams(config.cluster);
  const ndparams = ND_KEYS.map((key) => {
    const own = group.ndParams?.[key];
    return `    ${key}: ${own === undefined ? `default (${ndValueText(key, inherited[key])})` : ndValueText(key, own)}`;
  });
  const bounds = policy.minMax.flatMap((range, n) =>
    (['max', 'min'] as const).flatMap((key, k) => [
      `${k === 0 ? '      - ' : '        '}${key}/${n}: `,
      ...specKeys.map(([name, field]) => `          ${name}: default (${range[key][field]})`),
    ]),
  );
  const templates =
    group.diskTemplates === undefined ? `default (${py(policy.diskTemplates)})` : py(group.diskTemplates);
  return [
    `- Node group: ${group.name}`,
    `  UUID: ${group.uuid}`,
    `  Allocation policy: ${group.allocPolicy}`,
    `  Nodes: ${nodes.join(', ')}`,
    `  Instances: ${instances.join(', ')}`,
    '  Node parameters: ',
    ...ndparams,
    '  Disk parameters: ',
    '  Instance policy: ',
    '    bounds specs: ',
    ...bounds,
    `    allowed disk templates: ${templates}`,
    `    vcpu-ratio: default (${policy.vcpuRatio.toFixed(1)})`,
    `    spindle-ratio: default (${policy.spindleRatio.toFixed(1)})`,
    `  Tags: ${group.tags.join(', ')}`,
  ];
}

/** `gnt-group info [GROUP...]`. */
export function groupInfoText(config: ConfigView, names: readonly string[]): string {
  return `${pickGroups(config, names)
    .flatMap((group) => groupInfo(config, group))
    .join('\n')}\n`;
}

/**
 * `gnt-group show-ispecs-cmd [--include-defaults] [GROUP...]`: the command that makes each group with its
 * policy's specs. A group sets no bounds of its own in Corral, so without --include-defaults Ganeti prints
 * none; with it, the bounds the group inherits (a group's policy has no std specs).
 */
export function groupIspecsCommands(
  config: ConfigView,
  names: readonly string[],
  includeDefaults: boolean,
): string {
  return pickGroups(config, names)
    .map((group) => {
      const policy = livePolicy(groupTemplates(config.cluster.enabledDiskTemplates, group));
      const options = includeDefaults ? ipolicyBoundsOption(policy) : [];
      return `${['gnt-group add', ...options, group.name].join(' ')}\n`;
    })
    .join('');
}
