import type { AllocateResult, DedicatedMetric, FailureCounts, GroupAttempt } from '../allocate.js';
import { showPolicy } from '../haskell-show.js';
import { type ClusterState, failModes, noNode, usedGroups } from '../state.js';

/**
 * hail's words for allocation results (htools' AllocationSolution.hs and the Haskell `show` its
 * messages embed), shared by the iallocator answers and the evacuations' failure reasons.
 */

/** hail's wording: "FailMem: 3, FailDisk: 1". */
export function describeFailures(failures: FailureCounts): string {
  return failModes
    .filter((mode) => (failures[mode] ?? 0) > 0)
    .map((mode) => `${mode}: ${failures[mode]}`)
    .join(', ');
}

/** How hail prints a dedicated metric: Haskell's `show` of the pair. */
export function showMetric(m: DedicatedMetric): string {
  return `([${m.lost.join(',')}],${m.diskMiB})`;
}

/** One group's line in hail's answer (htools' solutionDescription). */
export function describeAttempt(state: ClusterState, a: GroupAttempt): string {
  const g = state.groups[a.group]?.spec;
  if (a.error !== undefined) return `Group ${g?.name}: error ${a.error}`;
  return `Group ${g?.name} (${g?.allocPolicy}): ${describeSolution(state, a)}`;
}

/** What hail says of one group's solution (htools' describeSolution). */
export function describeSolution(state: ClusterState, a: GroupAttempt): string {
  const reasons = describeFailures(a.failures);
  if (a.placement === null) {
    return `No valid allocation solutions, failure reasons: ${reasons === '' ? 'unknown reasons' : reasons}`;
  }
  const p = a.placement;
  const nodes = [p.primary, p.secondary].filter((n) => n !== noNode).map((n) => state.nodes[n]?.name);
  const failures = Object.values(a.failures).reduce((s, n) => s + (n ?? 0), 0);
  const score = p.metric === undefined ? p.score.toFixed(8) : showMetric(p.metric);
  return `score: ${score}, successes ${a.successes}, failures ${failures} (${reasons}) for node(s) ${nodes.join('/')}`;
}

/** hail's lines for a multi-group allocation: the unconnected groups first, then each group tried. */
export function describeAllocation(
  state: ClusterState,
  result: AllocateResult,
  instanceName: string,
): string[] {
  return [
    ...result.unconnected.map(
      (g) =>
        `group ${state.groups[g]?.spec.name} is not connected to a network required by instance ${instanceName}`,
    ),
    ...result.attempts.map((a) => describeAttempt(state, a)),
  ];
}

/**
 * hail's words when no allowed group has nodes: the allowed group indices, then every group that has
 * nodes, as Haskell's `show` prints them.
 */
export function describeNoGroups(state: ClusterState, allowed: readonly number[] | null): string {
  const withNodes = new Set(usedGroups(state));
  const used = state.groups.filter((g) => withNodes.has(g.idx));
  const allowedText = allowed === null ? 'Nothing' : `Just [${allowed.join(',')}]`;
  return `no groups for evacuation: allowed groups was ${allowedText}, all groups: [${used.map(showGroup).join(',')}]`;
}

const haskellPolicy = {
  preferred: 'AllocPreferred',
  last_resort: 'AllocLastResort',
  unallocable: 'AllocUnallocable',
};
const showStrings = (list: readonly string[]): string => `[${list.map((s) => JSON.stringify(s)).join(',')}]`;

function showGroup(g: ClusterState['groups'][number]): string {
  return `Group {name = ${JSON.stringify(g.spec.name)}, uuid = ${JSON.stringify(g.spec.uuid)}, idx = ${g.idx}, allocPolicy = ${haskellPolicy[g.spec.allocPolicy]}, networks = ${showStrings(g.spec.networks)}, iPolicy = ${showPolicy(g.spec.policy)}, allTags = ${showStrings(g.spec.tags)}}`;
}
