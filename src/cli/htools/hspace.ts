import {
  AllocationError,
  type AllocInfo,
  type AllocResult,
  allocationDelta,
  type ClusterStats,
  type FailStats,
  type HspaceResult,
  type RSpec,
  rspecFromISpec,
  runHspace,
  tieredSpecMap,
  totalResources,
} from '../../alloc/capacity.js';
import { showDouble, showFFloat } from '../../alloc/haskell-show.js';
import { scoreBreakdown } from '../../alloc/metrics.js';
import { type ClusterState, type InstState, noNode } from '../../alloc/state.js';
import type { ClusterSnapshot, InstanceSpec } from '../../alloc/types.js';
import type { DiskTemplate } from '../../cluster/disk-templates.js';
import { type ClusterData, loadExternalData, maybeSaveData } from './backend.js';
import type { HtoolsOptions } from './options.js';
import { commonSuffix, maybePrintNodes, printTable } from './print.js';
import { exitErr, type HtoolsTool, noArguments, type ToolOutput } from './tool.js';

// hcheck and hinfo take Haskell's number formatting from here too.

/**
 * hspace (`corral capacity`): how many more instances the cluster takes, as Ganeti's Program/Hspace.hs
 * reports it, in words or as HTS_* shell variables (--machine-readable), or as JSON (Corral's --json).
 */

type Phase = 'INI' | 'TRL' | 'FIN';

/** Ganeti's ensureQuoted: anything but letters, digits and dots goes in single quotes. */
const ensureQuoted = (v: string): string => (/^[A-Za-z0-9.]*$/.test(v) ? v : `'${v}'`);

const keys = (pairs: readonly (readonly [string, string])[]): string =>
  pairs.map(([k, v]) => `HTS_${k.toUpperCase()}=${ensureQuoted(v)}\n`).join('');

const f8 = (x: number): string => showFFloat(x, 8);
const f0 = (x: number): string => showFFloat(x, 0);

const memEff = (cs: ClusterStats): number => cs.iMem / cs.tMem;
const dskEff = (cs: ClusterStats): number => cs.iDsk / cs.tDsk;
const cpuEff = (cs: ClusterStats): number => cs.iCpu / cs.vCpu;
const spnEff = (cs: ClusterStats): number => cs.iSpn / cs.tSpn;

function statsKeys(phase: Phase, cs: ClusterStats): [string, string][] {
  const stats: [string, string][] = [
    ['SCORE', f8(cs.score)],
    ['INST_CNT', String(cs.instances)],
    ['MEM_FREE', String(cs.fMem)],
    ['MEM_AVAIL', String(cs.aMem)],
    ['MEM_RESVD', String(cs.fMem - cs.aMem)],
    ['MEM_INST', String(cs.iMem)],
    ['MEM_OVERHEAD', String(cs.xMem + cs.nMem)],
    ['MEM_EFF', f8(memEff(cs))],
    ['DSK_FREE', String(cs.fDsk)],
    ['DSK_AVAIL', String(cs.aDsk)],
    ['DSK_RESVD', String(cs.fDsk - cs.aDsk)],
    ['DSK_INST', String(cs.iDsk)],
    ['DSK_EFF', f8(dskEff(cs))],
    ['SPN_FREE', String(cs.fSpn)],
    ['SPN_INST', String(cs.iSpn)],
    ['SPN_EFF', f8(spnEff(cs))],
    ['CPU_INST', String(cs.iCpu)],
    ['CPU_EFF', f8(cpuEff(cs))],
    ['MNODE_MEM_AVAIL', String(cs.mMem)],
    ['MNODE_DSK_AVAIL', String(cs.mDsk)],
  ];
  return stats.map(([k, v]) => [`${phase}_${k}`, v]);
}

function specFields(spec: RSpec, spindles: boolean): [string, string][] {
  const fields: [string, string][] = [
    ['MEM', String(spec.memoryMiB)],
    ['DSK', String(spec.diskMiB)],
    ['CPU', String(spec.vcpus)],
  ];
  return spindles ? [...fields, ['SPN', String(spec.spindles)]] : fields;
}

const formatResources = (fields: readonly (readonly [string, string])[]): string =>
  fields.map(([k, v]) => `${k} ${v}`).join(', ');

const haveExclStorage = (state: ClusterState): boolean => state.nodes.some((n) => n.exclusiveStorage);

function clusterFields(cs: ClusterStats, spindles: boolean): [string, string][] {
  const fields: [string, string][] = [
    ['MEM', f0(cs.tMem)],
    ['DSK', f0(cs.tDsk)],
    ['CPU', f0(cs.tCpu)],
    ['VCPU', String(cs.vCpu)],
  ];
  return spindles ? [...fields, ['SPN', f0(cs.tSpn)]] : fields;
}

