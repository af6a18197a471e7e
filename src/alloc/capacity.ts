import { type DiskTemplate, diskTemplateTraits, needsSecondary } from '../cluster/disk-templates.js';
import { allocate, withNewInstance } from './allocate.js';
import { type ClusterState, type FailMode, noNode } from './state.js';
import { asInstanceName, type ISpec } from './types.js';

/**
 * Capacity (hspace's question): how many more instances of a spec fit, placed one by one as
 * the allocator would place them, and which resource stops the next one. Tiered mode starts
 * from the largest spec and shrinks the resource that failed, down to the smallest.
 */
export interface CapacitySpec {
  readonly memoryMiB: number;
  readonly diskMiB: number;
  readonly vcpus: number;
  readonly spindleUse: number;
}

export interface CapacityTier {
  readonly spec: CapacitySpec;
  readonly count: number;
}

export interface CapacityResult {
  readonly tiers: readonly CapacityTier[];
  readonly total: number;
  /** Why the last attempt failed, most frequent first: the resource that ran out. */
  readonly limitedBy: readonly { readonly mode: FailMode; readonly nodes: number }[];
  readonly state: ClusterState;
}

export interface CapacityOptions {
  readonly template: DiskTemplate;
  /** Stop after this many instances (a guard for huge clusters). */
  readonly limit?: number;
}

export function specOf(ispec: ISpec): CapacitySpec {
  return {
    memoryMiB: ispec.memoryMiB,
    diskMiB: ispec.diskMiB,
    vcpus: ispec.cpuCount,
    spindleUse: ispec.spindleUse,
  };
}

export function capacity(
  start: ClusterState,
  tiers: { readonly from: CapacitySpec; readonly to?: CapacitySpec },
  options: CapacityOptions,
): CapacityResult {
  let state = start;
  let spec = tiers.from;
  const floor = tiers.to ?? tiers.from;
  const counts: CapacityTier[] = [];
  let limitedBy: { mode: FailMode; nodes: number }[] = [];
  let total = 0;
  const limit = options.limit ?? 100_000;
  while (total < limit) {
    const [withInst, inst] = withNewInstance(state, {
      name: asInstanceName(`new-${total}`),
      memoryMiB: spec.memoryMiB,
      diskMiB: spec.diskMiB + diskTemplateTraits[options.template].metadataPerDiskMiB,
      disksMiB: [spec.diskMiB],
      totalSpindles: null,
      vcpus: spec.vcpus,
      status: 'running',
      autoBalance: true,
      pNode: noNode,
      sNode: noNode,
      template: options.template,
      spindleUse: spec.spindleUse,
      forthcoming: false,
      tags: [],
      nicCount: 1,
      exclTags: [],
      desiredLocations: new Set(),
      locationScore: 0,
      movable: true,
    });
    // As hspace: placements with a secondary (DRBD's) rely on the N+1 memory reservation alone.
    const { best, attempts } = allocate(withInst, inst, {
      capacityChecks: !needsSecondary(options.template),
    });
    if (best !== null) {
      state = best.state;
      total++;
      const last = counts[counts.length - 1];
      if (last !== undefined && last.spec === spec)
        counts[counts.length - 1] = { spec, count: last.count + 1 };
      else counts.push({ spec, count: 1 });
      continue;
    }
    const failures = new Map<FailMode, number>();
    for (const a of attempts) {
      for (const [mode, n] of Object.entries(a.failures)) {
        failures.set(mode as FailMode, (failures.get(mode as FailMode) ?? 0) + (n ?? 0));
      }
    }
    limitedBy = [...failures.entries()]
      .map(([mode, nodes]) => ({ mode, nodes }))
      .sort((a, b) => b.nodes - a.nodes);
    const smaller = shrink(spec, floor, limitedBy[0]?.mode);
    if (smaller === null) break;
    spec = smaller;
  }
  return { tiers: counts, total, limitedBy, state };
}

/** One step down on the failing resource (htools' units: 64 MiB, 256 MiB, 1 CPU). */
function shrink(spec: CapacitySpec, floor: CapacitySpec, mode: FailMode | undefined): CapacitySpec | null {
  switch (mode) {
    case 'FailMem':
      return spec.memoryMiB - 64 >= floor.memoryMiB ? { ...spec, memoryMiB: spec.memoryMiB - 64 } : null;
    case 'FailDisk':
      return spec.diskMiB - 256 >= floor.diskMiB ? { ...spec, diskMiB: spec.diskMiB - 256 } : null;
    case 'FailCPU':
      return spec.vcpus - 1 >= floor.vcpus ? { ...spec, vcpus: spec.vcpus - 1 } : null;
    default:
      return null;
  }
}
