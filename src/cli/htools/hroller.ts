import { type RebootGroup, rollPlan } from '../../alloc/roll.js';
import { loadExternalData, maybeSaveData } from './backend.js';
import type { HtoolsOptions } from './options.js';
import { exitErr, type HtoolsTool, noArguments, type ToolOutput } from './tool.js';

/** hroller: the groups of nodes that can be rebooted together, as Ganeti's Program/Hroller.hs prints them. */

function showGroup(o: HtoolsOptions, group: RebootGroup, io: ToolOutput): void {
  io.out(o.oneStepOnly ? group.nodes.map((n) => `${n}\n`).join('') : `${group.nodes.join(',')}\n`);
  if (!o.printMoves) return;
  for (const m of group.moves)
    io.out(`  ${m.instance} ${m.primary}${m.secondary === null ? '' : ` ${m.secondary}`}\n`);
}

async function run(o: HtoolsOptions, args: readonly string[], io: ToolOutput): Promise<void> {
  noArguments(args);
  const data = await loadExternalData(o);
  const { state } = data;
  const masters = data.snapshot.nodes.filter((n) => n.master).map((n) => n.name);
  if (masters.length === 0) {
    const message = 'No master node found (maybe not supported by backend).';
    if (!o.force) exitErr(message);
    io.err(`Warning: ${message}\n`);
  }
  // Haskell's show of a list of strings.
  if (masters.length > 1)
    exitErr(`Found more than one master node: [${masters.map((m) => JSON.stringify(m)).join(',')}]`);
  maybeSaveData(o, 'original', 'before hroller run', data.snapshot, io);
  let group: number | undefined;
  if (o.group !== undefined) {
    const found = state.groups.find((g) => g.spec.name === o.group || g.spec.uuid === o.group);
    if (found === undefined) exitErr('Cannot find target group.');
    group = found.idx;
  }
  const plan = rollPlan(state, {
    offlineMaintenance: o.offlineMaintenance,
    skipNonRedundant: o.skipNonRedundant,
    ignoreNonRedundant: o.ignoreNonRedundant,
    fullEvacuation: o.fullEvacuation,
    ...(o.nodeTags === undefined ? {} : { nodeTags: o.nodeTags }),
    ...(group === undefined ? {} : { group }),
  });
  if (o.verbose > 2) io.out(`Node Graph: ${plan.graph}\n`);
  if (plan.failure !== null) exitErr(plan.failure);
  if (o.verbose > 1) io.out(`${plan.stats}\n`);
  if (o.json) {
    io.out(`${JSON.stringify({ groups: o.oneStepOnly ? plan.groups.slice(0, 1) : plan.groups })}\n`);
    return;
  }
  if (o.oneStepOnly) {
    if (!o.noHeaders) io.out("'First Reboot Group'\n");
    const first = plan.groups[0];
    if (first !== undefined) showGroup(o, first, io);
    return;
  }
  if (!o.noHeaders) io.out("'Node Reboot Groups'\n");
  for (const g of plan.groups) showGroup(o, g, io);
}

export const hroller: HtoolsTool = {
  options: [
    'luxi',
    'rapiMaster',
    'dataFile',
    'iallocSrc',
    'offlineNode',
    'offlineMaintenance',
    'verbose',
    'quiet',
    'noHeaders',
    'nodeTags',
    'saveCluster',
    'group',
    'printMoves',
    'fullEvacuation',
    'skipNonRedundant',
    'ignoreNonRedundant',
    'force',
    'oneStepOnly',
    'staticKvmNodeMemory',
    'json',
  ],
  arguments: [],
  run,
};
