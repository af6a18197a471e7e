import { type ClusterState, hasSecondary, noNode } from './state.js';

/**
 * Rolling-reboot groups (hroller's question): nodes that can go down together without taking
 * both nodes of any instance down, nor two primaries whose instances share a secondary (that
 * secondary could not take both over). A graph colouring; the smaller of two greedy colourings
 * wins, groups are listed largest first and the master node goes last.
 */
export interface RollOptions {
  /** Only the nodes of this group (index). */
  readonly group?: number;
}

export function rebootGroups(state: ClusterState, options: RollOptions = {}): string[][] {
  const nodes = state.nodes.filter(
    (n) => !n.offline && (options.group === undefined || n.group === options.group),
  );
  const wanted = new Set(nodes.map((n) => n.idx));
  const edges = new Map<number, Set<number>>(nodes.map((n) => [n.idx, new Set<number>()]));
  const link = (a: number, b: number): void => {
    if (a === b || !wanted.has(a) || !wanted.has(b)) return;
    edges.get(a)?.add(b);
    edges.get(b)?.add(a);
  };
  const primariesBySecondary = new Map<number, number[]>();
  for (const inst of state.instances) {
    if (inst.sNode === noNode || !hasSecondary(inst)) continue;
    link(inst.pNode, inst.sNode);
    const list = primariesBySecondary.get(inst.sNode) ?? [];
    list.push(inst.pNode);
    primariesBySecondary.set(inst.sNode, list);
  }
  for (const primaries of primariesBySecondary.values()) {
    const distinct = [...new Set(primaries)];
    for (const a of distinct) for (const b of distinct) link(a, b);
  }
  const order = nodes.map((n) => n.idx);
  const colourings = [largestFirst(order, edges), dsatur(order, edges)];
  const best = colourings.reduce((a, b) => (b.size < a.size ? b : a));
  const groups = [...best.values()].sort((a, b) => b.length - a.length);
  const isMaster = (idx: number): boolean => state.nodes[idx]?.master ?? false;
  // The master reboots last: its group goes to the end, the master at the end of it (as hroller).
  const ordered = [...groups.filter((g) => !g.some(isMaster)), ...groups.filter((g) => g.some(isMaster))].map(
    (g) => g.sort((a, b) => Number(isMaster(a)) - Number(isMaster(b)) || a - b),
  );
  return ordered.map((g) => g.map((idx) => state.nodes[idx]?.name ?? ''));
}

type Colouring = Map<number, number[]>;

function assign(
  colouring: Colouring,
  colourOf: Map<number, number>,
  node: number,
  edges: Map<number, Set<number>>,
): void {
  const taken = new Set<number>();
  for (const other of edges.get(node) ?? []) {
    const c = colourOf.get(other);
    if (c !== undefined) taken.add(c);
  }
  let colour = 0;
  while (taken.has(colour)) colour++;
  colourOf.set(node, colour);
  const members = colouring.get(colour) ?? [];
  members.push(node);
  colouring.set(colour, members);
}

function largestFirst(order: readonly number[], edges: Map<number, Set<number>>): Colouring {
  const colouring: Colouring = new Map();
  const colourOf = new Map<number, number>();
  const sorted = [...order].sort((a, b) => (edges.get(b)?.size ?? 0) - (edges.get(a)?.size ?? 0) || a - b);
  for (const node of sorted) assign(colouring, colourOf, node, edges);
  return colouring;
}

function dsatur(order: readonly number[], edges: Map<number, Set<number>>): Colouring {
  const colouring: Colouring = new Map();
  const colourOf = new Map<number, number>();
  const left = new Set(order);
  const saturation = (node: number): number => {
    const seen = new Set<number>();
    for (const other of edges.get(node) ?? []) {
      const c = colourOf.get(other);
      if (c !== undefined) seen.add(c);
    }
    return seen.size;
  };
  while (left.size > 0) {
    let pick = -1;
    let pickKey: [number, number] = [-1, -1];
    for (const node of left) {
      const key: [number, number] = [saturation(node), edges.get(node)?.size ?? 0];
      if (key[0] > pickKey[0] || (key[0] === pickKey[0] && key[1] > pickKey[1])) {
        pick = node;
        pickKey = key;
      }
    }
    left.delete(pick);
    assign(colouring, colourOf, pick, edges);
  }
  return colouring;
}