function efficiencyLines(cs: ClusterStats, spindles: boolean): string {
  const rows: [string, number][] = [
    ['memory', memEff(cs)],
    ['disk', dskEff(cs)],
    ['vcpu', cpuEff(cs)],
    ...(spindles ? [['spindles', spnEff(cs)] as [string, number]] : []),
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows
    .map(
      ([name, eff]) =>
        `  - ${name.padStart(width)} usage efficiency: ${showFFloat(eff * 100, 2).padStart(5)}%\n`,
    )
    .join('');
}

/** Ganeti's printFRScores: the main failure reason, the scores before and after, the efficiencies. */
function failureAndScores(ini: ClusterState, fin: ClusterState, reasons: FailStats): string {
  const finStats = totalResources(fin.nodes);
  return (
    `  - most likely failure reason: ${reasons[0]?.[0] ?? ''}\n` +
    `  - initial cluster score: ${f8(totalResources(ini.nodes).score)}\n` +
    `  -   final cluster score: ${f8(finStats.score)}\n` +
    efficiencyLines(finStats, haveExclStorage(fin))
  );
}

function kmKeys(label: string, info: AllocInfo): [string, string][] {
  return [
    [`KM_${label}_CPU`, String(info.vcpus)],
    [`KM_${label}_NPU`, showDouble(info.ncpus)],
    [`KM_${label}_MEM`, String(info.memoryMiB)],
    [`KM_${label}_DSK`, String(info.diskMiB)],
    [`KM_${label}_SPN`, String(info.spindles)],
  ];
}

const requiredNodes = (template: DiskTemplate): number => (template === 'drbd' ? 2 : 1);

function printSpec(
  o: HtoolsOptions,
  kind: 'Standard' | 'Tiered',
  spec: RSpec,
  template: DiskTemplate,
  spindles: boolean,
  io: ToolOutput,
): void {
  if (o.machineReadable) {
    const prefix = kind === 'Standard' ? 'SPEC' : 'TSPEC_INI';
    io.out(
      keys([
        ...specFields(spec, true).map(([k, v]) => [`${prefix}_${k}`, v] as const),
        [`${prefix}_RQN`, String(requiredNodes(template))],
        [`${prefix}_DISK_TEMPLATE`, template],
      ]),
    );
    return;
  }
  const description = kind === 'Standard' ? 'Standard (fixed-size)' : 'Tiered (initial size)';
  io.out(
    `${description} instance spec is:\n  ${formatResources(specFields(spec, spindles))}, using disk template '${template}'.\n`,
  );
}

/** Ganeti's printAllocationMap (-v -v): each new instance with its nodes and size, on stderr. */
function allocationMap(state: ClusterState, placed: readonly InstState[]): string {
  const excl = haveExclStorage(state);
  const name = (idx: number): string => (idx === noNode ? '' : (state.nodes[idx]?.name ?? ''));
  const rows = placed.map((i) => [
    i.name,
    name(i.pNode),
    name(i.sNode),
    String(i.memoryMiB),
    String(i.diskMiB),
    String(i.vcpus),
    excl ? (i.totalSpindles === null ? '?' : String(i.totalSpindles)) : '',
  ]);
  const numeric = [false, false, false, true, true, true, true];
  const widths = numeric.map((_, c) => Math.max(0, ...rows.map((row) => (row[c] ?? '').length)));
  return rows
    .map(
      (row) =>
        ` ${row.map((cell, c) => (numeric[c] ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0))).join(' ')}\n`,
    )
    .join('');
}

/** The cluster as -S writes it: reported free memory as loaded (htools keeps it), disks and spindles as placed. */
function snapshotOf(initial: ClusterSnapshot, state: ClusterState): ClusterSnapshot {
  const nodes = initial.nodes.map((spec, idx) => {
    const n = state.nodes[idx];
    return n === undefined
      ? spec
      : { ...spec, freeDiskMiB: n.fDsk, freeSpindles: n.fSpindles, offline: n.offline };
  });
  const name = (idx: number): string => state.nodes[idx]?.name ?? '';
  const added: InstanceSpec[] = state.instances.slice(initial.instances.length).map((i) => ({
    name: i.name,
    memoryMiB: i.memoryMiB,
    disksMiB: i.disksMiB,
    diskSpaceMiB: i.diskMiB,
    diskSpindles: [i.totalSpindles],
    vcpus: i.vcpus,
    status: i.status,
    autoBalance: i.autoBalance,
    primary: name(i.pNode) as InstanceSpec['primary'],
    secondary: i.sNode === noNode ? null : (name(i.sNode) as InstanceSpec['primary']),
    diskTemplate: i.template,
    tags: i.tags,
    spindleUse: i.spindleUse,
    forthcoming: i.forthcoming,
    nicCount: i.nicCount,
  }));
  return { ...initial, nodes, instances: [...initial.instances, ...added] };
}

/** Ganeti's runAllocation: the spec, the map, the nodes and the saved file of one run. */
function reportRun(
  o: HtoolsOptions,
  data: ClusterData,
  kind: 'Standard' | 'Tiered',
  spec: RSpec,
  template: DiskTemplate,
  run: AllocResult,
  io: ToolOutput,
): void {
  const descr = `${kind} allocation`;
  if (!o.json) printSpec(o, kind, spec, template, haveExclStorage(run.state), io);
  if (o.verbose > 1) io.err(`${descr} map\n${allocationMap(run.state, run.placed)}`);
  maybePrintNodes(
    o.showNodes,
    descr,
    run.state,
    run.state.nodes.map((n) => n.idx),
    io,
  );
  maybeSaveData(
    o,
    kind.toLowerCase(),
    `after ${descr.toLowerCase()}`,
    snapshotOf(data.snapshot, run.state),
    io,
  );
}

const showNames = (names: readonly string[]): string => `[${names.map((n) => JSON.stringify(n)).join(',')}]`;

function showAllocNodes(result: HspaceResult, base: number): string {
  const t = result.targets;
  if (t.kind === 'single') return `Left [${t.nodes.map((n) => n + base).join(',')}]`;
  return `Right [${t.pairs.map(([p, ss]) => `(${p + base},[${ss.map((s) => s + base).join(',')}])`).join(',')}]`;
}

function coefficients(state: ClusterState): string {
  const breakdown = scoreBreakdown(state.nodes);
  const table = printTable(
    ['Field', 'Value', 'Weight'],
    breakdown.components.map((c) => [c.name, f8(c.value), `x${c.weight.toFixed(2)}`]),
    [false, true, true],
    '  ',
  );
  return `Initial coefficients: overall ${f8(breakdown.score)}\n${table}`;
}

function jsonReport(
  state: ClusterState,
  result: HspaceResult,
  tspec: RSpec,
  ispec: RSpec,
  template: DiskTemplate,
): string {
  const reasons = (f: FailStats) => Object.fromEntries(f.filter(([, n]) => n > 0));
  return `${JSON.stringify({
    diskTemplate: template,
    initialInstances: state.instances.length,
    tiered: {
      initialSpec: tspec,
      instances: result.tiered.placed.length,
      specs: tieredSpecMap(result.tiered.placed),
      failures: reasons(result.tiered.failures),
    },
    standard: {
      spec: ispec,
      instances: result.standard.placed.length,
      failures: reasons(result.standard.failures),
    },
  })}\n`;
}

async function run(o: HtoolsOptions, args: readonly string[], io: ToolOutput): Promise<void> {
  noArguments(args);
  const data = await loadExternalData(o);
  const { state } = data;
  const ipol = data.snapshot.clusterPolicy;
  const clusterTemplate = ipol.diskTemplates[0];
  if (clusterTemplate === undefined) exitErr('null list of disk templates received from cluster');
  const template = o.diskTemplate ?? clusterTemplate;
  const spindleUse = o.spindleUse ?? ipol.std.spindleUse;
  const suffix = commonSuffix(state);
  if (suffix !== '' && o.verbose > 1) io.err(`Note: Stripping common suffix of '${suffix}' from names\n`);
  maybePrintNodes(
    o.showNodes,
    'Initial cluster',
    state,
    state.nodes.map((n) => n.idx),
    io,
  );
  if (o.verbose > 2) io.err(coefficients(state));
  const ini = totalResources(state.nodes);
  const excl = haveExclStorage(state);
  if (o.machineReadable && !o.json) {
    io.out(
      keys([
        ...clusterFields(ini, true).map(([k, v]) => [`CLUSTER_${k}`, v] as const),
        ['CLUSTER_NODES', String(state.nodes.length)],
        ...statsKeys('INI', ini),
      ]),
    );
  } else if (!o.json) {
    io.out(
      `The cluster has ${state.nodes.length} nodes and the following resources:\n  ${formatResources(clusterFields(ini, excl))}.\n`,
    );
    io.out(`There are ${ini.instances > 0 ? ini.instances : 'no'} initial instances on the cluster.\n`);
  }
  const tspecs =
    o.tieredSpec !== undefined ? [o.tieredSpec] : ipol.minMax.map((mm) => rspecFromISpec(mm.max));
  const tspec = tspecs[0];
  if (tspec === undefined) exitErr('Empty list of specs received from the cluster');
  const ispec = o.stdSpec ?? rspecFromISpec(ipol.std);
  let result: HspaceResult;
  try {
    result = runHspace(state, {
      template,
      spindleUse,
      tieredSpecs: tspecs,
      standardSpec: ispec,
      limit: o.maxLength === -1 ? null : o.maxLength,
      capacity: o.capacity,
      acceptExisting: o.acceptExisting,
      independentGroups: o.independentGroups,
    });
  } catch (error) {
    if (error instanceof AllocationError) exitErr(`failure during allocation: ${error.message}`);
    throw error;
  }
  if (o.verbose > 3 && result.badNodes.length > 0)
    io.err(`Bad nodes: ${showNames(result.badNodes.map((n) => n.name))}\n`);
  if (o.verbose > 3 && result.badGroups.length > 0)
    io.err(`Bad groups: ${showNames(result.badGroups.map((g) => state.groups[g]?.spec.name ?? ''))}\n`);
  // htools numbers simulated nodes from 1, loaded ones from 0.
  if (o.verbose > 3)
    io.err(`Allocatable nodes: ${showAllocNodes(result, data.source.kind === 'simulation' ? 1 : 0)}\n`);
  const { tiered, standard } = result;
  reportRun(o, data, 'Tiered', tspec, template, tiered, io);
  if (!o.json) printTiered(o, state, tiered, io);
  reportRun(o, data, 'Standard', ispec, template, standard, io);
  if (o.json) io.out(jsonReport(state, result, tspec, ispec, template));
  else printResults(o, state, standard, io);
}

/** Ganeti's printTiered: the sizes placed, then the reasons and scores, or the TRL_* and KM_* keys. */
function printTiered(o: HtoolsOptions, state: ClusterState, tiered: AllocResult, io: ToolOutput): void {
  if (o.machineReadable) {
    const trl = totalResources(tiered.state.nodes);
    const [used, pool, unav] = allocationDelta(totalResources(state.nodes), trl);
    io.out(
      keys([
        ...statsKeys('TRL', trl),
        [
          'TSPEC',
          tieredSpecMap(tiered.placed)
            .map(
              ({ spec, count }) =>
                `${spec.memoryMiB},${spec.diskMiB},${spec.vcpus},${spec.spindles}=${count}`,
            )
            .join(' '),
        ],
        ...kmKeys('USED', used),
        ...kmKeys('POOL', pool),
        ...kmKeys('UNAV', unav),
      ]),
    );
    return;
  }
  const specs = tieredSpecMap(tiered.placed);
  io.out('Tiered allocation results:\n');
  if (specs.length === 0) io.out('  - no instances allocated\n');
  for (const { spec, count } of specs)
    io.out(
      `  - ${String(count).padStart(3)} instances of spec ${formatResources(specFields(spec, haveExclStorage(state)))}\n`,
    );
  io.out(failureAndScores(state, tiered.state, tiered.failures));
}

/** Ganeti's printResults and printFinal: the standard run's count, reasons and scores, or the FIN_* keys. */
function printResults(o: HtoolsOptions, state: ClusterState, standard: AllocResult, io: ToolOutput): void {
  const allocs = standard.placed.length;
  if (!o.machineReadable) {
    io.out(
      `Normal (fixed-size) allocation results:\n  - ${String(allocs).padStart(3)} instances allocated\n`,
    );
    io.out(failureAndScores(state, standard.state, standard.failures));
    return;
  }
  const fin = totalResources(standard.state.nodes);
  const initial = state.instances.length;
  if (initial + allocs !== fin.instances)
    exitErr(`internal inconsistency, allocated (${initial + allocs}) != counted (${fin.instances})\n`);
  const main = standard.failures[0];
  if (main === undefined) exitErr('Internal error, no failure reasons?!');
  io.out(
    keys([
      ...statsKeys('FIN', fin),
      ['ALLOC_USAGE', f8(initial / (initial + allocs))],
      ['ALLOC_INSTANCES', String(allocs)],
      ['ALLOC_FAIL_REASON', main[0].toUpperCase()],
      ...standard.failures.map(([mode, n]) => [`ALLOC_${mode}_CNT`, String(n)] as [string, string]),
      ['OK', '1'],
    ]),
  );
}

export const hspace: HtoolsTool = {
  options: [
    'printNodes',
    'dataFile',
    'diskTemplate',
    'spindleUse',
    'nodeSim',
    'rapiMaster',
    'luxi',
    'iallocSrc',
    'verbose',
    'quiet',
    'independentGroups',
    'acceptExisting',
    'offlineNode',
    'noCapacityChecks',
    'machineReadable',
    'maxCpu',
    'maxSolLength',
    'minDisk',
    'stdSpec',
    'tieredSpec',
    'saveCluster',
    'staticKvmNodeMemory',
    'json',
  ],
  arguments: [],
  run,
};
