import { type Rng, seededRng } from '../common/random.js';
import {
  asGroupUuid,
  asInstanceName,
  asNodeName,
  type ClusterSnapshot,
  defaultIPolicy,
  type InstanceSpec,
  type NodeSpec,
} from './types.js';

/**
 * Seeded, deliberately imbalanced clusters for tests and benchmarks: DRBD instances crowd onto
 * the first part of the node list, so there is real work for a balancer.
 */
export interface GenerateOptions {
  readonly nodes: number;
  readonly minInstancesPerNode: number;
  readonly maxInstancesPerNode: number;
  readonly seed: number;
  /** Share of the nodes that receive most primaries. */
  readonly crowdedShare?: number;
}

export function generateCluster(options: GenerateOptions): ClusterSnapshot {
  const rng: Rng = seededRng(options.seed);
  const group = asGroupUuid('00000000-0000-4000-8000-000000000001');
  const width = String(options.nodes).length;
  const nodes = Array.from({ length: options.nodes }, (_, i) => {
    const memoryMiB = rng.pick([65536, 131072, 262144]);
    const diskMiB = rng.pick([2, 4, 8]) * 1024 * 1024;
    return {
      name: asNodeName(`node-${String(i + 1).padStart(width, '0')}`),
      totalMemoryMiB: memoryMiB,
      freeMemoryMiB: memoryMiB - 2048,
      totalDiskMiB: diskMiB,
      freeDiskMiB: diskMiB,
      totalCpus: rng.pick([16, 32, 64]),
    };
  });
  const target = Math.round(
    (options.nodes * (options.minInstancesPerNode + options.maxInstancesPerNode)) / 2 / 2,
  );
  const crowded = Math.max(2, Math.round(options.nodes * (options.crowdedShare ?? 0.4)));
  const instances: InstanceSpec[] = [];
  // Per secondary node, the memory each primary would fail over onto it.
  const peers = nodes.map(() => new Map<number, number>());
  const vcpus = nodes.map(() => 1);
  let attempts = 0;
  while (instances.length < target && attempts < target * 20) {
    attempts++;
    // Primaries favour the crowded part; secondaries go anywhere.
    const p = rng.chance(0.8) ? rng.int(crowded) : rng.int(options.nodes);
    const s = rng.int(options.nodes);
    const primary = nodes[p];
    const secondary = nodes[s];
    if (primary === undefined || secondary === undefined || p === s) continue;
    const memoryMiB = rng.pick([512, 1024, 2048, 4096, 8192]);
    const diskMiB = rng.pick([10, 20, 50, 100]) * 1024;
    // Keep the generated cluster valid and N+1 redundant, only badly spread.
    if (primary.freeMemoryMiB - memoryMiB < 4096) continue;
    if (primary.freeDiskMiB - diskMiB < 65536 || secondary.freeDiskMiB - diskMiB < 65536) continue;
    const peerMap = peers[s] as Map<number, number>;
    const reserved = Math.max(0, ...peerMap.values(), (peerMap.get(p) ?? 0) + memoryMiB);
    if (secondary.freeMemoryMiB - reserved < 1024) continue;
    const primaryPeers = peers[p] as Map<number, number>;
    if (primary.freeMemoryMiB - memoryMiB - Math.max(0, ...primaryPeers.values()) < 1024) continue;
    const cpus = rng.pick([1, 2, 4]);
    if ((vcpus[p] ?? 0) + cpus > primary.totalCpus * 4) continue;
    peerMap.set(p, (peerMap.get(p) ?? 0) + memoryMiB);
    vcpus[p] = (vcpus[p] ?? 0) + cpus;
    primary.freeMemoryMiB -= memoryMiB;
    primary.freeDiskMiB -= diskMiB + 128;
    secondary.freeDiskMiB -= diskMiB + 128;
    const n = instances.length + 1;
    instances.push({
      name: asInstanceName(`inst-${n}`),
      memoryMiB,
      disksMiB: [diskMiB],
      diskSpaceMiB: diskMiB + 128,
      diskSpindles: [null],
      vcpus: cpus,
      status: 'running',
      autoBalance: true,
      primary: primary.name,
      secondary: secondary.name,
      diskTemplate: 'drbd',
      tags: [],
      spindleUse: 1,
      forthcoming: false,
      nicCount: 1,
    });
  }
  const nodeSpecs: NodeSpec[] = nodes.map((n) => ({
    ...n,
    group,
    nodeMemoryMiB: 2048,
    nodeCpus: 1,
    cpuSpeed: 1,
    spindles: 12,
    freeSpindles: 0,
    exclusiveStorage: false,
    offline: false,
    drained: false,
    master: false,
    tags: [],
  }));
  return {
    groups: [
      {
        name: 'default',
        uuid: group,
        allocPolicy: 'preferred',
        tags: [],
        networks: [],
        policy: defaultIPolicy,
      },
    ],
    nodes: nodeSpecs,
    instances,
    clusterTags: [],
    clusterPolicy: defaultIPolicy,
  };
}
