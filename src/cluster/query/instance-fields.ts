import { instanceStatus, type NodeReport, nodeReport } from '../instance-status.js';
import type { BeParams } from '../model.js';
import type { InstanceRow, LiveStatus, RowContext } from './rows.js';
import { type FieldDefinition, NO_DATA, UNAVAILABLE } from './types.js';

/**
 * Ganeti's instance fields (`gnt-instance list -o`, RAPI's /2/instances bulk dicts and /2/query/instance),
 * with Ganeti's names, titles, kinds and docs, plus Corral's last_move. status, oper_state, oper_ram and
 * oper_vcpus read the nodes' live status; everything else comes from the configuration.
 */

type Field = FieldDefinition<InstanceRow>;

const seconds = (ms: number) => ms / 1000;
const nodeName = (ctx: RowContext, uuid: string) => ctx.nodesByUuid.get(uuid)?.name ?? uuid;

/** Ganeti's ordinals in per-index docs: 1st, 2nd, 3rd, 4th … 11th, 12th, 13th … */
export function ordinal(n: number): string {
  const tens = n % 100;
  if (tens >= 11 && tens <= 13) return `${n}th`;
  return `${n}${['th', 'st', 'nd', 'rd'][n % 10] ?? 'th'}`;
}

function be(row: InstanceRow): BeParams {
  return { ...row.ctx.config.cluster.beParams, ...row.instance.beParams };
}

const beKeys = {
  always_failover: 'alwaysFailover',
  auto_balance: 'autoBalance',
  maxmem: 'maxmemMiB',
  minmem: 'minmemMiB',
  spindle_use: 'spindleUse',
  vcpus: 'vcpus',
} as const satisfies Record<string, keyof BeParams>;

/** Backend parameters under Ganeti's names, only those `params` holds. */
export function ganetiBeParams(params: Partial<BeParams>): Record<string, number | boolean> {
  const out: Record<string, number | boolean> = {};
  for (const [ganeti, corral] of Object.entries(beKeys)) {
    const value = params[corral];
    if (value !== undefined) out[ganeti] = value;
  }
  return out;
}

/** The nodes' reports by name, computed once per query. */
const reportCache = new WeakMap<RowContext, Map<string, NodeReport>>();
function reports(ctx: RowContext): Map<string, NodeReport> {
  let cached = reportCache.get(ctx);
  if (cached === undefined) {
    cached = new Map([...(ctx.live?.values() ?? [])].map((n) => [n.name, nodeReport(n.status?.instances)]));
    reportCache.set(ctx, cached);
  }
  return cached;
}

/** The primary's live answer, or why there is none: not asked, offline (never asked), or silent. */
function primaryLive(row: InstanceRow): LiveStatus | 'no-data' | 'offline' {
  const { ctx, instance } = row;
  if (ctx.live === undefined) return 'no-data';
  const primary = ctx.nodesByUuid.get(instance.primaryNode);
  if (primary?.offline) return 'offline';
  return (primary && ctx.live.get(primary.name)?.status) ?? 'no-data';
}

function status(row: InstanceRow): unknown {
  const { ctx, instance } = row;
  if (ctx.live === undefined) return NO_DATA;
  const primary = ctx.nodesByUuid.get(instance.primaryNode);
  if (primary === undefined) return UNAVAILABLE;
  return instanceStatus({ ...instance, primary }, reports(ctx));
}

/** Ganeti: whether the hypervisor runs the instance anywhere; unknown while its primary does not answer. */
function operState(row: InstanceRow): unknown {
  if (primaryLive(row) === 'no-data') return NO_DATA;
  for (const report of reports(row.ctx).values())
    if (report.reachable && report.running.has(row.instance.name)) return true;
  return false;
}

/** A figure the hypervisor reports of the running instance: unknown while its primary cannot be asked. */
function liveFigure(pick: (entry: LiveStatus['instances'][number]) => number) {
  return (row: InstanceRow): unknown => {
    const live = primaryLive(row);
    if (live === 'no-data' || live === 'offline') return NO_DATA;
    const name = row.instance.name;
    const entry =
      live.instances.find((i) => i.name === name) ??
      [...(row.ctx.live?.values() ?? [])]
        .flatMap((n) => n.status?.instances ?? [])
        .find((i) => i.name === name);
    return entry === undefined ? UNAVAILABLE : pick(entry);
  };
}

