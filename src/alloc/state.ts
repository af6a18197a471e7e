import { type DiskTemplate, diskTemplateTraits, needsSecondary } from '../cluster/disk-templates.js';
import { PeerTable } from './peer-table.js';
import type {
  ClusterSnapshot,
  GroupSpec,
  InstanceName,
  InstanceSpec,
  InstanceStatus,
  IPolicy,
  NodeName,
  NodeSpec,
} from './types.js';

/**
 * The working model the algorithms run on: the snapshot indexed by position, with the derived
 * figures htools keeps per node (reserved memory, peers, tag counts, ratios). Nodes are updated
 * copy-on-write, so that a trial move never disturbs the state it was tried on.
 */

/** Why a placement is refused, with htools' names (hail prints them in its answers). */
export type FailMode =
  | 'FailMem'
  | 'FailDisk'
  | 'FailCPU'
  | 'FailN1'
  | 'FailTags'
  | 'FailMig'
  | 'FailSpindles'
  | 'FailDiskCount'
  | 'FailInternal';

/** htools' FailMode in its declaration order, the order its failure statistics and hail's answers list them in. */
export const failModes: readonly FailMode[] = [
  'FailMem',
  'FailDisk',
  'FailCPU',
  'FailN1',
  'FailTags',
  'FailMig',
  'FailDiskCount',
  'FailSpindles',
  'FailInternal',
];

export const noNode = -1;

export interface InstState {
  readonly idx: number;
  readonly name: InstanceName;
  readonly memoryMiB: number;
  /** Disk taken on each node holding the instance's disks. */
  readonly diskMiB: number;
  readonly disksMiB: readonly number[];
  readonly totalSpindles: number | null;
  readonly vcpus: number;
  readonly status: InstanceStatus;
  readonly autoBalance: boolean;
  readonly pNode: number;
  readonly sNode: number;
  readonly template: DiskTemplate;
  readonly spindleUse: number;
  readonly forthcoming: boolean;
  readonly tags: readonly string[];
  readonly nicCount: number;
  /** Tags that must not meet twice on one primary node. */
  readonly exclTags: readonly string[];
  readonly desiredLocations: ReadonlySet<string>;
  /** Failure domains its primary and secondary share. */
  readonly locationScore: number;
  /** False when excluded by the operator or split across node groups. */
  readonly movable: boolean;
  /** Its measured load (htools' dynamic utilisation); 1 of each without measurements. */
  readonly util: DynUtil;
}

/** htools' DynUtil: an instance's CPU, memory, disk and network load, in relative units. */
export interface DynUtil {
  readonly cpu: number;
  readonly mem: number;
  readonly disk: number;
  readonly net: number;
}

/** What an instance weighs when nothing was measured (htools' baseUtil). */
export const baseUtil: DynUtil = { cpu: 1, mem: 1, disk: 1, net: 1 };
/** What every instance weighs when measurements are ignored (htools' zeroUtil, hbal --ignore-dynu). */
export const zeroUtil: DynUtil = { cpu: 0, mem: 0, disk: 0, net: 0 };

/**
 * A node as htools' Node.hs models it, with htools' field names so that the two read side by side. The
 * prefixes say what a figure is:
 * - `t` total (tMem, tDsk, tCpu, tSpindles): what the node has;
 * - `n` the node's own (nMem: memory the node itself uses; nCpu: CPUs kept for the node);
 * - `f` free (fMem, fDsk, fSpindles), `u` used (uCpu: vCPUs of its primaries);
 * - `i` its instances' (iMem: memory of primaries by our records; instSpindles);
 * - `x` unaccounted (xMem: memory in use that no instance of ours explains);
 * - `r` reserved (rMem: the memory to keep free so that the largest peer's instances can fail over here, N+1);
 * - `lo`/`hi` the policy's watermarks (loDsk: free disk never to go below; hiSpindles: spindles never to
 *   exceed);
 * - `p`/`s` primary/secondary (pCount, sCount, pTags: exclusion tags of its primaries);
 * - a `Forth` suffix counts forthcoming instances (reserved, not yet created) as well.
 */
export interface NodeState {
  readonly idx: number;
  readonly name: NodeName;
  readonly group: number;
  readonly offline: boolean;
  readonly master: boolean;
  readonly tags: readonly string[];
  readonly policy: IPolicy;
  readonly exclusiveStorage: boolean;
  readonly tMem: number;
  readonly nMem: number;
  /** Free memory as reported; only meaningful before any simulated move. */
  readonly fMem: number;
  /** Memory of primaries that use memory, by our records. */
  iMem: number;
  /** Memory the node uses beyond our records (reported minus recorded). */
  readonly xMem: number;
  fMemForth: number;
  readonly tDsk: number;
  fDsk: number;
  fDskForth: number;
  readonly loDsk: number;
  readonly tCpu: number;
  readonly cpuSpeed: number;
  readonly nCpu: number;
  uCpu: number;
  uCpuForth: number;
  readonly tSpindles: number;
  fSpindles: number;
  fSpindlesForth: number;
  instSpindles: number;
  instSpindlesForth: number;
  readonly hiSpindles: number;
  /** Real primary and secondary instances (forthcoming ones are counted apart). */
  pCount: number;
  sCount: number;
  pCountForth: number;
  sCountForth: number;
  /** Primary node index → memory of its instances that would fail over here. */
  peers: PeerTable;
  rMem: number;
  failN1: boolean;
  /** Exclusion tag → number of primaries carrying it. */
  pTags: Map<string, number>;
  locationScore: number;
  /** "location\0exclusion tag" → number of primaries with both. */
  instanceMap: Map<string, number>;
  readonly locationTags: ReadonlySet<string>;
  readonly migTags: ReadonlySet<string>;
  readonly recvMigTags: ReadonlySet<string>;
  /** The summed load of its instances (htools' utilLoad): primaries count all four, secondaries disk. */
  lCpu: number;
  lMem: number;
  lDsk: number;
  lNet: number;
}

