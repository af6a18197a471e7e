import { commandLines } from '../../alloc/report.js';
import { type SqueezePlan, squeezePlan, standbyTag } from '../../alloc/squeeze.js';
import { type ClusterState, toSnapshot } from '../../alloc/state.js';
import type { Opcode } from '../../cluster/opcodes.js';
import type { ConfigView } from '../../cluster/views.js';
import { loadExternalData, maybeSaveData } from './backend.js';
import { maybeSaveCommands } from './hbal.js';
import { executeJobSets, movesAsJobs } from './jobs.js';
import type { HtoolsOptions } from './options.js';
import { aliasOf, commonSuffix } from './print.js';
import { exitErr, type HtoolsTool, noArguments, type ToolOutput } from './tool.js';

/** hsqueeze: the nodes to power off (or the standby nodes to power on), as Ganeti's Program/Hsqueeze.hs decides. */

/**
 * The plan as Ganeti's hsqueeze runs it: to power nodes off, the moves off them, then a standby tag on each,
 * then one job marking them offline and powering them off (their out-of-band program); to power nodes on,
 * one job powering them on and marking them online (Ganeti's marks them first, which its own check refuses
 * for a powered-off node), then the moves onto them.
 */
function planJobs(state: ClusterState, plan: SqueezePlan, config: ConfigView): Opcode[][][] {
  const names = plan.nodes.map((n) => n.name as string);
  const moves = plan.balance === null ? [] : movesAsJobs(state, config, plan.balance);
  const marks = (offline: boolean) =>
    names.map((name): Opcode => ({ OP_ID: 'OP_NODE_SET_PARAMS', node_name: name, offline }));
  const oob = (command: 'power-on' | 'power-off'): Opcode => ({
    OP_ID: 'OP_OOB_COMMAND',
    node_names: names,
    command,
  });
  // Only an offline node may be powered off, and only a powered one brought back online.
  const powerOff: Opcode[][] = [[...marks(true), oob('power-off')]];
  const powerOn: Opcode[][] = [[oob('power-on'), ...marks(false)]];
  if (plan.action === 'online') return [powerOn, ...moves];
  const tags = names.map((name): Opcode[] => [
    { OP_ID: 'OP_TAGS_SET', kind: 'node', name, tags: [standbyTag] },
  ]);
  return [...moves, tags, powerOff];
}

async function run(o: HtoolsOptions, args: readonly string[], io: ToolOutput): Promise<void> {
  noArguments(args);
  const data = await loadExternalData(o);
  const { state } = data;
  maybeSaveData(o, 'original', 'before hsqueeze run', data.snapshot, io);
  const plan = squeezePlan(state, data.snapshot.clusterPolicy.std, {
    minResources: o.minResources,
    targetResources: o.targetResources,
  });
  const suffix = commonSuffix(state);
  const alias = (name: string): string => aliasOf(name, suffix);
  if (o.verbose > 1) {
    io.out(`Offline candidates: ${plan.offlineCandidates.map((n) => n.name).join(',')}\n`);
    io.out(`Online candidates: ${plan.onlineCandidates.map((n) => n.name).join(',')}\n`);
  }
  const moves = plan.balance === null ? [] : commandLines(state, plan.balance);
  const names = plan.nodes.map((n) => `${n.name}\n`).join('');
  if (plan.action === 'online') {
    if (!o.noHeaders) io.out("'Nodes to online'\n");
    io.out(names);
    if (o.verbose > 1 && !plan.enough) io.out('Onlining all nodes will not yield enough capacity\n');
    const power = plan.nodes.map((n) => `  gnt-node power -f on ${alias(n.name)}`);
    maybeSaveCommands(o, 'Commands to run:', ['echo Power Commands', ...power, ...moves], io);
  } else if (plan.action === 'none') {
    if (!o.noHeaders) io.out("'No action'\n");
    maybeSaveCommands(o, 'Commands to run:', ['echo Nothing to do'], io);
  } else {
    if (!o.noHeaders) io.out("'Nodes to offline'\n");
    io.out(names);
    maybeSaveCommands(
      o,
      'Commands to run:',
      [
        ...moves,
        '',
        'echo Tagging Commands',
        ...plan.nodes.map((n) => `  gnt-node add-tags ${alias(n.name)} ${standbyTag}`),
        '',
        'echo Power Commands',
        ...plan.nodes.map((n) => `  gnt-node power -f off ${alias(n.name)}`),
      ],
      io,
    );
  }
  if (o.execJobs && plan.action !== 'none') {
    if (data.source.kind !== 'live') exitErr('hsqueeze: Execution of commands possible only on LUXI');
    await executeJobSets(data.source.call, planJobs(state, plan, data.source.config), io, {
      tool: 'hsqueeze',
    });
  }
  const after = plan.balance === null ? data.snapshot : toSnapshot(plan.balance.final);
  const what = {
    online: 'after hsqueeze expansion',
    offline: 'after hsqueeze run',
    none: 'after hsqueeze doing nothing',
  };
  maybeSaveData(o, 'squeezed', what[plan.action], after, io);
}

export const hsqueeze: HtoolsTool = {
  options: [
    'luxi',
    'dataFile',
    'execJobs',
    'minResources',
    'targetResources',
    'saveCluster',
    'printCommands',
    'verbose',
    'noHeaders',
    'staticKvmNodeMemory',
  ],
  arguments: [],
  run,
};
