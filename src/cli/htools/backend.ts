import { readFileSync, writeFileSync } from 'node:fs';
import { parseIAllocRequest } from '../../alloc/iallocator/request.js';
import { liveSnapshot, type NodeFigures } from '../../alloc/live-snapshot.js';
import { parseRapiCluster } from '../../alloc/rapi-backend.js';
import { buildState, type ClusterState, type DynUtil, type LoadOptions, noNode } from '../../alloc/state.js';
import { parseTextBackend, serializeTextBackend } from '../../alloc/text-backend.js';
import type { ClusterSnapshot } from '../../alloc/types.js';
import { type ConfigView, configViewSchema } from '../../cluster/views.js';
import { CorralError } from '../../common/errors.js';
import type { DaemonCall } from '../../daemon/job-client.js';
import { daemonCall } from '../cluster-client.js';
import { withMonDLoads } from './mond.js';
import type { HtoolsOptions } from './options.js';
import { readRapi } from './rapi-source.js';
import { exitErr, type ToolOutput } from './tool.js';

/**
 * Where the htools read the cluster from, as Ganeti's ExtLoader decides it: a text file (-t), the cluster's
 * own daemon (-L, Corral's control socket, where Ganeti has Luxi; also the default when nothing is named), a
 * RAPI endpoint or dump (-m), an iallocator request (-I) or a simulated empty cluster (--simulate). Then the
 * command line's changes: measured loads (-U, --ignore-dynu), excluded and selected instances, exclusion
 * tags, offline nodes (-O), --max-cpu and --min-disk; and the CPU loads the nodes' monitoring daemons
 * measure (--mond).
 */
export type ClusterSource =
  | { readonly kind: 'file' | 'ialloc' | 'simulation' | 'rapi' }
  | { readonly kind: 'live'; readonly call: DaemonCall; readonly config: ConfigView };

export interface ClusterData {
  readonly snapshot: ClusterSnapshot;
  readonly state: ClusterState;
  readonly loadOptions: LoadOptions;
  readonly source: ClusterSource;
}

