import { writeFileSync } from 'node:fs';
import type { BalanceResult } from '../../alloc/balance.js';
import { balanceGroupInThreads } from '../../alloc/balance-threads.js';
import { showFFloat } from '../../alloc/haskell-show.js';
import { optimalScore, scoreBreakdown } from '../../alloc/metrics.js';
import { balanceJson, commandLines, stepLines } from '../../alloc/report.js';
import {
  type ClusterState,
  groupNodes,
  hasSecondary,
  noNode,
  toSnapshot,
  usedGroups,
} from '../../alloc/state.js';
import { badItems } from '../../alloc/summary.js';
import { loadExternalData, maybeSaveData } from './backend.js';
import { executeJobSets, movesAsJobs } from './jobs.js';
import { balanceOptionsOf, type HtoolsOptions } from './options.js';
import { commonSuffix, maybePrintInsts, maybePrintNodes, printTable } from './print.js';
import { exitErr, HtoolsDone, type HtoolsTool, noArguments, type ToolOutput } from './tool.js';

/** hbal: balance one node group, as Ganeti's Program/Hbal.hs does, step for step and line for line. */

/** The group to balance: the one named, or the only one; as hbal, several groups and no -G is an error. */
function selectGroup(o: HtoolsOptions, state: ClusterState, io: ToolOutput): number {
  const used = usedGroups(state);
  if (o.group === undefined) {
    if (used.length > 1) {
      io.err(`Found multiple node groups:\n${used.map((g) => `  ${state.groups[g]?.spec.name}\n`).join('')}`);
      exitErr('Aborting.');
    }
    const only = used[0];
    if (only === undefined) return exitErr('No groups found by splitCluster?!');
    return only;
  }
  const found = state.groups.find((g) => g.spec.name === o.group || g.spec.uuid === o.group);
  if (found === undefined) {
    io.err(
      `Node group ${o.group} not found. Node group list is:\n${state.groups.map((g) => `  ${g.spec.name}\n`).join('')}`,
    );
    exitErr('Aborting.');
  }
  return found.idx;
}

/** Of the other nodes, those over the spindle or vCPU limits of their policy (htools' getPolicyHealth). */
function policyViolations(state: ClusterState, nodes: readonly number[], bad: ReadonlySet<number>): number {
  return nodes
    .filter((i) => !bad.has(i))
    .map((i) => state.nodes[i])
    .filter((n) => n !== undefined && (n.instSpindles > n.hiSpindles || n.uCpu / n.tCpu > n.policy.vcpuRatio))
    .length;
}

/** Haskell printf's %.6g. */
function general6(value: number): string {
  if (value === 0) return '0.0';
  const exponent = Math.floor(Math.log10(Math.abs(value)));
  if (exponent < -4 || exponent >= 6) {
    const [mantissa, exp] = value.toExponential(5).split('e') as [string, string];
    const trimmed = mantissa.includes('.') ? mantissa.replace(/0+$/, '').replace(/\.$/, '') : mantissa;
    const sign = exp.startsWith('-') ? '-' : '+';
    return `${trimmed}e${sign}${exp.replace(/^[-+]/, '').padStart(2, '0')}`;
  }
  return String(Number(value.toPrecision(6)));
}

/** Ganeti's Metrics.printStats: each score component with its value and weight. */
function statsTable(state: ClusterState, nodes: readonly number[]): string {
  const breakdown = scoreBreakdown(nodes.map((i) => state.nodes[i]).filter((n) => n !== undefined));
  return printTable(
    ['Field', 'Value', 'Weight'],
    breakdown.components.map((c) => [c.name, showFFloat(c.value, 8), `x${showFFloat(c.weight, 2)}`]),
    [false, true, true],
    '  ',
  );
}

const SH_TEMPLATE =
  "#!/bin/sh\n\n# Auto-generated script for executing cluster rebalancing\n\n# To stop, touch the file /tmp/stop-htools\n\nset -e\n\ncheck() {\n  if [ -f /tmp/stop-htools ]; then\n    echo 'Stop requested, exiting'\n    exit 0\n  fi\n}\n\n";

/** Ganeti's maybeSaveCommands: -C prints the commands, -CFILE writes them as a shell script. */
export function maybeSaveCommands(
  o: HtoolsOptions,
  title: string,
  lines: readonly string[],
  io: ToolOutput,
): void {
  if (o.showCmds === undefined) return;
  if (o.showCmds === '-') {
    const shown = lines.filter((l) => l !== '  check').map((l) => `  ${l}`);
    io.out(`\n${title}\n${shown.map((l) => `${l}\n`).join('')}`);
    return;
  }
  writeFileSync(o.showCmds, `${SH_TEMPLATE}${lines.map((l) => `${l}\n`).join('')}`);
  io.out(`The commands have been written to file '${o.showCmds}'\n`);
}

