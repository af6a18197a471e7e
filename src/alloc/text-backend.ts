import { type DiskTemplate, diskTemplates, needsSecondary } from '../cluster/disk-templates.js';
import { CorralError } from '../common/errors.js';
import { fixedDouble, showDouble } from './haskell-show.js';
import {
  type AllocPolicy,
  allocPolicies,
  asGroupUuid,
  asInstanceName,
  asNodeName,
  type ClusterSnapshot,
  defaultIPolicy,
  type GroupSpec,
  type InstanceSpec,
  type InstanceStatus,
  type IPolicy,
  type ISpec,
  instanceStatuses,
  type MinMaxISpec,
  type NodeName,
  type NodeSpec,
} from './types.js';

/**
 * Ganeti's htools text backend (`-t FILE`): sections separated by one empty line, in the order
 * groups, nodes, instances, cluster tags, instance policies. As in htools, a file with only four
 * sections has no policies and anything after the fifth is ignored.
 */

interface Line {
  readonly number: number;
  readonly text: string;
}

class LineError {
  constructor(readonly message: string) {}
}

function fail(message: string): never {
  throw new LineError(message);
}

export interface TextBackendOptions {
  /** Keep instances whose name repeats, as Ganeti's loader does (its own test data has such files). */
  readonly allowDuplicateInstances?: boolean;
}

export function parseTextBackend(
  text: string,
  fileName: string,
  options: TextBackendOptions = {},
): ClusterSnapshot {
  const lines = text.split('\n');
  // As Haskell's `lines`: a final newline does not start an empty line.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const sections: Line[][] = [[]];
  lines.forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') sections.push([]);
    else sections[sections.length - 1]?.push({ number: index + 1, text: line });
  });
  if (sections.length < 4) {
    throw new CorralError(
      'bad_request',
      `${fileName}: ${sections.length} sections instead of 4 or 5 (groups, nodes, instances, cluster tags, policies); sections are separated by one empty line`,
    );
  }
  const [groupLines, nodeLines, instanceLines, tagLines, policyLines] = sections as [
    Line[],
    Line[],
    Line[],
    Line[],
    Line[] | undefined,
  ];
  let current: Line | undefined;
  const each = <T>(section: readonly Line[], parse: (fields: string[]) => T): T[] =>
    section.map((line) => {
      current = line;
      return parse(line.text.split('|'));
    });
  try {
    const groupsByUuid = new Map<string, GroupSpec>();
    const groupLineByUuid = new Map<string, number>();
    const rawGroups = each(groupLines, (fields) => {
      const group = parseGroup(fields);
      const seen = groupLineByUuid.get(group.uuid);
      if (seen !== undefined) fail(`group UUID ${group.uuid} is already used on line ${seen}`);
      groupLineByUuid.set(group.uuid, current?.number ?? 0);
      groupsByUuid.set(group.uuid, group);
      return group;
    });
    const nodeLineByName = new Map<string, number>();
    const nodes = each(nodeLines, (fields) => {
      const node = parseNode(fields, groupsByUuid);
      const seen = nodeLineByName.get(node.name);
      if (seen !== undefined) fail(`node name ${node.name} is already used on line ${seen}`);
      nodeLineByName.set(node.name, current?.number ?? 0);
      return node;
    });
    const instanceLineByName = new Map<string, number>();
    const instances = each(instanceLines, (fields) => {
      const instance = parseInstance(fields, nodeLineByName);
      const seen = instanceLineByName.get(instance.name);
      if (seen !== undefined && !options.allowDuplicateInstances) {
        fail(`instance name ${instance.name} is already used on line ${seen}`);
      }
      instanceLineByName.set(instance.name, current?.number ?? 0);
      return instance;
    });
    const clusterTags = tagLines.map((line) => line.text);
    let clusterPolicy = defaultIPolicy;
    const groupPolicies = new Map<string, IPolicy>();
    each(policyLines ?? [], (fields) => {
      const [owner, policy] = parsePolicy(fields);
      if (owner === '') clusterPolicy = policy;
      else if (rawGroups.some((group) => group.name === owner)) groupPolicies.set(owner, policy);
      else fail(`policy for unknown group ${owner}`);
    });
    const groups = rawGroups.map((group) => ({
      ...group,
      policy: groupPolicies.get(group.name) ?? group.policy,
    }));
    return { groups, nodes, instances, clusterTags, clusterPolicy };
  } catch (error) {
    if (error instanceof LineError) {
      throw new CorralError('bad_request', `${fileName}:${current?.number ?? 0}: ${error.message}`);
    }
    throw error;
  }
}