const bridge = (nic: { mode: string; link: string }) => (nic.mode === 'bridged' ? nic.link : null);

const STATUS_DOC =
  'Instance status; "running" if instance is set to be running and actually is, "ADMIN_down" if instance is stopped and is not running, "ERROR_wrongnode" if instance running, but not on its designated primary node, "ERROR_up" if instance should be stopped, but is actually running, "ERROR_down" if instance should run, but doesn\'t, "ERROR_nodedown" if instance\'s primary node is down, "ERROR_nodeoffline" if instance\'s primary node is marked offline, "ADMIN_offline" if instance is offline and does not use dynamic resources';

const beField = (
  name: string,
  key: keyof BeParams,
  title: string,
  kind: 'bool' | 'unit' | 'number',
  param = name,
): Field => ({
  name: `be/${name}`,
  title,
  kind,
  doc: `The "${param}" backend parameter`,
  get: (r) => be(r)[key],
});

/** One field per disk index, as Ganeti has them (disk.size/0 … disk.size/15). */
function perDisk(
  field: string,
  title: string,
  kind: 'unit' | 'text' | 'number',
  doc: string,
  get: (disk: InstanceRow['instance']['disks'][number]) => unknown,
): Field[] {
  return Array.from({ length: 16 }, (_, n) => ({
    name: `disk.${field}/${n}`,
    title: `${title}/${n}`,
    kind,
    doc: `${doc} of ${ordinal(n + 1)} disk`,
    get: (r: InstanceRow) => {
      const disk = r.instance.disks[n];
      return disk === undefined ? UNAVAILABLE : get(disk);
    },
  }));
}

type Nic = InstanceRow['instance']['nics'][number];

/** One field per NIC index (nic.mac/0 … nic.mac/7). */
function perNic(field: string, title: string, doc: string, get: (nic: Nic) => unknown): Field[] {
  return Array.from({ length: 8 }, (_, n) => ({
    name: `nic.${field}/${n}`,
    title: `${title}/${n}`,
    kind: 'text',
    doc: `${doc} of ${ordinal(n + 1)} network interface`,
    get: (r: InstanceRow) => {
      const nic = r.instance.nics[n];
      if (nic === undefined) return UNAVAILABLE;
      const value = get(nic);
      return value === undefined ? UNAVAILABLE : value;
    },
  }));
}

/** The legacy first-NIC fields (ip, mac, bridge, nic_mode, nic_link, nic_network). */
function firstNic(name: string, title: string, doc: string, get: (nic: Nic) => unknown): Field {
  return {
    name,
    title: `${title}/0`,
    kind: 'text',
    doc: `${doc} of 1st network interface`,
    get: (r) => {
      const nic = r.instance.nics[0];
      if (nic === undefined) return UNAVAILABLE;
      const value = get(nic);
      return value === undefined ? UNAVAILABLE : value;
    },
  };
}

