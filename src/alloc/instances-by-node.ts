import { type InstState, noNode } from './state.js';

/**
 * The instances on each node, as primary or secondary, kept up to date as instances move: a round of a large
 * group's search gathers its pool from the few nodes it looks at instead of filtering every instance (25,000
 * on 2,000 nodes, every round).
 */
export class InstancesByNode {
  private readonly lists: number[][] = [];

  constructor(instances: readonly InstState[]) {
    for (const i of instances) this.add(i);
  }

  /** The instances on any of the nodes, by index, each once. */
  gather(nodes: Iterable<number>): number[] {
    const found = new Set<number>();
    for (const node of nodes) for (const idx of this.lists[node] ?? []) found.add(idx);
    return [...found].sort((a, b) => a - b);
  }

  /** Records that an instance moved from `before`'s nodes to `after`'s. */
  move(before: InstState, after: InstState): void {
    for (const node of nodesOf(before)) {
      const list = this.lists[node] ?? [];
      const at = list.indexOf(before.idx);
      if (at >= 0) list.splice(at, 1);
    }
    this.add(after);
  }

  private add(i: InstState): void {
    for (const node of nodesOf(i)) {
      const list = this.lists[node] ?? [];
      list.push(i.idx);
      this.lists[node] = list;
    }
  }
}

function nodesOf(i: InstState): number[] {
  if (i.pNode === noNode) return [];
  return i.sNode === noNode || i.sNode === i.pNode ? [i.pNode] : [i.pNode, i.sNode];
}
