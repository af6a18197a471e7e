import type { ClusterState } from '../state.js';

/**
 * htools' updateMissing check: nodes whose reported free memory or disk our instance records do not
 * explain (over 512 MiB of memory or 1 GiB of disk). hail prints these as warnings when it reads a
 * request, last node first, as htools accumulates them.
 */
export function inconsistencies(state: ClusterState): string[] {
  const usedDisk = state.nodes.map(() => 0);
  for (const i of state.instances) {
    if (i.forthcoming) continue;
    for (const node of [i.pNode, i.sNode]) if (node >= 0) usedDisk[node] = (usedDisk[node] ?? 0) + i.diskMiB;
  }
  const found: string[] = [];
  for (const n of state.nodes) {
    const missingDisk = Math.trunc(n.tDsk) - n.fDsk - (usedDisk[n.idx] ?? 0);
    if (n.xMem > 512 || missingDisk > 1024)
      found.unshift(
        `node ${n.name} is missing ${n.xMem} MB ram and ${Math.floor(missingDisk / 1024)} GB disk`,
      );
  }
  return found;
}

/** How hail prints them on stderr (CLI.maybeShowWarnings); nothing when there are none. */
export function warningText(messages: readonly string[]): string {
  if (messages.length === 0) return '';
  return `Warning: cluster has inconsistent data:\n${messages.map((m) => `  - ${m}\n`).join('')}\n`;
}