function readInput(path: string): string {
  try {
    return readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    return exitErr(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/** htools' -U file: "name cpu mem disk net" a line. */
export function parseUtilisation(text: string): Map<string, DynUtil> {
  const loads = new Map<string, DynUtil>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    if (fields.length !== 5) exitErr(`can't parse utilisation data: Cannot parse line ${line}`);
    const [name, ...values] = fields as [string, string, string, string, string];
    const numbers = values.map((value) => {
      if (!/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(value))
        exitErr(`can't parse utilisation data: ${name}: cannot parse string '${value}'`);
      return Number(value);
    }) as [number, number, number, number];
    loads.set(name, { cpu: numbers[0], mem: numbers[1], disk: numbers[2], net: numbers[3] });
  }
  return loads;
}

async function liveCluster(
  socket: string | undefined,
): Promise<{ snapshot: ClusterSnapshot; source: ClusterSource }> {
  const call = daemonCall(socket === undefined || socket === '' ? {} : { socket });
  const config = configViewSchema.parse((await call({ op: 'config', consistent: true })).config);
  const figures = new Map<string, NodeFigures>();
  for (const node of (await call({ op: 'nodes-live' })).nodes)
    if (node.status !== undefined) figures.set(node.name, node.status);
  return { snapshot: liveSnapshot(config, figures), source: { kind: 'live', call, config } };
}

async function loadSnapshot(o: HtoolsOptions): Promise<{ snapshot: ClusterSnapshot; source: ClusterSource }> {
  const chosen = [o.master !== '', o.luxi !== undefined, o.dataFile !== undefined].filter(Boolean);
  if (chosen.length > 1) exitErr('Only one of the rapi, luxi, and data files options should be given.');
  if (o.master !== '')
    return { snapshot: parseRapiCluster(await readRapi(o.master)), source: { kind: 'rapi' } };
  if (o.luxi !== undefined) return liveCluster(o.luxi);
  if (o.nodeSim.length > 0) {
    const { simulateCluster } = await import('../../alloc/simulate.js');
    return { snapshot: simulateCluster(o.nodeSim), source: { kind: 'simulation' } };
  }
  if (o.dataFile !== undefined)
    return {
      snapshot: parseTextBackend(readInput(o.dataFile), o.dataFile, { allowDuplicateInstances: true }),
      source: { kind: 'file' },
    };
  if (o.iallocSrc !== undefined)
    return {
      snapshot: parseIAllocRequest(readInput(o.iallocSrc), o.iallocSrc).cluster,
      source: { kind: 'ialloc' },
    };
  return liveCluster(undefined);
}

const processOutput: ToolOutput = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

export async function loadExternalData(
  o: HtoolsOptions,
  io: ToolOutput = processOutput,
): Promise<ClusterData> {
  const util = o.dynuFile === undefined ? undefined : parseUtilisation(readInput(o.dynuFile));
  const loaded = await loadSnapshot(o).catch((error: unknown) => {
    if (error instanceof CorralError)
      exitErr(`failed to load data, aborting: ${error.message.split('\n')[0]}`);
    throw error;
  });
  const names = new Set(loaded.snapshot.nodes.map((n) => n.name as string));
  const wrong = o.offline.filter((name) => !names.has(name) && lookupName(names, name) === undefined);
  if (wrong.length > 0) exitErr(`wrong node name(s) set as offline: ${wrong.join(', ')}\n`);
  const instanceNames = new Set(loaded.snapshot.instances.map((i) => i.name as string));
  const unknown = [...o.selInst, ...o.exInst].filter((name) => lookupName(instanceNames, name) === undefined);
  if (unknown.length > 0)
    exitErr(
      `failed to load data, aborting: Unknown instance(s): [${unknown.map((n) => JSON.stringify(n)).join(',')}]`,
    );
  const fullName = (name: string): string => lookupName(instanceNames, name) ?? name;
  const fromCommandLine: LoadOptions = {
    exclusionTags: o.exTags ?? [],
    excludedInstances: o.exInst.map(fullName),
    ...(o.selInst.length > 0 ? { selectedInstances: o.selInst.map(fullName) } : {}),
    offlineNodes: o.offline.map((name) => lookupName(names, name) ?? name),
    minDiskRatio: o.mdsk,
    ...(o.mcpu === undefined ? {} : { maxCpuRatio: o.mcpu }),
    ...(util === undefined ? {} : { instanceUtil: util }),
    ignoreDynUtil: o.ignoreDynu,
  };
  const config = loaded.source.kind === 'live' ? loaded.source.config : undefined;
  const loadOptions = await withMonDLoads(o, loaded.snapshot, fromCommandLine, config, io);
  const state = buildState(loaded.snapshot, loadOptions);
  const inconsistent = missingResources(state);
  if (o.verbose !== 0 && inconsistent.length > 0)
    io.err(`Warning: cluster has inconsistent data:\n${inconsistent.map((m) => `  - ${m}\n`).join('')}\n`);
  return {
    snapshot: loaded.snapshot,
    state,
    loadOptions,
    source: loaded.source,
  };
}

/** Ganeti's lookupName: the exact name, or the only name it is a prefix of up to a dot (node1 for node1.example.com). */
export function lookupName(names: ReadonlySet<string>, wanted: string): string | undefined {
  if (names.has(wanted)) return wanted;
  const matches = [...names].filter((n) => n.startsWith(`${wanted}.`));
  return matches.length === 1 ? matches[0] : undefined;
}

/** hbal's -S: the cluster as a text file, under the name given plus a suffix (.original, .balanced, ...). */
export function maybeSaveData(
  o: HtoolsOptions,
  suffix: string,
  what: string,
  snapshot: ClusterSnapshot,
  io: ToolOutput,
): void {
  if (o.saveCluster === undefined) return;
  const path = `${o.saveCluster}.${suffix}`;
  writeFileSync(path, serializeTextBackend(snapshot));
  io.err(`The cluster state ${what} has been written to file '${path}'\n`);
}

/**
 * Ganeti's updateMissing warnings: memory or disk a node reports in use that its instances do not explain
 * (more than 512 MiB of memory, or 1 GiB of disk).
 */
function missingResources(state: ClusterState): string[] {
  const used = state.nodes.map(() => 0);
  for (const inst of state.instances)
    for (const node of [inst.pNode, inst.sNode])
      if (node !== noNode) used[node] = (used[node] ?? 0) + inst.diskMiB;
  return state.nodes.flatMap((node) => {
    const disk = Math.trunc(node.tDsk) - node.fDsk - (used[node.idx] ?? 0);
    return node.xMem > 512 || disk > 1024
      ? [`node ${node.name} is missing ${node.xMem} MB ram and ${Math.floor(disk / 1024)} GB disk`]
      : [];
  });
}
