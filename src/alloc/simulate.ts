import { CorralError } from '../common/errors.js';
import {
  type AllocPolicy,
  allocPolicies,
  asGroupUuid,
  asNodeName,
  type ClusterSnapshot,
  defaultIPolicy,
  type GroupSpec,
  type NodeSpec,
} from './types.js';

/**
 * htools' simulation backend (--simulate, Ganeti's Backend/Simu.hs): empty groups of identical nodes,
 * each described as `alloc_policy,num_nodes,disk,ram,cpu[,spindles[,exclusive_storage]]`. Nodes are named
 * node-GG-NNN, groups group-GG with UUID fake-uuid-GG; the first node of the first group is the master;
 * everything carries Ganeti's default instance policy.
 */

export interface SimulatedGroup {
  readonly allocPolicy: AllocPolicy;
  readonly nodes: number;
  readonly diskMiB: number;
  readonly memoryMiB: number;
  readonly cpus: number;
  readonly spindles: number;
  readonly exclusiveStorage: boolean;
}

const policyAbbreviations: Readonly<Record<string, AllocPolicy>> = {
  p: 'preferred',
  a: 'last_resort',
  u: 'unallocable',
};

function bad(message: string): never {
  throw new CorralError('bad_request', message);
}

/** Ganeti's parseUnit: a whole number and an optional unit, in MiB (m, g, t binary; M, G, T decimal). */
export function parseUnitMiB(text: string): number {
  const match = /^\s*(-?\d+)\s*(.*)$/.exec(text);
  if (match === null) bad(`Can't parse string '${text}'`);
  const unit = match[2] as string;
  const upper = unit.toUpperCase();
  // Decimal units: MB is 10^6 bytes, i.e. (1000/1024)^2 MiB.
  const decimal = (1000 / 1024) ** 2;
  let factor: number;
  if (unit === '' || unit === 'm' || upper === 'MIB') factor = 1;
  else if (unit === 'g' || upper === 'GIB') factor = 1024;
  else if (unit === 't' || upper === 'TIB') factor = 1024 * 1024;
  else if (unit === 'M' || upper === 'MB') factor = decimal;
  else if (unit === 'G' || upper === 'GB') factor = decimal * 1000;
  else if (unit === 'T' || upper === 'TB') factor = decimal * 1000 * 1000;
  else bad(`Unknown unit '${unit}'`);
  return Math.trunc(Number(match[1]) * factor);
}

function readInt(what: string, text: string): number {
  if (!/^\s*-?\d+\s*$/.test(text)) bad(`${what}: cannot parse string '${text}'`);
  return Number(text);
}

/** One --simulate value. */
export function parseSimulatedGroup(spec: string): SimulatedGroup {
  const fields = spec.split(',');
  if (fields.length < 5 || fields.length > 7) {
    bad(
      `Invalid cluster specification, expected 6 comma-separated sections (allocation policy, node count, disk size, memory size, number of CPUs, spindles) but got ${fields.length}: '${spec}'`,
    );
  }
  const [policy, count, disk, memory, cpus, spindles = '1', exclusive = 'False'] = fields as [
    string,
    string,
    string,
    string,
    string,
    ...string[],
  ];
  const allocPolicy = (allocPolicies as readonly string[]).includes(policy)
    ? (policy as AllocPolicy)
    : policyAbbreviations[policy];
  if (allocPolicy === undefined) bad(`Cannot parse AllocPolicy abbreviation '${policy}'`);
  const annotate = (what: string, f: () => number): number => {
    try {
      return f();
    } catch (error) {
      if (error instanceof CorralError) bad(`${what}: ${error.message}`);
      throw error;
    }
  };
  if (exclusive !== 'True' && exclusive !== 'False')
    bad(`exclusive storage: cannot parse string '${exclusive}'`);
  return {
    allocPolicy,
    nodes: readInt('node count', count),
    diskMiB: annotate('disk size', () => parseUnitMiB(disk)),
    memoryMiB: annotate('memory size', () => parseUnitMiB(memory)),
    cpus: readInt('cpu count', cpus),
    spindles: readInt('spindles', spindles),
    exclusiveStorage: exclusive === 'True',
  };
}

const twoDigits = (n: number): string => String(n).padStart(2, '0');

/**
 * The simulated cluster, one group per spec, group-01 from the first. htools collects --simulate values
 * last-given first (its optNodeSim), so that order gives its numbering.
 */
export function simulateCluster(specs: readonly string[]): ClusterSnapshot {
  const groups: GroupSpec[] = [];
  const nodes: NodeSpec[] = [];
  specs.forEach((spec, index) => {
    const g = parseSimulatedGroup(spec);
    const number = twoDigits(index + 1);
    const uuid = asGroupUuid(`fake-uuid-${number}`);
    groups.push({
      name: `group-${number}`,
      uuid,
      allocPolicy: g.allocPolicy,
      tags: [],
      networks: [],
      policy: defaultIPolicy,
    });
    for (let n = 1; n <= g.nodes; n++) {
      nodes.push({
        name: asNodeName(`node-${number}-${String(n).padStart(3, '0')}`),
        group: uuid,
        totalMemoryMiB: g.memoryMiB,
        nodeMemoryMiB: 0,
        freeMemoryMiB: g.memoryMiB,
        totalDiskMiB: g.diskMiB,
        freeDiskMiB: g.diskMiB,
        totalCpus: g.cpus,
        nodeCpus: 1,
        cpuSpeed: 1,
        spindles: g.spindles,
        // As Simu.hs: the free spindles start at 0.
        freeSpindles: 0,
        exclusiveStorage: g.exclusiveStorage,
        offline: false,
        drained: false,
        master: index === 0 && n === 1,
        tags: [],
      });
    }
  });
  return { groups, nodes, instances: [], clusterTags: [], clusterPolicy: defaultIPolicy };
}
