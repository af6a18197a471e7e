import { takesDisks } from '../cluster/disk-templates.js';
import type { FailMode, InstState, NodeState } from './state.js';
import type { IPolicy, ISpec } from './types.js';

/** Whether an instance fits one of the policy's min/max ranges and an allowed disk template. */
export function checkPolicy(inst: InstState, policy: IPolicy, exclusiveStorage: boolean): FailMode | null {
  let failure: FailMode | null = policy.minMax.length === 0 ? null : 'FailInternal';
  // htools folds from the right: when no range fits, the first range's failure is the one reported.
  for (const range of [...policy.minMax].reverse()) {
    failure =
      compareSpec(inst, range.min, exclusiveStorage, 1) ?? compareSpec(inst, range.max, exclusiveStorage, -1);
    if (failure === null) break;
  }
  if (failure !== null) return failure;
  return policy.diskTemplates.includes(inst.template) ? null : 'FailDisk';
}

/** direction 1: the instance must be at least the spec; -1: at most. */
function compareSpec(
  inst: InstState,
  spec: ISpec,
  exclusiveStorage: boolean,
  direction: 1 | -1,
): FailMode | null {
  const breaks = (value: number, limit: number): boolean => direction * (value - limit) < 0;
  if (breaks(inst.memoryMiB, spec.memoryMiB)) return 'FailMem';
  if (inst.disksMiB.some((size) => breaks(size, spec.diskMiB))) return 'FailDisk';
  if (breaks(inst.vcpus, spec.cpuCount)) return 'FailCPU';
  const spindles = exclusiveStorage ? inst.totalSpindles : inst.spindleUse;
  if (spindles === null || breaks(spindles, spec.spindleUse)) return 'FailSpindles';
  if (takesDisks(inst.template) && breaks(inst.disksMiB.length, spec.diskCount)) return 'FailDiskCount';
  return null;
}

/** Per node: would its instances' secondaries take them over without running out of memory? */
export interface N1Report {
  readonly node: string;
  readonly ok: boolean;
  readonly freeMemoryMiB: number;
  /** Memory the node keeps for the largest failover it might receive. */
  readonly reservedMemoryMiB: number;
}

export function n1Report(nodes: readonly NodeState[]): N1Report[] {
  return nodes
    .filter((n) => !n.offline)
    .map((n) => ({ node: n.name, ok: !n.failN1, freeMemoryMiB: n.fMem, reservedMemoryMiB: n.rMem }));
}

/** A broken constraint found by `findViolations`, in words an operator can act on. */
export interface Violation {
  readonly node: string;
  readonly what: 'n1' | 'vcpu-ratio' | 'spindle-ratio' | 'exclusion-tags' | 'policy' | 'disk' | 'offline';
  readonly detail: string;
}

/** Everything in a group that breaks N+1, the group policy, the exclusion tags or the hardware. */
export function findViolations(nodes: readonly NodeState[], instances: readonly InstState[]): Violation[] {
  const found: Violation[] = [];
  const nodeSet = new Set(nodes.map((n) => n.idx));
  for (const n of nodes) {
    if (n.offline) {
      if (n.pCount + n.sCount > 0) {
        found.push({
          node: n.name,
          what: 'offline',
          detail: `${n.pCount + n.sCount} instances on an offline node`,
        });
      }
      continue;
    }
    if (n.failN1) {
      found.push({
        node: n.name,
        what: 'n1',
        detail: `reserves ${n.rMem} MiB for failovers but has less free`,
      });
    }
    if (n.uCpu / n.tCpu > n.policy.vcpuRatio) {
      found.push({ node: n.name, what: 'vcpu-ratio', detail: `${n.uCpu} vCPUs on ${n.tCpu} CPUs` });
    }
    if (n.instSpindles > n.hiSpindles) {
      found.push({
        node: n.name,
        what: 'spindle-ratio',
        detail: `${n.instSpindles} spindles used of ${n.hiSpindles}`,
      });
    }
    let conflicts = 0;
    for (const c of n.pTags.values()) conflicts += c - 1;
    if (conflicts > 0)
      found.push({ node: n.name, what: 'exclusion-tags', detail: `${conflicts} exclusion-tag conflicts` });
    if (n.fDsk < 0)
      found.push({ node: n.name, what: 'disk', detail: `${-n.fDsk} MiB of disk overcommitted` });
  }
  for (const i of instances) {
    if (!nodeSet.has(i.pNode)) continue;
    const p = nodes.find((n) => n.idx === i.pNode);
    if (p === undefined) continue;
    const failure = checkPolicy(i, p.policy, p.exclusiveStorage);
    if (failure !== null)
      found.push({ node: p.name, what: 'policy', detail: `${i.name} breaks the policy (${failure})` });
  }
  return found;
}