function parseGroup(fields: string[]): GroupSpec {
  if (fields.length < 4)
    fail(`a group line needs name|uuid|alloc_policy|tags[|networks], got ${fields.length} columns`);
  const [name, uuid, policy, tags, networks] = fields as [string, string, string, string, string | undefined];
  if (name === '') fail('empty group name');
  if (uuid === '') fail(`empty UUID for group ${name}`);
  return {
    name,
    uuid: asGroupUuid(uuid),
    allocPolicy: oneOf(allocPolicies, policy, `allocation policy of group ${name}`) as AllocPolicy,
    tags: commaList(tags),
    networks: commaList(networks ?? ''),
    policy: defaultIPolicy,
  };
}

const nodeDefaults = ['1', '', 'N', '0', '1', '1.0'];

function parseNode(fields: string[], groups: ReadonlyMap<string, GroupSpec>): NodeSpec {
  if (fields.length < 9) {
    fail(
      `a node line needs at least 9 columns (name|t_mem|n_mem|f_mem|t_dsk|f_dsk|t_cpu|flag|group_uuid), got ${fields.length}`,
    );
  }
  const full = [...fields.slice(0, 15), ...nodeDefaults.slice(Math.max(0, fields.length - 9))];
  const [
    name,
    tMem,
    nMem,
    fMem,
    tDsk,
    fDsk,
    tCpu,
    flag,
    groupUuid,
    spindles,
    tags,
    excl,
    fSpindles,
    nCpu,
    speed,
  ] = full as [string, string, string, string, string, string, string, string, string, ...string[]];
  if (name === '') fail('empty node name');
  if (!groups.has(groupUuid)) fail(`node ${name} names unknown group UUID ${groupUuid}`);
  if (!['Y', 'N', 'M'].includes(flag))
    fail(`node ${name}: flag must be Y (offline), N or M (master), got ${flag}`);
  const group = asGroupUuid(groupUuid);
  const base = {
    name: asNodeName(name),
    group,
    master: flag === 'M',
    drained: false,
    tags: commaList(tags ?? ''),
  };
  // A `?` means the node sent no data: htools takes it as offline with zero resources.
  if ([tMem, nMem, fMem, tDsk, fDsk, tCpu].includes('?')) {
    return {
      ...base,
      totalMemoryMiB: 0,
      nodeMemoryMiB: 0,
      freeMemoryMiB: 0,
      totalDiskMiB: 0,
      freeDiskMiB: 0,
      totalCpus: 0,
      nodeCpus: 0,
      cpuSpeed: 1,
      spindles: 0,
      freeSpindles: 0,
      exclusiveStorage: false,
      offline: true,
    };
  }
  return {
    ...base,
    totalMemoryMiB: size(tMem, `total memory of node ${name}`),
    nodeMemoryMiB: size(nMem, `node memory of node ${name}`),
    freeMemoryMiB: integer(fMem, `free memory of node ${name}`),
    totalDiskMiB: size(tDsk, `total disk of node ${name}`),
    freeDiskMiB: integer(fDsk, `free disk of node ${name}`),
    totalCpus: size(tCpu, `CPU count of node ${name}`),
    spindles: size(spindles ?? '1', `spindle count of node ${name}`),
    exclusiveStorage: yesNo(excl ?? 'N', `exclusive storage of node ${name}`),
    freeSpindles: integer(fSpindles ?? '0', `free spindles of node ${name}`),
    nodeCpus: size(nCpu ?? '1', `node CPUs of node ${name}`),
    cpuSpeed: positiveFloat(speed ?? '1.0', `CPU speed of node ${name}`),
    offline: flag === 'Y',
  };
}

