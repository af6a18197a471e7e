import { CorralError } from '../common/errors.js';
import {
  addPrimary,
  addSecondary,
  type ClusterState,
  hasSecondary,
  type InstState,
  isFailMode,
  type NodeState,
  noNode,
  removePrimary,
  removeSecondary,
} from './state.js';

/**
 * Rolling-reboot groups, hroller's question: which nodes can go down together. A graph of nodes
 * that must not be down at once (both nodes of a DRBD instance; with live maintenance also two
 * primaries sharing a secondary, which could not take both over) is coloured three ways and the
 * smallest colouring wins. Each colour class is then split until its non-redundant instances fit
 * elsewhere (unless ignored), and with full evacuation until its secondaries can move too.
 * Ties and orders follow hroller exactly, so that the same input gives the same groups.
 */
export interface RollOptions {
  /** The nodes will be offline for good: only instances' own node pairs conflict. */
  readonly offlineMaintenance?: boolean;
  /** Leave out nodes holding non-redundant instances. */
  readonly skipNonRedundant?: boolean;
  /** Do not move non-redundant instances away (they will be down). */
  readonly ignoreNonRedundant?: boolean;
  /** Empty the nodes completely: migrate the primaries, move the secondaries. */
  readonly fullEvacuation?: boolean;
  /** Only nodes carrying one of these tags. */
  readonly nodeTags?: readonly string[];
  /** Only the nodes of this group (index). */
  readonly group?: number;
}

/** An instance moved to empty a group: where it ends up. */
export interface RollMove {
  readonly instance: string;
  readonly primary: string;
  readonly secondary: string | null;
}

export interface RebootGroup {
  readonly nodes: readonly string[];
  readonly moves: readonly RollMove[];
}

export interface RollPlan {
  /** The conflict graph as hroller shows it with -v -v -v (a Haskell array). */
  readonly graph: string;
  /** Why the nodes cannot be grouped (hroller shows the graph first); null when they can. */
  readonly failure: string | null;
  /** Empty on failure. */
  readonly groups: readonly RebootGroup[];
  /** How the three colourings compared, as hroller shows it with -v -v. */
  readonly stats: string;
}

export function rollPlan(state: ClusterState, options: RollOptions = {}): RollPlan {
  const initial = initialConf(state);
  const chosen = state.nodes.filter(
    (n) =>
      !n.offline &&
      (!options.skipNonRedundant || nonRedundant(initial, n.idx).length === 0) &&
      (options.nodeTags === undefined || n.tags.some((t) => options.nodeTags?.includes(t))) &&
      (options.group === undefined || n.group === options.group),
  );
  if (chosen.length === 0) throw new CorralError('bad_request', 'Cannot create node graph');
  const wanted = new Set(chosen.map((n) => n.idx));
  const graph = conflictGraph(state, initial, wanted, options.offlineMaintenance ?? false);
  const colourings: [string, number[][]][] = [
    ['LF', classes(colourLargestFirst(graph))],
    ['Dsatur', classes(colourDynamic(graph, saturation))],
    ['Dcolor', classes(colourDynamic(graph, colouredDegree))],
  ];
  // The first of the smallest wins, as minimumBy keeps the first.
  const smallest = colourings.reduce((a, b) => (b[1].length < a[1].length ? b : a))[1];
  const allOnline = state.nodes.filter((n) => !n.offline).map((n) => n.idx);
  const result = { graph: showGraph(graph), stats: colouringStats(colourings) };
  const grouped = groupNodes(smallest, allOnline, initial, options);
  if (typeof grouped === 'string') return { ...result, failure: grouped, groups: [] };

  const named = grouped.map(([g, conf]) => ({
    members: g.filter((idx) => wanted.has(idx)).map((idx) => state.nodes[idx] as NodeState),
    moves: movesBetween(initial, conf),
  }));
  // A stable sort, largest first; then the master's group last and the master last in it.
  named.sort((a, b) => b.members.length - a.members.length);
  const withMaster = named.filter((g) => g.members.some((n) => n.master));
  const groups = [...named.filter((g) => !g.members.some((n) => n.master)), ...withMaster].map((g) => ({
    nodes: [...g.members.filter((n) => !n.master), ...g.members.filter((n) => n.master)].map((n) => n.name),
    moves: g.moves,
  }));
  return { ...result, failure: null, groups };
}

class GroupingFailure extends Error {}

