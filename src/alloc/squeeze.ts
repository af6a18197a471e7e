import { diskTemplateTraits } from '../cluster/disk-templates.js';
import { type BalanceResult, balanceGroup, defaultBalanceOptions } from './balance.js';
import {
  addPrimary,
  type ClusterState,
  type InstState,
  isFailMode,
  type NodeState,
  probeInstance,
} from './state.js';
import { asInstanceName, type ISpec } from './types.js';

/**
 * hsqueeze's question: which nodes can be powered off while every node keeps room for an instance of
 * --target-resources times the standard size (after rebalancing away from them), or, when not even
 * --minimal-resources times the standard size fits everywhere, which standby nodes to power on.
 * Candidates for powering off hold only externally mirrored primaries and no secondaries; candidates
 * for powering on are offline nodes with a htools:standby: tag.
 */

/** Any tag under this prefix marks a standby node; hsqueeze itself adds standbyTag. */
export const standbyPrefix = 'htools:standby:';
export const standbyTag = `${standbyPrefix}auto`;

export interface SqueezeOptions {
  /** Below this many standard instances of room per node, nodes are powered on. */
  readonly minResources: number;
  /** Nodes are powered off only while this much room remains. */
  readonly targetResources: number;
}

export interface SqueezePlan {
  readonly offlineCandidates: readonly NodeState[];
  readonly onlineCandidates: readonly NodeState[];
  /** What to do; 'none' when nothing can be powered off and nothing needs powering on. */
  readonly action: 'online' | 'offline' | 'none';
  /** The nodes to power on or off. */
  readonly nodes: readonly NodeState[];
  /** Powering on: false when even all the standby nodes would not give the minimal room. */
  readonly enough: boolean;
  /** The balancing that follows, from the loaded state. */
  readonly balance: BalanceResult | null;
}

/** An instance of `factor` times the spec (rounded down), as hsqueeze measures room with. */
function sizedInstance(factor: number, spec: ISpec): InstState {
  return probeInstance({
    name: asInstanceName('targetInstance'),
    memoryMiB: Math.floor(factor * spec.memoryMiB),
    diskMiB: 0,
    disksMiB: [],
    totalSpindles: null,
    vcpus: Math.floor(factor * spec.cpuCount),
    autoBalance: false,
    template: 'ext',
    spindleUse: Math.floor(factor * spec.spindleUse),
  });
}

const everyNodeFits = (inst: InstState, state: ClusterState): boolean =>
  state.nodes.every((n) => !isFailMode(addPrimary(n, inst, false)));

const allOnOnlineNodes = (state: ClusterState): boolean =>
  state.instances.every((i) => state.nodes[i.pNode]?.offline === false);

/** The nodes' offline flags changed, then balanced (to no further gain) over the whole cluster. */
function switchAndBalance(state: ClusterState, nodes: readonly NodeState[], offline: boolean): BalanceResult {
  const chosen = new Set(nodes.map((n) => n.idx));
  const switched: ClusterState = {
    ...state,
    nodes: state.nodes.map((n) => (chosen.has(n.idx) ? { ...n, offline } : n)),
  };
  return balanceGroup(
    switched,
    switched.nodes.map((n) => n.idx),
    { ...defaultBalanceOptions, minGain: 0, minGainLimit: 0, minScore: Number.NEGATIVE_INFINITY },
  );
}

const fitsAfter = (
  inst: InstState,
  state: ClusterState,
  nodes: readonly NodeState[],
  offline: boolean,
): boolean => {
  const { final } = switchAndBalance(state, nodes, offline);
  return allOnOnlineNodes(final) && everyNodeFits(inst, final);
};

export function squeezePlan(state: ClusterState, std: ISpec, options: SqueezeOptions): SqueezePlan {
  const primaries = (n: NodeState) => state.instances.filter((i) => !i.forthcoming && i.pNode === n.idx);
  const localStorage = (i: InstState): boolean => diskTemplateTraits[i.template].localStorage;
  const offlineCandidates = state.nodes
    .filter((n) => !n.offline && !n.master && n.sCount === 0 && !primaries(n).some(localStorage))
    .sort((a, b) => primaries(b).length - primaries(a).length);
  const onlineCandidates = state.nodes.filter(
    (n) => n.offline && n.tags.some((t) => t.startsWith(standbyPrefix)),
  );
  const target = sizedInstance(options.targetResources, std);
  const minimal = sizedInstance(options.minResources, std);
  const base = { offlineCandidates, onlineCandidates };

  if (!everyNodeFits(minimal, state)) {
    // The shortest prefix of the standby nodes that gives the room, else all of them.
    let prefix: NodeState[] | null = null;
    for (let k = 0; k <= onlineCandidates.length && prefix === null; k++) {
      const trial = onlineCandidates.slice(0, k);
      if (fitsAfter(minimal, state, trial, false)) prefix = trial;
    }
    const nodes = prefix ?? onlineCandidates;
    return {
      ...base,
      action: 'online',
      nodes,
      enough: prefix !== null,
      balance: switchAndBalance(state, nodes, false),
    };
  }
  // Greedily from the last candidate: a node joins if it can go down together with those chosen.
  let chosen: NodeState[] = [];
  for (const node of [...offlineCandidates].reverse()) {
    const trial = [node, ...chosen];
    if (fitsAfter(target, state, trial, true)) chosen = trial;
  }
  if (chosen.length === 0) return { ...base, action: 'none', nodes: [], enough: true, balance: null };
  return {
    ...base,
    action: 'offline',
    nodes: chosen,
    enough: true,
    balance: switchAndBalance(state, chosen, true),
  };
}