async function run(o: HtoolsOptions, args: readonly string[], io: ToolOutput): Promise<void> {
  noArguments(args);
  // With --json (Corral's addition) the report is one JSON object: hbal's lines are left out.
  const say = (text: string): void => {
    if (!o.json) io.out(text);
  };
  const data = await loadExternalData(o, io);
  const { state } = data;
  if (o.verbose > 1) say(`Loaded cluster tags: ${state.clusterTags.join(',')}\n`);
  if (state.instances.length === 0) {
    say('Cluster is empty, exiting.\n');
    throw new HtoolsDone();
  }
  const split = state.instances.filter(
    (i) =>
      hasSecondary(i) && i.sNode !== noNode && state.nodes[i.pNode]?.group !== state.nodes[i.sNode]?.group,
  );
  if (split.length > 0 && o.verbose > 1)
    io.err(
      `Found instances belonging to multiple node groups:\n${split.map((i) => `  ${i.name}\n`).join('')}These instances will not be moved.\n`,
    );
  say(`Loaded ${state.nodes.length} nodes, ${state.instances.length} instances\n`);
  const suffix = commonSuffix(state);
  if (suffix !== '' && o.verbose > 1) say(`Note: Stripping common suffix of '${suffix}' from names\n`);
  maybeSaveData(o, 'original', 'before balancing', data.snapshot, io);

  const group = selectGroup(o, state, io);
  const members = groupNodes(state, group);
  const memberSet = new Set(members);
  const groupInstances = state.instances.filter((i) => memberSet.has(i.pNode)).map((i) => i.idx);
  const groupName = state.groups[group]?.spec.name ?? '';
  say(`Group size ${members.length} nodes, ${groupInstances.length} instances\n`);
  say(`Selected node group: ${groupName}\n`);
  const bad = badItems(
    state,
    members.map((i) => state.nodes[i]).filter((n) => n !== undefined),
  );
  if (o.verbose >= 1)
    say(`Initial check done: ${bad.nodes.size} bad nodes, ${bad.instances} bad instances.\n`);
  if (bad.nodes.size > 0)
    say('Cluster is not N+1 happy, continuing but no guarantee that the cluster will end N+1 happy.\n');
  const violating = policyViolations(state, members, bad.nodes);
  if (violating > 0) {
    say(`The cluster contains ${violating} policy-violating nodes.\n`);
    say(
      o.ignoreSoftErrors
        ? 'Continuing, ignoring soft errors.\n'
        : 'Continuing, but the set of moves might be too restricted; consider using the --ignore-soft-errors option.\n',
    );
  }
  maybePrintInsts(o.showInsts, 'Initial', state, groupInstances, io);
  maybePrintNodes(o.showNodes, 'Initial cluster', state, members, io);

  const groupState = members.map((i) => state.nodes[i]).filter((n) => n !== undefined);
  const initial = scoreBreakdown(groupState).score;
  const optimum = optimalScore(groupState);
  if (o.verbose > 2)
    say(`Initial coefficients: overall ${showFFloat(initial, 8)}\n${statsTable(state, members)}`);
  else say(`Initial score: ${showFFloat(initial, 8)}\n`);
  if (initial - optimum < o.minScore) {
    if (o.json) {
      const none: BalanceResult = { initialScore: initial, finalScore: initial, steps: [], final: state };
      io.out(`${JSON.stringify(balanceJson(state, groupName, none))}\n`);
    }
    say(
      `Cluster is already well balanced (initial score ${general6(initial)},\noptimum score due to N+1 reservations ${general6(optimum)},\nminimum score ${general6(o.minScore)}).\nNothing to do, exiting\n`,
    );
    throw new HtoolsDone();
  }
  say('Trying to minimize the CV...\n');
  const result = await balanceGroupInThreads(data.snapshot, data.loadOptions, members, balanceOptionsOf(o));
  if (o.json) io.out(`${JSON.stringify(balanceJson(state, groupName, result))}\n`);
  for (const line of stepLines(state, result)) say(`${line}\n`);
  if (result.steps.length === 0) say('No solution found\n');
  else if (o.verbose > 2)
    say(
      `Final coefficients:   overall ${showFFloat(result.finalScore, 8)}\n${statsTable(result.final, members)}`,
    );
  else say(`Cluster score improved from ${showFFloat(initial, 8)} to ${showFFloat(result.finalScore, 8)}\n`);
  if (o.verbose >= 1) say(`Solution length=${result.steps.length}\n`);

  const commands = commandLines(state, result);
  const firstSet = commands.findIndex((line, k) => k > 0 && line === '');
  maybeSaveCommands(
    o,
    o.firstJobGroup ? 'First set of jobs:' : 'Commands to run to reach the above solution:',
    o.firstJobGroup && firstSet > 0 ? commands.slice(0, firstSet) : commands,
    io,
  );
  maybeSaveData(o, 'balanced', 'after balancing', toSnapshot(result.final), io);
  maybePrintInsts(o.showInsts, 'Final', result.final, groupInstances, io);
  maybePrintNodes(o.showNodes, 'Final cluster', result.final, members, io);
  if (o.execJobs && result.steps.length > 0) {
    if (data.source.kind !== 'live') exitErr('hbal: Execution of commands possible only on LUXI');
    const sets = movesAsJobs(state, data.source.config, result);
    await executeJobSets(data.source.call, o.firstJobGroup ? sets.slice(0, 1) : sets, io, {
      tool: 'hbal',
      ...(o.reason !== undefined && { reason: o.reason }),
      ...(o.priority !== undefined && { priority: o.priority }),
    });
  }
}

export const hbal: HtoolsTool = {
  options: [
    'printNodes',
    'printInsts',
    'printCommands',
    'dataFile',
    'evacMode',
    'restrictedMigrate',
    'rapiMaster',
    'luxi',
    'iallocSrc',
    'execJobs',
    'firstJobGroup',
    'reason',
    'group',
    'maxSolLength',
    'verbose',
    'quiet',
    'offlineNode',
    'staticKvmNodeMemory',
    'minScore',
    'maxCpu',
    'minDisk',
    'minGain',
    'minGainLim',
    'diskMoves',
    'selInst',
    'instMoves',
    'ignoreSoftErrors',
    'dynuFile',
    'ignoreDynu',
    'monD',
    'monDDataFile',
    'monDExitMissing',
    'monDXen',
    'exTags',
    'exInst',
    'saveCluster',
    'priority',
    'json',
  ],
  arguments: [],
  run,
};