/** Splits the colour classes as the options ask; the failure's message when a split is impossible. */
function groupNodes(
  classes: readonly number[][],
  allOnline: readonly number[],
  initial: Conf,
  options: RollOptions,
): [number[], Conf][] | string {
  const fail = (message: string): never => {
    throw new GroupingFailure(message);
  };
  try {
    let groups: [number[], Conf][] = options.ignoreNonRedundant
      ? classes.map((g) => [g, initial])
      : classes.flatMap(
          (g) =>
            partition(clearNonRedundant, g, allOnline, initial) ??
            fail('Not enough capacity to move non-redundant instances'),
        );
    if (options.fullEvacuation) {
      groups = groups.map(([g, conf]) => [
        g,
        migrateOff(g, conf) ?? fail('Failed to migrate instances off nodes'),
      ]);
      groups = groups.flatMap(
        ([g, conf]) =>
          partition(clearSecondaries, g, allOnline, conf) ?? fail('Not enough capacity to move secondaries'),
      );
    }
    return groups;
  } catch (error) {
    if (error instanceof GroupingFailure) return error.message;
    throw error;
  }
}

/**
 * A node slot with the instance lists htools keeps on the node. Slots rather than nodes because
 * hroller's secondary replacement writes the primary's node into the old secondary's slot, and
 * later capacity checks see that; keeping it gives the same groups as hroller.
 */
interface Slot {
  readonly node: NodeState;
  /** Newest first, as htools prepends. */
  readonly pList: readonly number[];
  readonly sList: readonly number[];
}

interface Conf {
  readonly slots: readonly Slot[];
  readonly instances: readonly InstState[];
}

function initialConf(state: ClusterState): Conf {
  const pLists: number[][] = state.nodes.map(() => []);
  const sLists: number[][] = state.nodes.map(() => []);
  for (const inst of state.instances) {
    if (inst.forthcoming) continue;
    pLists[inst.pNode]?.unshift(inst.idx);
    if (inst.sNode !== noNode) sLists[inst.sNode]?.unshift(inst.idx);
  }
  return {
    slots: state.nodes.map((node, idx) => ({ node, pList: pLists[idx] ?? [], sList: sLists[idx] ?? [] })),
    instances: state.instances,
  };
}

const slotOf = (conf: Conf, idx: number): Slot => conf.slots[idx] as Slot;
const instOf = (conf: Conf, idx: number): InstState => conf.instances[idx] as InstState;

/** Removes the first occurrence, as Haskell's delete. */
function without(list: readonly number[], value: number): number[] {
  const at = list.indexOf(value);
  return at < 0 ? [...list] : [...list.slice(0, at), ...list.slice(at + 1)];
}

function withSlots(conf: Conf, changes: readonly (readonly [number, Slot])[], inst: InstState): Conf {
  const slots = [...conf.slots];
  // Later entries win, as Container.addTwo's first key does.
  for (const [idx, slot] of changes) slots[idx] = slot;
  const instances = [...conf.instances];
  instances[inst.idx] = inst;
  return { slots, instances };
}

const nonRedundant = (conf: Conf, ndx: number): number[] =>
  slotOf(conf, ndx).pList.filter((i) => !hasSecondary(instOf(conf, i)));
const redundantPrimaries = (conf: Conf, ndx: number): number[] =>
  slotOf(conf, ndx).pList.filter((i) => hasSecondary(instOf(conf, i)));

// The conflict graph, built as Data.Graph.buildG builds it: vertices span the lowest to the
// highest chosen index, and each adjacency list holds its edges newest first, duplicates kept.

interface Graph {
  readonly low: number;
  readonly adjacency: readonly (readonly number[])[];
}

function conflictGraph(
  state: ClusterState,
  initial: Conf,
  wanted: ReadonlySet<number>,
  offline: boolean,
): Graph {
  const edges: [number, number][] = [];
  for (const inst of state.instances) {
    if (hasSecondary(inst)) edges.push([inst.pNode, inst.sNode], [inst.sNode, inst.pNode]);
  }
  if (!offline) {
    // Primaries sharing a secondary, unioned in: duplicates of these, or of instance edges, go.
    const seen = new Set(edges.map(([a, b]) => `${a},${b}`));
    for (const slot of initial.slots) {
      const primaries = slot.sList.map((i) => instOf(initial, i).pNode);
      for (const a of primaries) {
        for (const b of primaries) {
          const key = `${a},${b}`;
          if (seen.has(key)) continue;
          seen.add(key);
          edges.push([a, b]);
        }
      }
    }
  }
  const low = Math.min(...wanted);
  const high = Math.max(...wanted);
  const adjacency: number[][] = Array.from({ length: high - low + 1 }, () => []);
  for (const [a, b] of edges) {
    if (wanted.has(a) && wanted.has(b)) adjacency[a - low]?.unshift(b);
  }
  return { low, adjacency };
}