const instanceDefaults = ['1', '-', 'N'];

function parseInstance(fields: string[], nodes: ReadonlyMap<string, number>): InstanceSpec {
  if (fields.length < 10) {
    fail(
      `an instance line needs at least 10 columns (name|mem|dsk|vcpus|status|auto_balance|pnode|snode|disk_template|tags), got ${fields.length}`,
    );
  }
  const full = [...fields.slice(0, 13), ...instanceDefaults.slice(Math.max(0, fields.length - 10))];
  const [
    name,
    mem,
    dsk,
    vcpus,
    status,
    autoBalance,
    pnode,
    snode,
    template,
    tags,
    spindleUse,
    spindles,
    forthcoming,
  ] = full as [string, string, string, string, string, string, string, string, string, string, ...string[]];
  if (name === '') fail('empty instance name');
  if (!nodes.has(pnode)) fail(`Unknown node '${pnode}' for instance ${name}`);
  if (snode !== '' && !nodes.has(snode)) fail(`Unknown node '${snode}' for instance ${name}`);
  const diskTemplate = oneOf(diskTemplates, template, `disk template of instance ${name}`) as DiskTemplate;
  const mirrored = needsSecondary(diskTemplate);
  if (mirrored && snode === '') fail(`${diskTemplate} instance ${name} has no secondary node`);
  if (mirrored && snode === pnode) fail(`instance ${name} has the same primary and secondary node ${pnode}`);
  const diskMiB = size(dsk, `disk size of instance ${name}`);
  const diskSpindles =
    spindles === '-' || spindles === undefined ? null : size(spindles, `spindles of instance ${name}`);
  return {
    name: asInstanceName(name),
    memoryMiB: size(mem, `memory of instance ${name}`),
    disksMiB: [diskMiB],
    diskSpaceMiB: diskMiB,
    diskSpindles: [diskSpindles],
    vcpus: size(vcpus, `vcpus of instance ${name}`),
    status: oneOf(instanceStatuses, status, `status of instance ${name}`) as InstanceStatus,
    autoBalance: yesNo(autoBalance, `auto_balance of instance ${name}`),
    primary: asNodeName(pnode),
    // Only a mirrored template (DRBD) has a secondary; htools ignores one given for the others.
    secondary: mirrored ? (snode as NodeName) : null,
    diskTemplate,
    tags: commaList(tags),
    spindleUse: size(spindleUse ?? '1', `spindle_use of instance ${name}`),
    forthcoming: yesNo(forthcoming ?? 'N', `forthcoming flag of instance ${name}`),
    nicCount: 1,
  };
}

function parsePolicy(fields: string[]): [string, IPolicy] {
  if (fields.length < 6) {
    fail(
      `a policy line needs owner|std_ispec|minmax_ispecs|disk_templates|vcpu_ratio|spindle_ratio, got ${fields.length} columns`,
    );
  }
  const [owner, std, minMax, templates, vcpuRatio, spindleRatio] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const who = owner === '' ? 'the cluster policy' : `the policy of group ${owner}`;
  const specs = minMax.split(';').map((spec, index) => parseISpec(spec, `${who}, min/max spec ${index + 1}`));
  if (specs.length % 2 !== 0) fail(`${who} has an odd number of min/max specs`);
  const pairs: MinMaxISpec[] = [];
  for (let i = 0; i < specs.length; i += 2)
    pairs.push({ min: specs[i] as ISpec, max: specs[i + 1] as ISpec });
  return [
    owner,
    {
      std: parseISpec(std, `${who}, std spec`),
      minMax: pairs,
      diskTemplates: commaList(templates).map(
        (t) => oneOf(diskTemplates, t, `disk template in ${who}`) as DiskTemplate,
      ),
      vcpuRatio: positiveFloat(vcpuRatio, `vcpu ratio in ${who}`),
      spindleRatio: positiveFloat(spindleRatio, `spindle ratio in ${who}`),
    },
  ];
}