export interface GroupState {
  readonly idx: number;
  readonly spec: GroupSpec;
}

export interface ClusterState {
  readonly groups: readonly GroupState[];
  readonly nodes: readonly NodeState[];
  readonly instances: readonly InstState[];
  readonly nodeByName: ReadonlyMap<string, number>;
  readonly instanceByName: ReadonlyMap<string, number>;
  readonly clusterTags: readonly string[];
  readonly snapshot: ClusterSnapshot;
}

/** A shallow copy: the maps stay shared until an operation that changes one copies it. */
export function cloneNode(n: NodeState): NodeDraft {
  // Spelled out rather than spread: every node then shares one object shape, which keeps
  // the trial moves of the search fast.
  return {
    idx: n.idx,
    name: n.name,
    group: n.group,
    offline: n.offline,
    master: n.master,
    tags: n.tags,
    policy: n.policy,
    exclusiveStorage: n.exclusiveStorage,
    tMem: n.tMem,
    nMem: n.nMem,
    fMem: n.fMem,
    iMem: n.iMem,
    xMem: n.xMem,
    fMemForth: n.fMemForth,
    tDsk: n.tDsk,
    fDsk: n.fDsk,
    fDskForth: n.fDskForth,
    loDsk: n.loDsk,
    tCpu: n.tCpu,
    cpuSpeed: n.cpuSpeed,
    nCpu: n.nCpu,
    uCpu: n.uCpu,
    uCpuForth: n.uCpuForth,
    tSpindles: n.tSpindles,
    fSpindles: n.fSpindles,
    fSpindlesForth: n.fSpindlesForth,
    instSpindles: n.instSpindles,
    instSpindlesForth: n.instSpindlesForth,
    hiSpindles: n.hiSpindles,
    pCount: n.pCount,
    sCount: n.sCount,
    pCountForth: n.pCountForth,
    sCountForth: n.sCountForth,
    peers: n.peers,
    rMem: n.rMem,
    failN1: n.failN1,
    pTags: n.pTags,
    locationScore: n.locationScore,
    instanceMap: n.instanceMap,
    locationTags: n.locationTags,
    migTags: n.migTags,
    recvMigTags: n.recvMigTags,
    lCpu: n.lCpu,
    lMem: n.lMem,
    lDsk: n.lDsk,
    lNet: n.lNet,
  };
}

/** A node whose every field may be written: the reusable copies a trial move works on. */
export type NodeDraft = { -readonly [K in keyof NodeState]: NodeState[K] };

/** Makes `into` a copy of `n`, as cloneNode does, without a new object. */
export function copyNode(into: NodeDraft, n: NodeState): NodeDraft {
  into.idx = n.idx;
  into.name = n.name;
  into.group = n.group;
  into.offline = n.offline;
  into.master = n.master;
  into.tags = n.tags;
  into.policy = n.policy;
  into.exclusiveStorage = n.exclusiveStorage;
  into.tMem = n.tMem;
  into.nMem = n.nMem;
  into.fMem = n.fMem;
  into.iMem = n.iMem;
  into.xMem = n.xMem;
  into.fMemForth = n.fMemForth;
  into.tDsk = n.tDsk;
  into.fDsk = n.fDsk;
  into.fDskForth = n.fDskForth;
  into.loDsk = n.loDsk;
  into.tCpu = n.tCpu;
  into.cpuSpeed = n.cpuSpeed;
  into.nCpu = n.nCpu;
  into.uCpu = n.uCpu;
  into.uCpuForth = n.uCpuForth;
  into.tSpindles = n.tSpindles;
  into.fSpindles = n.fSpindles;
  into.fSpindlesForth = n.fSpindlesForth;
  into.instSpindles = n.instSpindles;
  into.instSpindlesForth = n.instSpindlesForth;
  into.hiSpindles = n.hiSpindles;
  into.pCount = n.pCount;
  into.sCount = n.sCount;
  into.pCountForth = n.pCountForth;
  into.sCountForth = n.sCountForth;
  into.peers = n.peers;
  into.rMem = n.rMem;
  into.failN1 = n.failN1;
  into.pTags = n.pTags;
  into.locationScore = n.locationScore;
  into.instanceMap = n.instanceMap;
  into.locationTags = n.locationTags;
  into.migTags = n.migTags;
  into.recvMigTags = n.recvMigTags;
  into.lCpu = n.lCpu;
  into.lMem = n.lMem;
  into.lDsk = n.lDsk;
  into.lNet = n.lNet;
  return into;
}

