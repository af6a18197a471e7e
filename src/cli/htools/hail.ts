import { readFileSync } from 'node:fs';
import { isDedicated } from '../../alloc/allocate.js';
import { inconsistencies, warningText } from '../../alloc/iallocator/consistency.js';
import {
  type IAllocRequest,
  type NewInstanceRequest,
  type ParsedRequest,
  parseIAllocRequest,
} from '../../alloc/iallocator/request.js';
import {
  type Answered,
  type AnswerOptions,
  allocationGroup,
  answer,
} from '../../alloc/iallocator/respond.js';
import { buildState, type ClusterState, type InstState, toSnapshot } from '../../alloc/state.js';
import type { ClusterSnapshot, InstanceStatus } from '../../alloc/types.js';
import { loadExternalData, maybeSaveData } from './backend.js';
import { withMonDLoads } from './mond.js';
import type { HtoolsOptions } from './options.js';
import { maybePrintNodes } from './print.js';
import { exitErr, type HtoolsTool, type ToolOutput } from './tool.js';

/**
 * hail, Ganeti's iallocator, as its Program/Hail.hs runs: read the request (warning about data it finds
 * inconsistent), take the cluster from -t or --simulate instead when given, answer on stdout, and print
 * or save the cluster before and after (-p, -S).
 */