function showGraph(g: Graph): string {
  const entries = g.adjacency.map((adj, k) => `(${k + g.low},[${adj.join(',')}])`);
  return `array (${g.low},${g.low + g.adjacency.length - 1}) [${entries.join(',')}]`;
}

type Colours = Map<number, number>;
const neighbours = (g: Graph, v: number): readonly number[] => g.adjacency[v - g.low] ?? [];
const vertices = (g: Graph): number[] => g.adjacency.map((_, k) => k + g.low);

function colourVertex(g: Graph, colours: Colours, v: number): void {
  const taken = new Set<number>();
  for (const w of neighbours(g, v)) {
    const c = colours.get(w);
    if (c !== undefined) taken.add(c);
  }
  let colour = 0;
  while (taken.has(colour)) colour++;
  colours.set(v, colour);
}

/** Largest degree first; among equal degrees the highest vertex first (a foldr over a stable sort). */
function colourLargestFirst(g: Graph): Colours {
  const order = vertices(g).sort((a, b) => neighbours(g, a).length - neighbours(g, b).length);
  const colours: Colours = new Map();
  for (const v of order.reverse()) colourVertex(g, colours, v);
  return colours;
}

/** Distinct colours among the neighbours, then degree. */
function saturation(g: Graph, colours: Colours, v: number): [number, number] {
  const seen = new Set<number>();
  for (const w of neighbours(g, v)) {
    const c = colours.get(w);
    if (c !== undefined) seen.add(c);
  }
  return [seen.size, neighbours(g, v).length];
}

/** Coloured neighbours, counted with repeats, then degree. */
function colouredDegree(g: Graph, colours: Colours, v: number): [number, number] {
  const adj = neighbours(g, v);
  return [adj.filter((w) => colours.has(w)).length, adj.length];
}

/** Repeatedly colours the vertex with the largest key; the last of equals, as maximumBy picks. */
function colourDynamic(g: Graph, key: (g: Graph, colours: Colours, v: number) => [number, number]): Colours {
  const colours: Colours = new Map();
  const left = vertices(g);
  while (left.length > 0) {
    let pick = 0;
    let best: [number, number] = [-1, -1];
    left.forEach((v, at) => {
      const k = key(g, colours, v);
      if (k[0] > best[0] || (k[0] === best[0] && k[1] >= best[1])) {
        pick = at;
        best = k;
      }
    });
    const [v] = left.splice(pick, 1);
    colourVertex(g, colours, v as number);
  }
  return colours;
}

/** The colour classes in colour order, each in vertex order. */
function classes(colours: Colours): number[][] {
  const byColour = new Map<number, number[]>();
  for (const [v, c] of [...colours].sort((a, b) => a[0] - b[0]))
    byColour.set(c, [...(byColour.get(c) ?? []), v]);
  return [...byColour].sort((a, b) => a[0] - b[0]).map(([, members]) => members);
}

/** hroller's -v -v line: the colourings from most colours to fewest, tied or beaten by the next. */
function colouringStats(colourings: readonly [string, number[][]][]): string {
  const describe = ([name, cls]: [string, number[][]]): string =>
    `${name}: ${cls.length} (${cls.map((c) => c.length).join(',')})`;
  const bySize = [...colourings].sort((a, b) => b[1].length - a[1].length).reverse();
  return bySize
    .map((c, k) => {
      const previous = bySize[k - 1];
      if (previous === undefined) return describe(c);
      return `${previous[1].length === c[1].length ? ' TIE ' : ' LOOSE '}${describe(c)}`;
    })
    .join('');
}

// Splitting a colour class into groups whose nodes can be emptied together.

type Clear = (ndxs: readonly number[], targets: readonly number[], conf: Conf) => [number[], Conf];
type Relocate = (idxs: readonly number[], targets: readonly number[], conf: Conf) => Conf | null;

/** Greedily takes each node whose instances fit on the nodes not taken yet (same node group). */
function greedyClear(instancesOf: (conf: Conf, ndx: number) => number[], relocate: Relocate): Clear {
  return (ndxs, allTargets, initial) => {
    const cleared: number[] = [];
    let targets = [...allTargets];
    let conf = initial;
    for (const ndx of ndxs) {
      const others = without(targets, ndx);
      const group = slotOf(conf, ndx).node.group;
      const sameGroup = others.filter((t) => slotOf(conf, t).node.group === group);
      const next = relocate(instancesOf(conf, ndx), sameGroup, conf);
      if (next === null) continue;
      cleared.push(ndx);
      targets = others;
      conf = next;
    }
    return [cleared, conf];
  };
}