// Instance predicates, as htools defines them.

export const isOfflineInstance = (i: InstState): boolean => i.status === 'ADMIN_offline';
export const isRunning = (i: InstState): boolean => i.status === 'running' || i.status === 'ERROR_up';

export function usesMemory(i: InstState): boolean {
  if (i.forthcoming) return false;
  switch (i.status) {
    case 'ADMIN_down':
    case 'ADMIN_offline':
    case 'ERROR_down':
    case 'USER_down':
      return false;
    default:
      return true;
  }
}

/** Whether the secondary must keep room to take this instance over. */
export const usesSecMem = (i: InstState): boolean => !isOfflineInstance(i) && i.autoBalance;
export const hasSecondary = (i: InstState): boolean => needsSecondary(i.template);
const localDisk = (i: InstState): boolean => diskTemplateTraits[i.template].localStorage;

export function unallocatedMem(n: NodeState): number {
  return Math.trunc(n.tMem) - n.nMem - n.iMem - Math.max(0, n.xMem);
}

export function pDskOf(n: NodeState, freeSpindles: number, freeDisk: number): number {
  if (n.exclusiveStorage) return n.tSpindles === 0 ? 1 : freeSpindles / n.tSpindles;
  return n.tDsk === 0 ? 1 : freeDisk / n.tDsk;
}

function addTag(map: Map<string, number>, tag: string): void {
  map.set(tag, (map.get(tag) ?? 0) + 1);
}

function delTag(map: Map<string, number>, tag: string): void {
  const count = map.get(tag);
  if (count === undefined) return;
  if (count > 1) map.set(tag, count - 1);
  else map.delete(tag);
}

function locationPairs(n: NodeState, i: InstState): string[] {
  if (n.locationTags.size === 0 || i.exclTags.length === 0) return [];
  const pairs: string[] = [];
  for (const loc of n.locationTags) for (const tag of i.exclTags) pairs.push(`${loc}\0${tag}`);
  return pairs;
}

/** Desired locations of the instance that this node does not offer. */
function desiredLocationMisses(n: NodeState, i: InstState): number {
  let misses = 0;
  for (const tag of i.desiredLocations) if (!n.locationTags.has(tag)) misses++;
  return misses;
}

function spindleDelta(n: NodeState, i: InstState): number {
  return !n.exclusiveStorage && localDisk(i) ? i.spindleUse : 0;
}

function freeSpindlesAfter(n: NodeState, free: number, i: InstState, adding: boolean): number {
  if (!n.exclusiveStorage) return 0;
  if (i.totalSpindles === null) return adding ? -1 : free;
  return adding ? free - i.totalSpindles : free + i.totalSpindles;
}

// Loading: these record an instance as already placed, with the reported free figures untouched.

/**
 * What a primary and a secondary both take from their node: spindles, and disk while the instance is only
 * forthcoming. Returns true for a forthcoming instance, which counts toward nothing else yet.
 */
function loadStorage(n: NodeState, i: InstState): boolean {
  n.instSpindlesForth += spindleDelta(n, i);
  if (i.forthcoming) {
    if (localDisk(i)) n.fDskForth -= i.diskMiB;
    n.fSpindlesForth = freeSpindlesAfter(n, n.fSpindlesForth, i, true);
    return true;
  }
  n.instSpindles += spindleDelta(n, i);
  return false;
}

function loadPrimary(n: NodeState, i: InstState): void {
  for (const tag of i.exclTags) addTag(n.pTags, tag);
  if (!usesMemory(i)) n.fMemForth -= i.memoryMiB;
  if (!isOfflineInstance(i)) n.uCpuForth += i.vcpus;
  n.pCountForth++;
  if (loadStorage(n, i)) return;
  n.pCount++;
  if (!isOfflineInstance(i)) n.uCpu += i.vcpus;
  addLoad(n, i.util, 1);
  n.locationScore += i.locationScore + desiredLocationMisses(n, i);
  for (const pair of locationPairs(n, i)) addTag(n.instanceMap, pair);
}

/** Adds (sign 1) or takes away (-1) an instance's load: all of it on its primary. */
function addLoad(n: NodeState, util: DynUtil, sign: 1 | -1): void {
  n.lCpu += sign * util.cpu;
  n.lMem += sign * util.mem;
  n.lDsk += sign * util.disk;
  n.lNet += sign * util.net;
}

function loadSecondary(n: NodeState, i: InstState): void {
  n.sCountForth++;
  if (loadStorage(n, i)) return;
  n.sCount++;
  n.lDsk += i.util.disk;
}

// Simulated operations, following htools' Node.addPri/addSec/removePri/removeSec. Each comes twice: on a
// copy of the node (the state's own nodes never change), and `…In`, on a node the caller owns and lets the
// operation change, which a trial move uses to try moves without building a node per try. The `add…In`
// operations change nothing when they refuse.