function readRequest(o: HtoolsOptions, path: string, io: ToolOutput): ParsedRequest {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    return exitErr(`${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const parsed = parseIAllocRequest(text, path, o.staticKvmNodeMemory);
  io.err(warningText(inconsistencies(buildState(parsed.cluster))));
  return parsed;
}

async function run(o: HtoolsOptions, args: readonly string[], io: ToolOutput): Promise<void> {
  const [path, ...rest] = args;
  if (path === undefined) exitErr('This program needs an input file.');
  if (rest.length > 0) exitErr('Only one argument is accepted (the input file)');
  const parsed = readRequest(o, path, io);
  const external = o.dataFile !== undefined || o.nodeSim.length > 0 ? await loadExternalData(o) : undefined;
  // The request's own cluster takes the loads the nodes' monitoring daemons measure (--mond).
  const loadOptions = external?.loadOptions ?? (await withMonDLoads(o, parsed.cluster, {}, undefined, io));
  const options: AnswerOptions = {
    ignoreSoftErrors: o.ignoreSoftErrors,
    capacityChecks: o.capacity,
    loadOptions,
    hailQuirks: true,
    ...(o.restrictToNodes === undefined ? {} : { restrictToNodes: o.restrictToNodes }),
    ...(external === undefined ? {} : { cluster: external.snapshot }),
  };
  const before = external?.state ?? buildState(parsed.cluster, loadOptions);
  if (o.verbose > 1) io.err(`Received request: ${showRequest(parsed)}\n`);
  if (o.verbose > 2) io.err(`Received cluster data: ${showCluster(before)}\n`);
  const allocation = allocationGroup(parsed.request);
  if (o.verbose > 1 && allocation !== null && isDedicated(before, allocation.group))
    io.err('Allocation on a dedicated cluster; using lost-allocations metrics.\n');
  const allNodes = (state: ClusterState) => state.nodes.map((n) => n.idx);
  maybePrintNodes(o.showNodes, 'Initial cluster', before, allNodes(before), io);
  maybeSaveData(o, 'pre-ialloc', 'before iallocator run', external?.snapshot ?? parsed.cluster, io);
  const answered = answer(parsed, options);
  io.out(`${JSON.stringify(answered.response)}\n`);
  maybePrintNodes(o.showNodes, 'Final cluster', answered.after, allNodes(answered.after), io);
  maybeSaveData(o, 'post-ialloc', 'after iallocator run', savedAfter(answered, parsed.request), io);
}

/**
 * The cluster after the answer as hail writes it: nodes keep the free memory they reported (htools never
 * changes it in a simulation), and a newly allocated instance comes first, filed under hail's index -1.
 */
function savedAfter(answered: Answered, request: IAllocRequest): ClusterSnapshot {
  const after = toSnapshot(answered.after);
  const reported = new Map(answered.before.snapshot.nodes.map((n) => [n.name, n.freeMemoryMiB]));
  const nodes = after.nodes.map((n) => ({ ...n, freeMemoryMiB: reported.get(n.name) ?? n.freeMemoryMiB }));
  const added = after.instances.length > answered.before.instances.length;
  const instances =
    request.type === 'allocate' && added
      ? [...after.instances.slice(-1), ...after.instances.slice(0, -1)]
      : after.instances;
  return { ...after, nodes, instances };
}

// A short form of Haskell's `show` of the request and the cluster, for -v -v and -v -v -v.

const haskellStatus: Record<InstanceStatus, string> = {
  running: 'Running',
  ERROR_up: 'ErrorUp',
  ADMIN_down: 'StatusDown',
  ERROR_down: 'ErrorDown',
  ERROR_nodedown: 'NodeDown',
  ERROR_nodeoffline: 'NodeOffline',
  ERROR_wrongnode: 'WrongNode',
  ADMIN_offline: 'StatusOffline',
  USER_down: 'UserDown',
};

const quoted = (s: string): string => JSON.stringify(s);

function showNew(req: NewInstanceRequest): string {
  return `Instance {name = ${quoted(req.name)}, mem = ${req.memory}, dsk = ${req.disk_space_total}, vcpus = ${req.vcpus}, runSt = Running, diskTemplate = ${quoted(req.disk_template)}, spindleUse = ${req.spindle_use}, allTags = [${req.tags.map(quoted).join(',')}]}`;
}

function showRequest(parsed: ParsedRequest): string {
  const req = parsed.request;
  switch (req.type) {
    case 'allocate':
      return `Allocate (${showNew(req)}) (AllocDetails ${req.required_nodes ?? 1} ${req.group_name == null ? 'Nothing' : `(Just ${quoted(req.group_name)})`})`;
    case 'multi-allocate':
      return `MultiAllocate [${req.instances.map(showNew).join(',')}]`;
    case 'allocate-secondary':
      return `AllocateSecondary ${quoted(req.name)}`;
    case 'relocate':
      return `Relocate ${quoted(req.name)} ${req.required_nodes} [${req.relocate_from.map(quoted).join(',')}]`;
    case 'node-evacuate':
      return `NodeEvacuate [${req.instances.map(quoted).join(',')}] ${req.evac_mode}`;
    case 'change-group':
      return `ChangeGroup [${req.target_groups.map(quoted).join(',')}] [${req.instances.map(quoted).join(',')}]`;
  }
}

function showInstance(i: InstState): string {
  return `(${i.idx},Instance {name = ${quoted(i.name)}, mem = ${i.memoryMiB}, dsk = ${i.diskMiB}, vcpus = ${i.vcpus}, runSt = ${haskellStatus[i.status]}, pNode = ${i.pNode}, sNode = ${i.sNode}, idx = ${i.idx}, diskTemplate = ${quoted(i.template)}})`;
}

function showCluster(state: ClusterState): string {
  const groups = state.groups.map(
    (g) => `(${g.idx},Group {name = ${quoted(g.spec.name)}, uuid = ${quoted(g.spec.uuid)}})`,
  );
  const nodes = state.nodes.map((n) => `(${n.idx},Node {name = ${quoted(n.name)}, group = ${n.group}})`);
  return `ClusterData {cdGroups = fromList [${groups.join(',')}], cdNodes = fromList [${nodes.join(',')}], cdInstances = fromList [${state.instances.map(showInstance).join(',')}], cdTags = [${state.clusterTags.map(quoted).join(',')}]}`;
}

export const hail: HtoolsTool = {
  options: [
    'printNodes',
    'saveCluster',
    'dataFile',
    'nodeSim',
    'verbose',
    'ignoreDynu',
    'ignoreSoftErrors',
    'noCapacityChecks',
    'restrictToNodes',
    'monD',
    'monDXen',
    'staticKvmNodeMemory',
  ],
  arguments: ['file 1 1'],
  run,
};