/** Splits nodes into groups, each cleared from the same starting configuration; null if one is stuck. */
function partition(
  clear: Clear,
  ndxs: readonly number[],
  targets: readonly number[],
  conf: Conf,
): [number[], Conf][] | null {
  const parts: [number[], Conf][] = [];
  let remaining = [...ndxs];
  while (remaining.length > 0) {
    const [group, after] = clear(remaining, targets, conf);
    if (group.length === 0) return null;
    parts.push([group, after]);
    for (const ndx of group) remaining = without(remaining, ndx);
  }
  return parts;
}

function eachFirst(
  idxs: readonly number[],
  targets: readonly number[],
  conf: Conf,
  tryOne: TryOne,
): Conf | null {
  let current = conf;
  for (const idx of idxs) {
    let placed: Conf | null = null;
    for (const target of targets) {
      placed = tryOne(idx, target, current);
      if (placed !== null) break;
    }
    if (placed === null) return null;
    current = placed;
  }
  return current;
}

type TryOne = (idx: number, target: number, conf: Conf) => Conf | null;

/** Moves a non-redundant instance's primary (a re-creation elsewhere, soft limits ignored). */
const movePrimary: TryOne = (idx, target, conf) => {
  const inst = instOf(conf, idx);
  const from = slotOf(conf, inst.pNode);
  const to = slotOf(conf, target);
  const placed = addPrimary(to.node, inst, true);
  if (isFailMode(placed)) return null;
  return withSlots(
    conf,
    [
      [target, { ...to, node: placed, pList: [idx, ...to.pList] }],
      [inst.pNode, { ...from, node: removePrimary(from.node, inst), pList: without(from.pList, idx) }],
    ],
    { ...inst, pNode: target },
  );
};

/** hroller's secondary replacement, which takes the old secondary's slot from the primary's (see Slot). */
const moveSecondary: TryOne = (idx, target, conf) => {
  const inst = instOf(conf, idx);
  if (inst.pNode === target) return null;
  const to = slotOf(conf, target);
  const placed = addSecondary(to.node, inst, inst.pNode, true);
  if (isFailMode(placed)) return null;
  const stale = slotOf(conf, inst.pNode);
  return withSlots(
    conf,
    [
      [target, { ...to, node: placed, sList: [idx, ...to.sList] }],
      [inst.sNode, { ...stale, node: removeSecondary(stale.node, inst), sList: without(stale.sList, idx) }],
    ],
    { ...inst, sNode: target },
  );
};

const clearNonRedundant = greedyClear(nonRedundant, (idxs, targets, conf) =>
  eachFirst(idxs, targets, conf, movePrimary),
);
const clearSecondaries = greedyClear(
  (conf, ndx) => [...slotOf(conf, ndx).sList],
  (idxs, targets, conf) => eachFirst(idxs, targets, conf, moveSecondary),
);

/** Migrates the DRBD primaries off the nodes, ignoring soft limits; null if one does not fit. */
function migrateOff(ndxs: readonly number[], initial: Conf): Conf | null {
  let conf = initial;
  for (const idx of ndxs.flatMap((ndx) => redundantPrimaries(initial, ndx))) {
    const inst = instOf(conf, idx);
    const p = slotOf(conf, inst.pNode);
    const s = slotOf(conf, inst.sNode);
    const newPrimary = addPrimary(removeSecondary(s.node, inst), inst, true);
    if (isFailMode(newPrimary)) return null;
    const newSecondary = addSecondary(removePrimary(p.node, inst), inst, inst.sNode, true);
    if (isFailMode(newSecondary)) return null;
    conf = withSlots(
      conf,
      [
        [inst.sNode, { node: newPrimary, pList: [idx, ...s.pList], sList: without(s.sList, idx) }],
        [inst.pNode, { node: newSecondary, pList: without(p.pList, idx), sList: [idx, ...p.sList] }],
      ],
      { ...inst, pNode: inst.sNode, sNode: inst.pNode },
    );
  }
  return conf;
}

/** The instances that moved, leaving out plain primary/secondary swaps. */
function movesBetween(before: Conf, after: Conf): RollMove[] {
  const moves: RollMove[] = [];
  for (const inst of before.instances) {
    const now = instOf(after, inst.idx);
    const redundant = hasSecondary(inst);
    if (inst.pNode === now.pNode && (!redundant || inst.sNode === now.sNode)) continue;
    if (now.pNode === inst.sNode && now.sNode === inst.pNode) continue;
    const name = (ndx: number): string => slotOf(after, ndx).node.name;
    moves.push({
      instance: now.name,
      primary: name(now.pNode),
      secondary: redundant ? name(now.sNode) : null,
    });
  }
  return moves;
}