export function removePrimary(t: NodeState, i: InstState): NodeState {
  return removePrimaryIn(cloneNode(t), i);
}

export function removePrimaryIn(n: NodeState, i: InstState): NodeState {
  const local = localDisk(i);
  if (i.exclTags.length > 0) {
    n.pTags = new Map(n.pTags);
    for (const tag of i.exclTags) delTag(n.pTags, tag);
  }
  n.pCountForth--;
  n.fMemForth += i.memoryMiB;
  if (local) n.fDskForth += i.diskMiB;
  n.fSpindlesForth = freeSpindlesAfter(n, n.fSpindlesForth, i, false);
  n.instSpindlesForth -= spindleDelta(n, i);
  if (!isOfflineInstance(i)) n.uCpuForth -= i.vcpus;
  if (i.forthcoming) return n;
  n.pCount--;
  if (usesMemory(i)) n.iMem -= i.memoryMiB;
  n.failN1 = unallocatedMem(n) <= n.rMem;
  if (local) n.fDsk += i.diskMiB;
  n.fSpindles = freeSpindlesAfter(n, n.fSpindles, i, false);
  n.instSpindles -= spindleDelta(n, i);
  if (!isOfflineInstance(i)) n.uCpu -= i.vcpus;
  addLoad(n, i.util, -1);
  n.locationScore -= i.locationScore + desiredLocationMisses(n, i);
  const pairs = locationPairs(n, i);
  if (pairs.length > 0) {
    n.instanceMap = new Map(n.instanceMap);
    for (const pair of pairs) delTag(n.instanceMap, pair);
  }
  return n;
}

export function removeSecondary(t: NodeState, i: InstState): NodeState {
  return removeSecondaryIn(cloneNode(t), i);
}

export function removeSecondaryIn(n: NodeState, i: InstState): NodeState {
  const local = localDisk(i);
  n.sCountForth--;
  if (local) n.fDskForth += i.diskMiB;
  n.fSpindlesForth = freeSpindlesAfter(n, n.fSpindlesForth, i, false);
  n.instSpindlesForth -= spindleDelta(n, i);
  if (i.forthcoming) return n;
  n.sCount--;
  n.lDsk -= i.util.disk;
  if (local) n.fDsk += i.diskMiB;
  n.fSpindles = freeSpindlesAfter(n, n.fSpindles, i, false);
  n.instSpindles -= spindleDelta(n, i);
  const oldPeer = n.peers.get(i.pNode);
  const newPeer = usesSecMem(i) ? oldPeer - i.memoryMiB : oldPeer;
  n.peers = n.peers.with(i.pNode, Math.max(newPeer, 0));
  if (oldPeer >= n.rMem) n.rMem = n.peers.max();
  n.failN1 = unallocatedMem(n) <= n.rMem;
  return n;
}

function rejectsTags(pTags: ReadonlyMap<string, number>, i: InstState): boolean {
  return i.exclTags.some((tag) => pTags.has(tag));
}

/**
 * Places a primary. `force` drops the soft checks (N+1, vCPU ratio, spindle ratio, tags), as
 * htools does when the instance comes from an offline node or soft errors are ignored.
 */
export function addPrimary(t: NodeState, i: InstState, force: boolean): NodeState | FailMode {
  return primaryRefusal(t, i, force) ?? placePrimary(cloneNode(t), i);
}

export function addPrimaryIn(n: NodeState, i: InstState, force: boolean): NodeState | FailMode {
  return primaryRefusal(n, i, force) ?? placePrimary(n, i);
}

/** Why `t` cannot take `i` as a primary, or null. */
function primaryRefusal(t: NodeState, i: InstState, force: boolean): FailMode | null {
  const strict = !force;
  if (i.forthcoming) return strict ? primaryForthRefusal(t, i) : null;
  const local = localDisk(i);
  const newIMem = usesMemory(i) ? t.iMem + i.memoryMiB : t.iMem;
  const newFreeMem = Math.trunc(t.tMem) - t.nMem - newIMem - Math.max(0, t.xMem);
  const newFailN1 = newFreeMem <= t.rMem;
  const newDsk = local ? t.fDsk - i.diskMiB : t.fDsk;
  const newFreeSp = freeSpindlesAfter(t, t.fSpindles, i, true);
  const newInstSp = t.instSpindles + spindleDelta(t, i);
  const newUCpu = t.uCpu + (isOfflineInstance(i) ? 0 : i.vcpus);
  const vcpuRatio = t.policy.vcpuRatio;
  if (newFreeMem <= 0) return 'FailMem';
  if (local && newDsk <= 0) return 'FailDisk';
  if (strict && local && newDsk < t.loDsk) return 'FailDisk';
  if (local && t.exclusiveStorage && newFreeSp < 0) return 'FailSpindles';
  if (strict && local && newInstSp > t.hiSpindles) return 'FailDisk';
  if (strict && newFailN1 && !t.failN1) return 'FailMem';
  if (strict && vcpuRatio >= 0 && vcpuRatio < newUCpu / t.tCpu) return 'FailCPU';
  if (strict && rejectsTags(t.pTags, i)) return 'FailTags';
  return strict ? primaryForthRefusal(t, i) : null;
}