function parseISpec(text: string, what: string): ISpec {
  const parts = text.split(',');
  if (parts.length < 6) {
    fail(`${what} needs 6 numbers (memory,cpus,disk,disk count,nic count,spindle use), got "${text}"`);
  }
  const [memoryMiB, cpuCount, diskMiB, diskCount, nicCount, spindleUse] = parts.map((p) => size(p, what)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return { memoryMiB, cpuCount, diskMiB, diskCount, nicCount, spindleUse };
}

function commaList(text: string): string[] {
  return text === '' ? [] : text.split(',');
}

function oneOf(allowed: readonly string[], value: string, what: string): string {
  if (!allowed.includes(value)) fail(`${what} must be one of ${allowed.join(', ')}, got "${value}"`);
  return value;
}

function yesNo(value: string, what: string): boolean {
  if (value !== 'Y' && value !== 'N') fail(`${what} must be Y or N, got "${value}"`);
  return value === 'Y';
}

function integer(text: string, what: string): number {
  if (!/^-?\d+$/.test(text.trim())) fail(`${what} must be a whole number, got "${text}"`);
  return Number.parseInt(text, 10);
}

function size(text: string, what: string): number {
  const value = /^\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (Number.isNaN(value)) fail(`${what} must be a number of at least 0, got "${text}"`);
  return value;
}

function positiveFloat(text: string, what: string): number {
  const value = /^\d+(\.\d*)?([eE][-+]?\d+)?$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!(value > 0)) fail(`${what} must be a number above 0, got "${text}"`);
  return value;
}

/** Writes a snapshot in the same format, so that hbal can read Corral's results. */
export function serializeTextBackend(cluster: ClusterSnapshot): string {
  const groups = cluster.groups.map((g) =>
    [g.name, g.uuid, g.allocPolicy, g.tags.join(','), g.networks.join(',')].join('|'),
  );
  const nodes = cluster.nodes.map((n) =>
    [
      n.name,
      n.totalMemoryMiB,
      n.nodeMemoryMiB,
      n.freeMemoryMiB,
      n.totalDiskMiB,
      n.freeDiskMiB,
      n.totalCpus,
      n.offline || n.drained ? 'Y' : n.master ? 'M' : 'N',
      n.group,
      n.spindles,
      n.tags.join(','),
      n.exclusiveStorage ? 'Y' : 'N',
      n.freeSpindles,
      n.nodeCpus,
      fixedDouble(n.cpuSpeed),
    ].join('|'),
  );
  const instances = cluster.instances.map((i) => {
    const spindles = i.diskSpindles.every((s) => s !== null)
      ? String(i.diskSpindles.reduce<number>((sum, s) => sum + (s ?? 0), 0))
      : '-';
    return [
      i.name,
      i.memoryMiB,
      i.diskSpaceMiB,
      i.vcpus,
      i.status,
      i.autoBalance ? 'Y' : 'N',
      i.primary,
      i.secondary ?? '',
      i.diskTemplate,
      i.tags.join(','),
      i.spindleUse,
      spindles,
      i.forthcoming ? 'Y' : 'N',
    ].join('|');
  });
  const policies = [
    serializePolicy('', cluster.clusterPolicy),
    ...cluster.groups.map((g) => serializePolicy(g.name, g.policy)),
  ];
  const section = (rows: string[]): string => rows.map((row) => `${row}\n`).join('');
  return [
    section(groups),
    section(nodes),
    section(instances),
    section([...cluster.clusterTags]),
    section(policies),
  ].join('\n');
}

function serializePolicy(owner: string, policy: IPolicy): string {
  const spec = (s: ISpec): string =>
    [s.memoryMiB, s.cpuCount, s.diskMiB, s.diskCount, s.nicCount, s.spindleUse].join(',');
  return [
    owner,
    spec(policy.std),
    policy.minMax.flatMap((mm) => [spec(mm.min), spec(mm.max)]).join(';'),
    policy.diskTemplates.join(','),
    showDouble(policy.vcpuRatio),
    showDouble(policy.spindleRatio),
  ].join('|');
}
