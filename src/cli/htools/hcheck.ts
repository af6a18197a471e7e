import { balanceGroupInThreads } from '../../alloc/balance-threads.js';
import {
  type CheckName,
  checkCluster,
  checkNames,
  clusterTotals,
  type GroupCheck,
  needsRebalance,
  reportedScore,
} from '../../alloc/check.js';
import { showFFloat } from '../../alloc/haskell-show.js';
import { optimalScore } from '../../alloc/metrics.js';
import {
  type ClusterState,
  groupNodes,
  type InstState,
  type NodeState,
  usedGroups,
} from '../../alloc/state.js';
import { type ClusterData, loadExternalData } from './backend.js';
import { balanceOptionsOf, type HtoolsOptions } from './options.js';
import { HtoolsStatus, type HtoolsTool, noArguments, type ToolOutput } from './tool.js';

/** hcheck: the cluster's health, and whether rebalancing would help, as Ganeti's Program/Hcheck.hs reports it. */

/** Ganeti's ensureQuoted: values other than letters, digits and dots go in single quotes. */
function ensureQuoted(value: string): string {
  return /^[\p{L}\p{N}.]*$/u.test(value) ? value : `'${value}'`;
}

type CheckPhase = 'initial' | 'rebalanced';

/** One phase's report, human (shown from verbosity 1) or as HCHECK_* shell assignments. */
function phaseLines(
  state: ClusterState,
  groups: readonly GroupCheck[],
  totals: readonly number[],
  needRebalance: boolean,
  phase: CheckPhase,
  machine: boolean,
  capacity: boolean,
): string[] {
  const names = checkNames(capacity);
  const lines: string[] = [];
  const prefix = phase === 'initial' ? 'INIT' : 'FINAL';
  const when = phase === 'initial' ? 'initially' : 'after rebalancing';
  const section = (title: string, key: string, values: readonly [CheckName, string][]): void => {
    if (machine) {
      for (const [name, value] of values)
        lines.push(`HCHECK_${prefix}_${key}_${name.key}=${ensureQuoted(value)}`);
    } else {
      lines.push('', title, ...values.map(([name, value]) => `    ${name.description}: ${value}`));
    }
  };
  for (const g of groups) {
    const values: [CheckName, string][] = names.map((name, k) => [name, String(g.stats[k] ?? 0)]);
    values.push([{ key: 'SCORE', description: 'Group score' }, showFFloat(g.score, 8)]);
    const name = state.groups[g.group]?.spec.name ?? '';
    section(`Statistics for group ${name} ${when}`, `GROUP_${machine ? g.group : name}`, values);
  }
  const healthy = machine ? (needRebalance ? '1' : '0') : needRebalance ? 'True' : 'False';
  // Paired as hcheck zips them: without groups there are no totals, and the verdict takes the first name.
  const clusterValues = [...totals.map(String), healthy];
  const clusterNames = [...names, { key: 'NEED_REBALANCE', description: 'Cluster is not healthy' }];
  section(
    `Cluster statistics ${when}`,
    'CLUSTER',
    clusterValues.map((value, k): [CheckName, string] => [clusterNames[k] as CheckName, value]),
  );
  return lines;
}

/** Each group balanced on its own as hbal would (unless already within --min-score), merged back into one state. */
async function simulateRebalance(o: HtoolsOptions, data: ClusterData): Promise<ClusterState> {
  const { state } = data;
  const nodes: NodeState[] = [...state.nodes];
  const instances: InstState[] = [...state.instances];
  for (const group of usedGroups(state)) {
    const members = groupNodes(state, group);
    const memberNodes = members.map((i) => state.nodes[i] as NodeState);
    if (reportedScore(memberNodes).score < o.minScore + optimalScore(memberNodes)) continue;
    const result = await balanceGroupInThreads(data.snapshot, data.loadOptions, members, balanceOptionsOf(o));
    for (const i of members) nodes[i] = result.final.nodes[i] as NodeState;
    const memberSet = new Set(members);
    for (const inst of state.instances)
      if (memberSet.has(inst.pNode)) instances[inst.idx] = result.final.instances[inst.idx] as InstState;
  }
  return { ...state, nodes, instances };
}

async function run(o: HtoolsOptions, args: readonly string[], io: ToolOutput): Promise<void> {
  noArguments(args);
  const data = await loadExternalData(o);
  const { state } = data;
  const machine = o.machineReadable;
  const print = (lines: readonly string[]): void => {
    if (machine || o.verbose >= 1) io.out(lines.map((l) => `${l}\n`).join(''));
  };
  if (machine)
    io.out(state.groups.map((g) => `HCHECK_GROUP_UUID_${g.idx}=${ensureQuoted(g.spec.uuid)}\n`).join(''));
  const initial = checkCluster(state, o.capacity);
  const totals = clusterTotals(initial, o.capacity);
  const needRebalance = needsRebalance(totals);
  if (o.verbose >= 1 && !machine)
    io.out(
      o.noSimulation
        ? 'Running in no-simulation mode.\n'
        : needRebalance
          ? 'Cluster needs rebalancing.\n'
          : 'No need to rebalance cluster, no problems found.\n',
    );
  print(phaseLines(state, initial, totals, needRebalance, 'initial', machine, o.capacity));
  const simulate = !o.noSimulation && needRebalance;
  if (simulate || machine) {
    const final = simulate ? await simulateRebalance(o, data) : state;
    const checks = checkCluster(final, o.capacity);
    // As hcheck, the final verdict repeats the initial one.
    print(
      phaseLines(
        final,
        checks,
        clusterTotals(checks, o.capacity),
        needRebalance,
        'rebalanced',
        machine,
        o.capacity,
      ),
    );
  }
  if (machine) io.out('HCHECK_OK=1\n');
  if (!o.noSimulation && needRebalance) throw new HtoolsStatus(1);
}

export const hcheck: HtoolsTool = {
  options: [
    'dataFile',
    'diskMoves',
    'dynuFile',
    'ignoreDynu',
    'evacMode',
    'exInst',
    'exTags',
    'iallocSrc',
    'instMoves',
    'luxi',
    'machineReadable',
    'maxCpu',
    'maxSolLength',
    'minDisk',
    'minGain',
    'minGainLim',
    'minScore',
    'ignoreSoftErrors',
    'noSimulation',
    'offlineNode',
    'quiet',
    'rapiMaster',
    'selInst',
    'noCapacityChecks',
    'verbose',
  ],
  arguments: [],
  run,
};