/** The refusals that count forthcoming instances too. */
function primaryForthRefusal(t: NodeState, i: InstState): FailMode | null {
  const local = localDisk(i);
  const vcpuRatio = t.policy.vcpuRatio;
  const newDskForth = local ? t.fDskForth - i.diskMiB : t.fDskForth;
  if (t.fMemForth - i.memoryMiB <= 0) return 'FailMem';
  if (local && newDskForth <= 0) return 'FailDisk';
  if (local && newDskForth < t.loDsk) return 'FailDisk';
  if (local && t.exclusiveStorage && freeSpindlesAfter(t, t.fSpindlesForth, i, true) < 0)
    return 'FailSpindles';
  if (local && t.instSpindlesForth + spindleDelta(t, i) > t.hiSpindles) return 'FailDisk';
  const newUCpuForth = t.uCpuForth + (isOfflineInstance(i) ? 0 : i.vcpus);
  if (vcpuRatio >= 0 && vcpuRatio < newUCpuForth / t.tCpu) return 'FailCPU';
  return null;
}

function placePrimary(n: NodeState, i: InstState): NodeState {
  const local = localDisk(i);
  if (i.exclTags.length > 0) {
    n.pTags = new Map(n.pTags);
    for (const tag of i.exclTags) addTag(n.pTags, tag);
  }
  n.pCountForth++;
  n.fMemForth -= i.memoryMiB;
  if (local) n.fDskForth -= i.diskMiB;
  if (!isOfflineInstance(i)) n.uCpuForth += i.vcpus;
  n.instSpindlesForth += spindleDelta(n, i);
  n.fSpindlesForth = freeSpindlesAfter(n, n.fSpindlesForth, i, true);
  if (i.forthcoming) return n;
  n.pCount++;
  if (usesMemory(i)) n.iMem += i.memoryMiB;
  n.failN1 = unallocatedMem(n) <= n.rMem;
  if (local) n.fDsk -= i.diskMiB;
  if (!isOfflineInstance(i)) n.uCpu += i.vcpus;
  n.instSpindles += spindleDelta(n, i);
  n.fSpindles = freeSpindlesAfter(n, n.fSpindles, i, true);
  addLoad(n, i.util, 1);
  n.locationScore += i.locationScore + desiredLocationMisses(n, i);
  const pairs = locationPairs(n, i);
  if (pairs.length > 0) {
    n.instanceMap = new Map(n.instanceMap);
    for (const pair of pairs) addTag(n.instanceMap, pair);
  }
  return n;
}

/** Places a secondary; `ignoreDisks` serves the failover away from an offline primary. */
export function addSecondary(
  t: NodeState,
  i: InstState,
  primary: number,
  force: boolean,
  ignoreDisks = false,
): NodeState | FailMode {
  const peer = peerAfter(t, i, primary);
  return secondaryRefusal(t, i, peer, force, ignoreDisks) ?? placeSecondary(cloneNode(t), i, primary, peer);
}

export function addSecondaryIn(
  n: NodeState,
  i: InstState,
  primary: number,
  force: boolean,
  ignoreDisks = false,
): NodeState | FailMode {
  const peer = peerAfter(n, i, primary);
  return secondaryRefusal(n, i, peer, force, ignoreDisks) ?? placeSecondary(n, i, primary, peer);
}

/** The memory `t` must keep for `primary`'s instances once `i` has its secondary there. */
function peerAfter(t: NodeState, i: InstState, primary: number): number {
  return t.peers.get(primary) + (usesSecMem(i) ? i.memoryMiB : 0);
}

/** Why `t` cannot take `i` as a secondary, `peer` being its memory for the primary's instances then, or null. */
function secondaryRefusal(
  t: NodeState,
  i: InstState,
  peer: number,
  force: boolean,
  ignoreDisks: boolean,
): FailMode | null {
  const strict = !force;
  if (i.forthcoming) return strict ? secondaryForthRefusal(t, i) : null;
  const neededMem = usesSecMem(i) ? i.memoryMiB : 0;
  const oldMem = unallocatedMem(t);
  const newDsk = t.fDsk - i.diskMiB;
  const newFailN1 = oldMem <= Math.max(t.rMem, peer);
  if (!hasSecondary(i)) return 'FailDisk';
  if (!ignoreDisks && newDsk <= 0) return 'FailDisk';
  if (strict && newDsk < t.loDsk) return 'FailDisk';
  if (t.exclusiveStorage && freeSpindlesAfter(t, t.fSpindles, i, true) < 0) return 'FailSpindles';
  if (strict && t.instSpindles + spindleDelta(t, i) > t.hiSpindles) return 'FailDisk';
  if (strict && neededMem >= oldMem) return 'FailMem';
  if (strict && newFailN1 && !t.failN1) return 'FailMem';
  return strict ? secondaryForthRefusal(t, i) : null;
}

