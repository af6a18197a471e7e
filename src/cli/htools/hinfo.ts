import { reportedScore } from '../../alloc/check.js';
import { showFFloat, showPolicy } from '../../alloc/haskell-show.js';
import { groupSummaries, splitInstances } from '../../alloc/summary.js';
import { loadExternalData } from './backend.js';
import type { HtoolsOptions } from './options.js';
import { commonSuffix, maybePrintInsts, maybePrintNodes, printTable } from './print.js';
import { type HtoolsTool, noArguments, type ToolOutput } from './tool.js';

/** hinfo: the cluster summary, as Ganeti's Program/Hinfo.hs prints it. */

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

async function run(o: HtoolsOptions, args: readonly string[], io: ToolOutput): Promise<void> {
  noArguments(args);
  const data = await loadExternalData(o);
  const { state } = data;
  io.out(`Loaded cluster tags: ${state.clusterTags.join(',')}\n`);
  if (o.verbose > 2) io.out(`Loaded cluster ipolicy: ${showPolicy(data.snapshot.clusterPolicy)}\n`);

  if (state.instances.length === 0 && o.verbose > 1) io.out('Cluster is empty.\n');
  io.out(
    `Loaded ${plural(state.nodes.length, 'node', 'nodes')}, ${plural(state.instances.length, 'instance', 'instances')}, ${plural(state.groups.length, 'node group', 'node groups')}\n`,
  );
  const suffix = commonSuffix(state);
  if (suffix !== '' && o.verbose > 2) io.out(`Note: Stripping common suffix of '${suffix}' from names\n`);

  const split = splitInstances(state);
  if (split.length > 0) {
    io.out('Found instances belonging to multiple node groups:\n');
    io.err(split.map((i) => `  ${i.name}\n`).join(''));
  } else if (o.verbose > 1) io.out('No split instances found\n');

  const groups = groupSummaries(state);
  if (o.verbose > 1) {
    const rows = groups.map((g) => [
      g.name,
      String(g.nodes),
      String(g.instances),
      String(g.badNodes),
      String(g.badInstances),
      g.badNodes === 0 ? 'True' : 'False',
      showFFloat(g.score, 8),
    ]);
    const header = ['Group', 'Nodes', 'Instances', 'Bad_Nodes', 'Bad_Instances', 'N+1', 'Score'];
    io.out(
      `Node group information:\n${printTable(header, rows, [false, true, true, true, true, false, true], '  ')}`,
    );
  }
  io.out(`Cluster is N+1 ${groups.every((g) => g.badNodes === 0) ? 'happy' : 'unhappy'}\n`);

  maybePrintInsts(
    o.showInsts,
    'Instances',
    state,
    state.instances.map((i) => i.idx),
    io,
  );
  maybePrintNodes(
    o.showNodes,
    'Cluster',
    state,
    state.nodes.map((n) => n.idx),
    io,
  );
  const breakdown = reportedScore(state.nodes);
  const rows = breakdown.components.map((c) => [
    c.name,
    showFFloat(c.value, 8),
    `x${showFFloat(c.weight, 2)}`,
  ]);
  io.out(
    `Cluster coefficients:\n${printTable(['Field', 'Value', 'Weight'], rows, [false, true, true], '  ')}`,
  );
  io.out(`Cluster score: ${showFFloat(breakdown.score, 8)}\n`);
}

export const hinfo: HtoolsTool = {
  options: [
    'printNodes',
    'printInsts',
    'dataFile',
    'rapiMaster',
    'luxi',
    'iallocSrc',
    'verbose',
    'quiet',
    'offlineNode',
    'ignoreDynu',
    'monD',
    'monDDataFile',
    'staticKvmNodeMemory',
  ],
  arguments: [],
  run,
};
