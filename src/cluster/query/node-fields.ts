import { NODE_OS_CPUS, type NodeRole } from '../model.js';
import { filledNdParams } from '../ndparams.js';
import type { LiveStatus, NodeRow, RowContext } from './rows.js';
import { niceCompare } from './rows.js';
import { type FieldDefinition, NO_DATA, OFFLINE, UNAVAILABLE } from './types.js';

/**
 * Ganeti's node fields (`gnt-node list -o`, RAPI's /2/nodes bulk dicts, /2/query/node), plus Corral's peer_id
 * and what gossip observes (observed, last_heard, status). The live ones ask the nodes: an offline node is
 * never asked (status 4), a silent one has no data (status 2), and figures Corral's agents do not report
 * (NUMA nodes, sockets, spindles, boot ID) are unavailable (status 3).
 */

type Field = FieldDefinition<NodeRow>;

/** The node's filled node parameters (Ganeti's FillND): the cluster's, its group's, its own. */
function nodeNdParams(r: NodeRow) {
  return filledNdParams(r.ctx.config.cluster, r.ctx.groupsByUuid.get(r.node.group), r.node);
}

const seconds = (ms: number) => ms / 1000;

/** Each node's primary and secondary instances, by node UUID, computed once per query. */
const placementCache = new WeakMap<RowContext, Map<string, { primary: string[]; secondary: string[] }>>();
function placement(row: NodeRow): { primary: string[]; secondary: string[] } {
  let cached = placementCache.get(row.ctx);
  if (cached === undefined) {
    cached = new Map();
    const entry = (uuid: string) => {
      let lists = cached!.get(uuid);
      if (lists === undefined) {
        lists = { primary: [], secondary: [] };
        cached!.set(uuid, lists);
      }
      return lists;
    };
    for (const instance of row.ctx.config.instances) {
      entry(instance.primaryNode).primary.push(instance.name);
      for (const uuid of instance.secondaryNodes) entry(uuid).secondary.push(instance.name);
    }
    for (const lists of cached.values()) {
      lists.primary.sort(niceCompare);
      lists.secondary.sort(niceCompare);
    }
    placementCache.set(row.ctx, cached);
  }
  return cached.get(row.node.uuid) ?? { primary: [], secondary: [] };
}

/** A live figure: the node offline is never asked; a node that did not answer has no data. */
function live(pick: (status: LiveStatus, row: NodeRow) => number | undefined) {
  return (row: NodeRow): unknown => {
    if (row.node.offline) return OFFLINE;
    const status = row.ctx.live?.get(row.node.name)?.status;
    if (status === undefined) return NO_DATA;
    return pick(status, row) ?? UNAVAILABLE;
  };
}

/** dtotal and dfree are the storage of the cluster's default disk template, as Ganeti reports them (0 if none). */
const defaultStorage = (status: LiveStatus, row: NodeRow) =>
  status.storage.find((s) => s.template === row.ctx.config.cluster.enabledDiskTemplates[0]);

/** Ganeti's precedence: master, candidate, drained, offline, else regular. */
function role({ node, ctx }: NodeRow): NodeRole {
  if (node.name === ctx.masterName) return 'M';
  if (node.masterCandidate) return 'C';
  if (node.drained) return 'D';
  if (node.offline) return 'O';
  return 'R';
}

const observed = (row: NodeRow) => row.ctx.observed?.get(row.node.id);

const liveField = (
  name: string,
  title: string,
  kind: 'unit' | 'number' | 'text',
  doc: string,
  pick: (status: LiveStatus, row: NodeRow) => number | undefined,
): Field => ({ name, title, kind, doc, needsLive: true, get: live(pick) });

const flag = (
  name: string,
  title: string,
  doc: string,
  key: 'drained' | 'masterCandidate' | 'masterCapable' | 'offline' | 'vmCapable',
): Field => ({ name, title, kind: 'bool', doc, get: (r) => r.node[key] });