/** The refusals that count forthcoming instances too. */
function secondaryForthRefusal(t: NodeState, i: InstState): FailMode | null {
  const newDskForth = t.fDskForth - i.diskMiB;
  if (!hasSecondary(i)) return 'FailDisk';
  if (newDskForth <= 0) return 'FailDisk';
  if (newDskForth < t.loDsk) return 'FailDisk';
  if (t.exclusiveStorage && freeSpindlesAfter(t, t.fSpindlesForth, i, true) < 0) return 'FailSpindles';
  if (t.instSpindlesForth + spindleDelta(t, i) > t.hiSpindles) return 'FailDisk';
  if ((usesSecMem(i) ? i.memoryMiB : 0) >= t.fMemForth) return 'FailMem';
  return null;
}

function placeSecondary(n: NodeState, i: InstState, primary: number, newPeer: number): NodeState {
  n.sCountForth++;
  n.fDskForth -= i.diskMiB;
  n.instSpindlesForth += spindleDelta(n, i);
  n.fSpindlesForth = freeSpindlesAfter(n, n.fSpindlesForth, i, true);
  if (i.forthcoming) return n;
  const oldMem = unallocatedMem(n);
  n.sCount++;
  n.lDsk += i.util.disk;
  n.fDsk -= i.diskMiB;
  n.peers = n.peers.with(primary, newPeer);
  n.rMem = Math.max(n.rMem, newPeer);
  n.failN1 = oldMem <= n.rMem;
  n.instSpindles += spindleDelta(n, i);
  n.fSpindles = freeSpindlesAfter(n, n.fSpindles, i, true);
  return n;
}

/** A migration may go only where the target accepts all of the source's migration tags. */
export function migrationAllowed(source: NodeState, target: NodeState): boolean {
  for (const tag of source.migTags) if (!target.recvMigTags.has(tag)) return false;
  return true;
}

export function isFailMode<T extends object>(result: T | FailMode): result is FailMode {
  return typeof result === 'string';
}

// Building the state from a snapshot.

const exclusionPrefix = 'htools:iextags:';
const locationPrefix = 'htools:nlocation:';
const desiredLocationPrefix = 'htools:desiredlocation:';
const migrationPrefix = 'htools:migration:';
const allowMigrationPrefix = 'htools:allowmigration:';

function prefixedValues(tags: readonly string[], prefix: string): string[] {
  return tags
    .filter((t) => t.startsWith(prefix) && t.length > prefix.length)
    .map((t) => t.slice(prefix.length));
}

/** Node tags `P:*` for every cluster tag `<prefix>P`. */
function tagsUnder(clusterTags: readonly string[], prefix: string, nodeTags: readonly string[]): Set<string> {
  const result = new Set<string>();
  for (const p of clusterTags.filter((t) => t.startsWith(prefix)).map((t) => t.slice(prefix.length))) {
    for (const tag of nodeTags) if (tag.startsWith(`${p}:`)) result.add(tag);
  }
  return result;
}

/** `htools:allowmigration:X::Y`: nodes tagged Y may receive as if tagged X. */
function receivableMigrationTags(clusterTags: readonly string[], migTags: ReadonlySet<string>): Set<string> {
  const rules: [string, string][] = [];
  for (const rule of prefixedValues(clusterTags, allowMigrationPrefix)) {
    const at = rule.indexOf('::');
    if (at >= 0 && !rule.slice(at + 2).includes('::')) rules.push([rule.slice(0, at), rule.slice(at + 2)]);
  }
  const result = new Set<string>();
  for (const tag of migTags) {
    result.add(tag);
    for (const [from, to] of rules) if (to === tag) result.add(from);
  }
  return result;
}

/** The templates htools' balancer may move at all (Instance.movableDiskTemplates): not plain, file nor diskless. */
const movableTemplates: ReadonlySet<DiskTemplate> = new Set([
  'drbd',
  'blockdev',
  'sharedfile',
  'gluster',
  'rbd',
  'ext',
]);

export interface LoadOptions {
  /** Extra exclusion-tag prefixes, like hbal's --exclusion-tags. */
  readonly exclusionTags?: readonly string[];
  /** Instances that must not move (hbal --exclude-instances). */
  readonly excludedInstances?: readonly string[];
  /** When given, only these instances may move (hbal --select-instances). */
  readonly selectedInstances?: readonly string[];
  /** Nodes to treat as offline (hbal -O). */
  readonly offlineNodes?: readonly string[];
  /** Minimum free disk ratio kept on every node (hbal --min-disk). */
  readonly minDiskRatio?: number;
  /** The virtual-to-physical CPU ratio every node may reach, in place of its group policy's (hbal --max-cpu). */
  readonly maxCpuRatio?: number;
  /** Measured instance loads by instance name (hbal -U); others weigh baseUtil. */
  readonly instanceUtil?: ReadonlyMap<string, DynUtil>;
  /** Every instance weighs nothing (hbal --ignore-dynu). */
  readonly ignoreDynUtil?: boolean;
}