export const instanceFields: readonly Field[] = [
  { name: 'name', title: 'Instance', kind: 'text', doc: 'Instance name', get: (r) => r.instance.name },
  { name: 'uuid', title: 'UUID', kind: 'text', doc: 'Instance UUID', get: (r) => r.instance.uuid },
  { name: 'os', title: 'OS', kind: 'text', doc: 'Operating system', get: (r) => r.instance.os },
  {
    name: 'hypervisor',
    title: 'Hypervisor',
    kind: 'text',
    doc: 'Hypervisor name',
    get: (r) => r.instance.hypervisor,
  },
  {
    name: 'pnode',
    title: 'Primary_node',
    kind: 'text',
    doc: 'Primary node',
    get: (r) => nodeName(r.ctx, r.instance.primaryNode),
  },
  {
    name: 'pnode.group',
    title: 'PrimaryNodeGroup',
    kind: 'text',
    doc: "Primary node's group",
    get: (r) => {
      const group = r.ctx.nodesByUuid.get(r.instance.primaryNode)?.group;
      return (group && r.ctx.groupsByUuid.get(group)?.name) ?? UNAVAILABLE;
    },
  },
  {
    name: 'pnode.group.uuid',
    title: 'PrimaryNodeGroupUUID',
    kind: 'text',
    doc: "Primary node's group UUID",
    get: (r) => r.ctx.nodesByUuid.get(r.instance.primaryNode)?.group ?? UNAVAILABLE,
  },
  {
    name: 'snodes',
    title: 'Secondary_Nodes',
    kind: 'other',
    doc: 'Secondary nodes; usually this will just be one node',
    get: (r) => r.instance.secondaryNodes.map((uuid) => nodeName(r.ctx, uuid)),
  },
  {
    name: 'snodes.group',
    title: 'SecondaryNodesGroups',
    kind: 'other',
    doc: 'Node groups of secondary nodes',
    get: (r) =>
      r.instance.secondaryNodes.map((uuid) => {
        const group = r.ctx.nodesByUuid.get(uuid)?.group;
        return (group && r.ctx.groupsByUuid.get(group)?.name) ?? null;
      }),
  },
  {
    name: 'snodes.group.uuid',
    title: 'SecondaryNodesGroupsUUID',
    kind: 'other',
    doc: 'Node group UUIDs of secondary nodes',
    get: (r) => r.instance.secondaryNodes.map((uuid) => r.ctx.nodesByUuid.get(uuid)?.group ?? null),
  },
  {
    name: 'disk_template',
    title: 'Disk_template',
    kind: 'text',
    doc: 'Instance disk template',
    get: (r) => r.instance.diskTemplate,
  },
  { name: 'status', title: 'Status', kind: 'text', doc: STATUS_DOC, needsLive: true, get: status },
  {
    name: 'admin_state',
    title: 'InstanceState',
    kind: 'text',
    doc: 'Desired state of instance',
    get: (r) => r.instance.adminState,
  },
  {
    name: 'admin_state_source',
    title: 'InstanceStateSource',
    kind: 'text',
    doc: 'Who last changed the desired state of the instance',
    get: (r) => r.instance.adminStateSource,
  },
  {
    name: 'admin_up',
    title: 'Autostart',
    kind: 'bool',
    doc: 'Desired state of instance',
    get: (r) => r.instance.adminState === 'up',
  },
  {
    name: 'oper_state',
    title: 'Running',
    kind: 'bool',
    doc: 'Actual state of instance',
    needsLive: true,
    get: operState,
  },
  {
    name: 'oper_ram',
    title: 'Memory',
    kind: 'unit',
    doc: 'Actual memory usage as seen by hypervisor',
    needsLive: true,
    get: liveFigure((entry) => entry.memoryMiB),
  },
  {
    name: 'oper_vcpus',
    title: 'VCPUs',
    kind: 'number',
    doc: 'Actual number of VCPUs as seen by hypervisor',
    needsLive: true,
    get: liveFigure((entry) => entry.vcpus),
  },
  {
    name: 'disks_active',
    title: 'DisksActive',
    kind: 'bool',
    doc: 'Desired state of instance disks',
    get: (r) => r.instance.disksActive,
  },
  {
    name: 'forthcoming',
    title: 'Forthcoming',
    kind: 'bool',
    doc: 'whether the Instance is forthcoming',
    // Corral has no reserved-only instances: every instance is real.
    get: () => false,
  },
  {
    name: 'console',
    title: 'Console',
    kind: 'other',
    doc: 'Instance console information',
    // The console is a socket on the primary node that `instance console` finds; the query has nothing to show.
    get: () => UNAVAILABLE,
  },
  {
    name: 'network_port',
    title: 'Network_port',
    kind: 'other',
    doc: 'Instance network port if available (e.g. for VNC console)',
    get: () => null,
  },
  {
    name: 'vcpus',
    title: 'ConfigVCPUs',
    kind: 'number',
    doc: 'The "vcpus" backend parameter',
    get: (r) => be(r).vcpus,
  },
  beField('always_failover', 'alwaysFailover', 'be/always_failover', 'bool'),
  beField('auto_balance', 'autoBalance', 'Auto_balance', 'bool'),
  beField('maxmem', 'maxmemMiB', 'ConfigMaxMem', 'unit'),
  beField('memory', 'maxmemMiB', 'ConfigMaxMem', 'unit', 'maxmem'),
  beField('minmem', 'minmemMiB', 'ConfigMinMem', 'unit'),
  beField('spindle_use', 'spindleUse', 'be/spindle_use', 'number'),
  beField('vcpus', 'vcpus', 'ConfigVCPUs', 'number'),
  {
    name: 'beparams',
    title: 'BackendParameters',
    kind: 'other',
    doc: 'Backend parameters (merged)',
    get: (r) => ganetiBeParams(be(r)),
  },
  {
    name: 'custom_beparams',
    title: 'CustomBackendParameters',
    kind: 'other',
    doc: 'Custom backend parameters',
    get: (r) => ganetiBeParams(r.instance.beParams),
  },
  {
    name: 'hvparams',
    title: 'HypervisorParameters',
    kind: 'other',
    doc: 'Hypervisor parameters (merged)',
    // The hypervisors' own defaults live with the node agents; the configuration holds what the instance sets.
    get: (r) => ({ ...r.instance.hvParams }),
  },
  {
    name: 'custom_hvparams',
    title: 'CustomHypervisorParameters',
    kind: 'other',
    doc: 'Custom hypervisor parameters',
    get: (r) => ({ ...r.instance.hvParams }),
  },
  {
    name: 'osparams',
    title: 'OpSysParameters',
    kind: 'other',
    doc: 'Operating system parameters (merged)',
    get: (r) => ({ ...r.instance.osParams }),
  },
  {
    name: 'custom_osparams',
    title: 'CustomOpSysParameters',
    kind: 'other',
    doc: 'Custom operating system parameters',
    get: (r) => ({ ...r.instance.osParams }),
  },
  {
    name: 'custom_nicparams',
    title: 'CustomNicParameters',
    kind: 'other',
    doc: 'Custom network interface parameters',
    get: (r) => r.instance.nics.map((nic) => ({ mode: nic.mode, link: nic.link })),
  },
  {
    name: 'disk.count',
    title: 'Disks',
    kind: 'number',
    doc: 'Number of disks',
    get: (r) => r.instance.disks.length,
  },
  {
    name: 'disk.sizes',
    title: 'Disk_sizes',
    kind: 'other',
    doc: 'List of disk sizes',
    get: (r) => r.instance.disks.map((d) => d.sizeMiB),
  },
  {
    name: 'disk.spindles',
    title: 'Disk_spindles',
    kind: 'other',
    doc: 'List of disk spindles',
    // Spindles count only under exclusive storage, which Corral does not have.
    get: (r) => r.instance.disks.map(() => null),
  },
  {
    name: 'disk.names',
    title: 'Disk_names',
    kind: 'other',
    doc: 'List of disk names',
    get: (r) => r.instance.disks.map((d) => d.name ?? null),
  },
  {
    name: 'disk.uuids',
    title: 'Disk_UUIDs',
    kind: 'other',
    doc: 'List of disk UUIDs',
    get: (r) => r.instance.disks.map((d) => d.uuid),
  },
  {
    name: 'disk_usage',
    title: 'DiskUsage',
    kind: 'unit',
    doc: 'Total disk space used by instance on each of its nodes; this is not the disk size visible to the instance, but the usage on the node',
    get: (r) => r.instance.disks.reduce((sum, d) => sum + d.sizeMiB, 0),
  },
  ...perDisk('size', 'Disk', 'unit', 'Disk size', (d) => d.sizeMiB),
  ...perDisk('spindles', 'DiskSpindles', 'number', 'Spindles', () => null),
  ...perDisk('name', 'DiskName', 'text', 'Name', (d) => d.name ?? null),
  ...perDisk('uuid', 'DiskUUID', 'text', 'UUID', (d) => d.uuid),
  {
    name: 'sda_size',
    title: 'Disk/0',
    kind: 'unit',
    doc: 'Disk size of 1st disk',
    get: (r) => r.instance.disks[0]?.sizeMiB ?? UNAVAILABLE,
  },
  {
    name: 'sdb_size',
    title: 'Disk/1',
    kind: 'unit',
    doc: 'Disk size of 2nd disk',
    get: (r) => r.instance.disks[1]?.sizeMiB ?? UNAVAILABLE,
  },
  {
    name: 'nic.count',
    title: 'NICs',
    kind: 'number',
    doc: 'Number of network interfaces',
    get: (r) => r.instance.nics.length,
  },
  {
    name: 'nic.macs',
    title: 'NIC_MACs',
    kind: 'other',
    doc: "List containing each network interface's MAC address",
    get: (r) => r.instance.nics.map((n) => n.mac),
  },
  {
    name: 'nic.ips',
    title: 'NIC_IPs',
    kind: 'other',
    doc: "List containing each network interface's IP address",
    get: (r) => r.instance.nics.map((n) => n.ip ?? null),
  },
  {
    name: 'nic.modes',
    title: 'NIC_modes',
    kind: 'other',
    doc: "List containing each network interface's mode",
    get: (r) => r.instance.nics.map((n) => n.mode),
  },
  {
    name: 'nic.links',
    title: 'NIC_links',
    kind: 'other',
    doc: "List containing each network interface's link",
    get: (r) => r.instance.nics.map((n) => n.link),
  },
  {
    name: 'nic.bridges',
    title: 'NIC_bridges',
    kind: 'other',
    doc: "List containing each network interface's bridge",
    get: (r) => r.instance.nics.map(bridge),
  },
  {
    name: 'nic.vlans',
    title: 'NIC_VLANs',
    kind: 'other',
    doc: "List containing each network interface's VLAN",
    // Corral's NICs have no VLAN: Ganeti's empty default.
    get: (r) => r.instance.nics.map(() => ''),
  },
  {
    name: 'nic.names',
    title: 'NIC_Names',
    kind: 'other',
    doc: "List containing each network interface's name",
    get: (r) => r.instance.nics.map((n) => n.name ?? null),
  },
  {
    name: 'nic.uuids',
    title: 'NIC_UUIDs',
    kind: 'other',
    doc: "List containing each network interface's UUID",
    get: (r) => r.instance.nics.map((n) => n.uuid),
  },
  {
    name: 'nic.networks',
    title: 'NIC_networks',
    kind: 'other',
    doc: "List containing each interface's network",
    // Corral has no Ganeti networks: no NIC is in one.
    get: (r) => r.instance.nics.map(() => null),
  },
  {
    name: 'nic.networks.names',
    title: 'NIC_networks_names',
    kind: 'other',
    doc: "List containing the name of each interface's network",
    get: (r) => r.instance.nics.map(() => null),
  },
  ...perNic('mac', 'NicMAC', 'MAC address', (n) => n.mac),
  ...perNic('ip', 'NicIP', 'IP address', (n) => n.ip ?? null),
  ...perNic('mode', 'NicMode', 'Mode', (n) => n.mode),
  ...perNic('link', 'NicLink', 'Link', (n) => n.link),
  ...perNic('bridge', 'NicBridge', 'Bridge', (n) => bridge(n) ?? undefined),
  ...perNic('vlan', 'NicVLAN', 'VLAN', () => ''),
  ...perNic('name', 'NicName', 'Name address', (n) => n.name ?? null),
  ...perNic('uuid', 'NicUUID', 'UUID address', (n) => n.uuid),
  ...perNic('network', 'NicNetwork', 'Network', () => null),
  ...perNic('network.name', 'NicNetworkName', 'Network name', () => null),
  firstNic('mac', 'NicMAC', 'MAC address', (n) => n.mac),
  firstNic('ip', 'NicIP', 'IP address', (n) => n.ip ?? null),
  firstNic('bridge', 'NicBridge', 'Bridge', (n) => bridge(n) ?? undefined),
  firstNic('nic_mode', 'NicMode', 'Mode', (n) => n.mode),
  firstNic('nic_link', 'NicLink', 'Link', (n) => n.link),
  firstNic('nic_network', 'NicNetwork', 'Network', () => null),
  { name: 'tags', title: 'Tags', kind: 'other', doc: 'Tags', get: (r) => [...r.instance.tags] },
  {
    name: 'ctime',
    title: 'CTime',
    kind: 'timestamp',
    doc: 'Creation timestamp',
    get: (r) => seconds(r.instance.ctimeMs),
  },
  {
    name: 'mtime',
    title: 'MTime',
    kind: 'timestamp',
    doc: 'Modification timestamp',
    get: (r) => seconds(r.instance.mtimeMs),
  },
  {
    name: 'serial_no',
    title: 'SerialNo',
    kind: 'number',
    doc: 'Instance object serial number, incremented on each modification',
    get: (r) => r.instance.serial,
  },
  {
    name: 'last_move',
    title: 'LastMove',
    kind: 'other',
    doc: 'The last failover, migration or move of the instance, from the job records: job, time (seconds), how and why (Corral)',
    needs: 'jobs',
    get: (r) => {
      if (r.ctx.lastMoves === undefined) return NO_DATA;
      const move = r.ctx.lastMoves.get(r.instance.name);
      if (move === undefined) return NO_DATA;
      return {
        job: move.job,
        time: seconds(move.atMs),
        how: move.how,
        ...(move.why !== undefined && { why: move.why }),
      };
    },
  },
];