export const nodeFields: readonly Field[] = [
  { name: 'name', title: 'Node', kind: 'text', doc: 'Node name', get: (r) => r.node.name },
  { name: 'uuid', title: 'UUID', kind: 'text', doc: 'Node UUID', get: (r) => r.node.uuid },
  {
    name: 'peer_id',
    title: 'PeerID',
    kind: 'text',
    doc: "The node's libp2p peer ID, who it is on the wire (Corral)",
    get: (r) => r.node.id,
  },
  { name: 'pip', title: 'PrimaryIP', kind: 'text', doc: 'Primary IP address', get: (r) => r.node.primaryIp },
  {
    name: 'sip',
    title: 'SecondaryIP',
    kind: 'text',
    doc: 'Secondary IP address',
    get: (r) => r.node.secondaryIp,
  },
  {
    name: 'master',
    title: 'IsMaster',
    kind: 'bool',
    doc: 'Whether node is master',
    get: (r) => r.node.name === r.ctx.masterName,
  },
  flag('master_candidate', 'MasterC', 'Whether node is a master candidate', 'masterCandidate'),
  flag('master_capable', 'MasterCapable', 'Whether node can become a master candidate', 'masterCapable'),
  flag('vm_capable', 'VMCapable', 'Whether node can host instances', 'vmCapable'),
  flag('drained', 'Drained', 'Whether node is drained', 'drained'),
  flag('offline', 'Offline', 'Whether node is marked offline', 'offline'),
  {
    name: 'role',
    title: 'Role',
    kind: 'text',
    doc: 'Node role; "M" for master, "C" for master candidate, "R" for regular, "D" for drained, "O" for offline',
    get: (r) => role(r),
  },
  {
    name: 'group',
    title: 'Group',
    kind: 'text',
    doc: 'Node group',
    get: (r) => r.ctx.groupsByUuid.get(r.node.group)?.name ?? UNAVAILABLE,
  },
  {
    name: 'group.uuid',
    title: 'GroupUUID',
    kind: 'text',
    doc: 'UUID of node group',
    get: (r) => r.node.group,
  },
  {
    name: 'pinst_cnt',
    title: 'Pinst',
    kind: 'number',
    doc: 'Number of instances with this node as primary',
    get: (r) => placement(r).primary.length,
  },
  {
    name: 'sinst_cnt',
    title: 'Sinst',
    kind: 'number',
    doc: 'Number of instances with this node as secondary',
    get: (r) => placement(r).secondary.length,
  },
  {
    name: 'pinst_list',
    title: 'PriInstances',
    kind: 'other',
    doc: 'List of instances with this node as primary',
    get: (r) => [...placement(r).primary],
  },
  {
    name: 'sinst_list',
    title: 'SecInstances',
    kind: 'other',
    doc: 'List of instances with this node as secondary',
    get: (r) => [...placement(r).secondary],
  },
  {
    name: 'ndparams',
    title: 'NodeParameters',
    kind: 'other',
    doc: 'Merged node parameters',
    get: nodeNdParams,
  },
  {
    name: 'custom_ndparams',
    title: 'CustomNodeParameters',
    kind: 'other',
    doc: 'Custom node parameters',
    get: (r) => ({ ...r.node.ndParams }),
  },
  { name: 'hv_state', title: 'HypervisorState', kind: 'other', doc: 'Hypervisor state', get: () => ({}) },
  { name: 'disk_state', title: 'DiskState', kind: 'other', doc: 'Disk state', get: () => ({}) },
  {
    name: 'powered',
    title: 'Powered',
    kind: 'bool',
    doc: 'Whether node is thought to be powered on',
    // Ganeti records it only for a node with an out-of-band program (power on and off set it).
    get: (r) => (nodeNdParams(r).oob_program === '' ? UNAVAILABLE : (r.node.powered ?? true)),
  },
  { name: 'tags', title: 'Tags', kind: 'other', doc: 'Tags', get: (r) => [...r.node.tags] },
  {
    name: 'ctime',
    title: 'CTime',
    kind: 'timestamp',
    doc: 'Creation timestamp',
    get: (r) => seconds(r.node.ctimeMs),
  },
  {
    name: 'mtime',
    title: 'MTime',
    kind: 'timestamp',
    doc: 'Modification timestamp',
    get: (r) => seconds(r.node.mtimeMs),
  },
  {
    name: 'serial_no',
    title: 'SerialNo',
    kind: 'number',
    doc: 'Node object serial number, incremented on each modification',
    get: (r) => r.node.serial,
  },
  liveField(
    'dtotal',
    'DTotal',
    'unit',
    'Total storage space in storage unit used for instance disk allocation',
    (s, r) => defaultStorage(s, r)?.totalMiB ?? 0,
  ),
  liveField(
    'dfree',
    'DFree',
    'unit',
    'Available storage space in storage unit',
    (s, r) => defaultStorage(s, r)?.freeMiB ?? 0,
  ),
  liveField(
    'mtotal',
    'MTotal',
    'unit',
    'Total amount of memory of physical machine',
    (s) => s.memoryTotalMiB,
  ),
  liveField(
    'mnode',
    'MNode',
    'unit',
    'Amount of memory used by node (dom0 for Xen)',
    (s) => s.memoryTotalMiB - s.memoryFreeMiB - s.memoryInstancesMiB,
  ),
  liveField('mfree', 'MFree', 'unit', 'Memory available for instance allocations', (s) => s.memoryFreeMiB),
  liveField('ctotal', 'CTotal', 'number', 'Number of logical processors', (s) => s.cpus),
  liveField(
    'cnos',
    'CNOs',
    'number',
    'Number of logical processors used by the node OS (dom0 for Xen)',
    () => NODE_OS_CPUS,
  ),
  liveField(
    'cnodes',
    'CNodes',
    'number',
    'Number of NUMA domains on node (if exported by hypervisor)',
    (s) => s.numaNodes,
  ),
  liveField(
    'csockets',
    'CSockets',
    'number',
    'Number of physical CPU sockets (if exported by hypervisor)',
    (s) => s.cpuSockets,
  ),
  liveField(
    'sptotal',
    'SpTotal',
    'number',
    'Total spindles in volume group (exclusive storage only)',
    () => undefined,
  ),
  liveField(
    'spfree',
    'SpFree',
    'number',
    'Available spindles in volume group (exclusive storage only)',
    () => undefined,
  ),
  liveField(
    'bootid',
    'BootID',
    'text',
    'Random UUID renewed for each system reboot, can be used for detecting reboots by tracking changes',
    () => undefined,
  ),
  {
    name: 'observed',
    title: 'Observed',
    kind: 'text',
    doc: "The node's state as this node's gossip observes it: alive, suspect, dead or left (Corral)",
    needs: 'observed',
    get: (r) => observed(r)?.state ?? NO_DATA,
  },
  {
    name: 'last_heard',
    title: 'LastHeard',
    kind: 'other',
    doc: 'Since when gossip last heard from the node first-hand: ageMs (null if never) and whether that is stale (Corral)',
    needs: 'observed',
    get: (r) => {
      const seen = observed(r);
      if (seen === undefined) return NO_DATA;
      return { ageMs: seen.lastHeardAgeMs ?? null, stale: seen.stale };
    },
  },
  {
    name: 'status',
    title: 'Status',
    kind: 'text',
    doc: 'The admin state from the configuration (online, drained, offline) and what gossip observes, e.g. online/alive; ? when gossip has no word (Corral)',
    needs: 'observed',
    get: (r) => {
      const admin = r.node.offline ? 'offline' : r.node.drained ? 'drained' : 'online';
      return `${admin}/${observed(r)?.state ?? '?'}`;
    },
  },
];