export function buildState(snapshot: ClusterSnapshot, options: LoadOptions = {}): ClusterState {
  const groups = snapshot.groups.map((spec, idx) => ({ idx, spec }));
  const groupIndex = new Map(groups.map((g) => [g.spec.uuid as string, g.idx]));
  const nodeByName = new Map(snapshot.nodes.map((n, idx) => [n.name as string, idx]));
  const offlineExtra = new Set(options.offlineNodes ?? []);
  const nodes = snapshot.nodes.map((spec, idx) =>
    newNode(spec, idx, groupIndex, groups, snapshot.clusterTags, offlineExtra.has(spec.name), options),
  );
  const exclusionPrefixes = [
    ...(options.exclusionTags ?? []).map((t) => `${t}:`),
    ...prefixedValues(snapshot.clusterTags, exclusionPrefix),
  ];
  const desiredPrefixes = prefixedValues(snapshot.clusterTags, desiredLocationPrefix);
  const excluded = new Set(options.excludedInstances ?? []);
  const selected = options.selectedInstances ? new Set(options.selectedInstances) : null;
  const instances = snapshot.instances.map((spec, idx) => {
    const pNode = nodeByName.get(spec.primary) ?? noNode;
    const sNode = spec.secondary === null ? noNode : (nodeByName.get(spec.secondary) ?? noNode);
    const primary = nodes[pNode];
    const secondary = nodes[sNode];
    const split = secondary !== undefined && primary !== undefined && secondary.group !== primary.group;
    return newInstance(spec, idx, pNode, sNode, {
      exclTags: spec.tags.filter((tag) => exclusionPrefixes.some((p) => tag.startsWith(p))),
      desiredLocations: new Set(spec.tags.filter((tag) => desiredPrefixes.some((p) => tag.startsWith(p)))),
      locationScore: primary && secondary ? sharedLocations(primary, secondary) : 0,
      movable:
        movableTemplates.has(spec.diskTemplate) &&
        !excluded.has(spec.name) &&
        (selected === null || selected.has(spec.name)) &&
        !split,
      util: options.ignoreDynUtil ? zeroUtil : (options.instanceUtil?.get(spec.name) ?? baseUtil),
    });
  });
  for (const inst of instances) {
    const p = nodes[inst.pNode];
    if (p) loadPrimary(p, inst);
    const s = nodes[inst.sNode];
    if (s) loadSecondary(s, inst);
  }
  const iMem = nodes.map(() => 0);
  const peerMaps = nodes.map(() => new Map<number, number>());
  for (const inst of instances) {
    if (inst.forthcoming) continue;
    const s = peerMaps[inst.sNode];
    if (s) s.set(inst.pNode, (s.get(inst.pNode) ?? 0) + (usesSecMem(inst) ? inst.memoryMiB : 0));
    if (usesMemory(inst) && inst.pNode !== noNode)
      iMem[inst.pNode] = (iMem[inst.pNode] ?? 0) + inst.memoryMiB;
  }
  const withMemory = nodes.map((node) => {
    const peers = PeerTable.from(peerMaps[node.idx] ?? new Map());
    const rMem = peers.max();
    const used = iMem[node.idx] ?? 0;
    // htools judges the loaded state on reported free memory; later moves use its own records.
    const failN1 = node.fMem < rMem;
    return cloneNode({
      ...node,
      peers,
      rMem,
      failN1,
      iMem: used,
      xMem: Math.trunc(node.tMem) - node.nMem - used - node.fMem,
    });
  });
  return {
    groups,
    nodes: withMemory,
    instances,
    nodeByName,
    instanceByName: new Map(instances.map((i) => [i.name as string, i.idx])),
    clusterTags: snapshot.clusterTags,
    snapshot,
  };
}

export function sharedLocations(a: NodeState, b: NodeState): number {
  let shared = 0;
  for (const tag of a.locationTags) if (b.locationTags.has(tag)) shared++;
  return shared;
}

function newNode(
  spec: NodeSpec,
  idx: number,
  groupIndex: ReadonlyMap<string, number>,
  groups: readonly GroupState[],
  clusterTags: readonly string[],
  forcedOffline: boolean,
  options: LoadOptions,
): NodeState {
  const group = groupIndex.get(spec.group) ?? 0;
  const groupPolicy = groups[group]?.spec.policy;
  if (groupPolicy === undefined) throw new RangeError(`node ${spec.name} has no group`);
  const policy =
    options.maxCpuRatio === undefined ? groupPolicy : { ...groupPolicy, vcpuRatio: options.maxCpuRatio };
  const migTags = tagsUnder(clusterTags, migrationPrefix, spec.tags);
  return {
    idx,
    name: spec.name,
    group,
    offline: spec.offline || spec.drained || forcedOffline,
    master: spec.master,
    tags: spec.tags,
    policy,
    exclusiveStorage: spec.exclusiveStorage,
    tMem: spec.totalMemoryMiB,
    nMem: spec.nodeMemoryMiB,
    fMem: spec.freeMemoryMiB,
    iMem: 0,
    xMem: 0,
    fMemForth: spec.freeMemoryMiB,
    tDsk: spec.totalDiskMiB,
    fDsk: spec.freeDiskMiB,
    fDskForth: spec.freeDiskMiB,
    loDsk: Math.floor((options.minDiskRatio ?? 0) * spec.totalDiskMiB),
    tCpu: spec.totalCpus,
    cpuSpeed: spec.cpuSpeed,
    nCpu: spec.nodeCpus,
    uCpu: spec.nodeCpus,
    uCpuForth: spec.nodeCpus,
    tSpindles: spec.spindles,
    fSpindles: spec.freeSpindles,
    fSpindlesForth: spec.freeSpindles,
    instSpindles: 0,
    instSpindlesForth: 0,
    hiSpindles: policy.spindleRatio * spec.spindles,
    pCount: 0,
    sCount: 0,
    pCountForth: 0,
    sCountForth: 0,
    peers: PeerTable.from(new Map()),
    rMem: 0,
    failN1: true,
    pTags: new Map(),
    locationScore: 0,
    instanceMap: new Map(),
    locationTags: tagsUnder(clusterTags, locationPrefix, spec.tags),
    migTags,
    recvMigTags: receivableMigrationTags(clusterTags, migTags),
    lCpu: 0,
    lMem: 0,
    lDsk: 0,
    lNet: 0,
  };
}

interface DerivedInstanceFields {
  readonly exclTags: readonly string[];
  readonly desiredLocations: ReadonlySet<string>;
  readonly locationScore: number;
  readonly movable: boolean;
  readonly util: DynUtil;
}

export function newInstance(
  spec: InstanceSpec,
  idx: number,
  pNode: number,
  sNode: number,
  derived: DerivedInstanceFields,
): InstState {
  const spindles = spec.diskSpindles.every((s) => s !== null)
    ? spec.diskSpindles.reduce<number>((sum, s) => sum + (s ?? 0), 0)
    : null;
  return {
    idx,
    name: spec.name,
    memoryMiB: spec.memoryMiB,
    diskMiB: spec.diskSpaceMiB,
    disksMiB: spec.disksMiB,
    totalSpindles: spindles,
    vcpus: spec.vcpus,
    status: spec.status,
    autoBalance: spec.autoBalance,
    pNode,
    sNode,
    template: spec.diskTemplate,
    spindleUse: spec.spindleUse,
    forthcoming: spec.forthcoming,
    tags: spec.tags,
    nicCount: spec.nicCount,
    ...derived,
  };
}

/** The fields a made-up instance (hspace's and hsqueeze's probes) chooses; the rest are those of a new one. */
export type ProbeFields = Pick<
  InstState,
  | 'name'
  | 'memoryMiB'
  | 'diskMiB'
  | 'disksMiB'
  | 'totalSpindles'
  | 'vcpus'
  | 'autoBalance'
  | 'template'
  | 'spindleUse'
>;

/** An instance that exists only in a calculation: running, unplaced, untagged, unmeasured (htools' Instance.create). */
export function probeInstance(fields: ProbeFields): InstState {
  return {
    idx: -1,
    status: 'running',
    pNode: noNode,
    sNode: noNode,
    forthcoming: false,
    tags: [],
    nicCount: 0,
    exclTags: [],
    desiredLocations: new Set(),
    locationScore: 0,
    movable: true,
    util: baseUtil,
    ...fields,
  };
}

/** Indices of the nodes of one group. */
export function groupNodes(state: ClusterState, group: number): number[] {
  return state.nodes.filter((n) => n.group === group).map((n) => n.idx);
}

/** Groups with nodes, in group order, as htools splits a cluster. */
export function usedGroups(state: ClusterState): number[] {
  return state.groups.map((g) => g.idx).filter((g) => state.nodes.some((n) => n.group === g));
}

/**
 * The snapshot a simulated state describes: instances on their new nodes, free memory and
 * disk as the nodes would report them after the moves (the unaccounted memory carried over).
 */
export function toSnapshot(state: ClusterState): ClusterSnapshot {
  const original = buildState(state.snapshot);
  const nodes = state.snapshot.nodes.map((spec, idx) => {
    const now = state.nodes[idx];
    const before = original.nodes[idx];
    if (now === undefined || before === undefined) return spec;
    return {
      ...spec,
      // Nodes set offline by the run (-O, hsqueeze) are saved offline, as htools saves them.
      offline: now.offline,
      freeMemoryMiB: spec.freeMemoryMiB - (now.iMem - before.iMem),
      freeDiskMiB: now.fDsk,
      freeSpindles: now.fSpindles,
    };
  });
  const instances = state.instances.map((inst, idx) => {
    const spec = state.snapshot.instances[idx];
    const primary = state.nodes[inst.pNode]?.name;
    const secondary = inst.sNode === noNode ? null : (state.nodes[inst.sNode]?.name ?? null);
    if (spec === undefined || primary === undefined)
      throw new RangeError(`instance ${inst.name} has no primary`);
    return { ...spec, primary, secondary };
  });
  return { ...state.snapshot, nodes, instances };
}
