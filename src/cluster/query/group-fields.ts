import { groupTemplates } from '../model.js';
import { filledNdParams } from '../ndparams.js';
import type { GroupRow, RowContext } from './rows.js';
import { niceCompare } from './rows.js';
import type { FieldDefinition } from './types.js';

/**
 * Ganeti's node group fields (`gnt-group list -o`, RAPI's /2/groups bulk dicts, /2/query/group). Corral's
 * instance policy is the disk templates a group allows; it has no ispecs or disk parameters, so those are
 * Ganeti's empty values.
 */

type Field = FieldDefinition<GroupRow>;

const seconds = (ms: number) => ms / 1000;

/** Each group's nodes and primary instances, by group UUID, computed once per query. */
const membersCache = new WeakMap<RowContext, Map<string, { nodes: string[]; instances: string[] }>>();
function members(row: GroupRow): { nodes: string[]; instances: string[] } {
  let cached = membersCache.get(row.ctx);
  if (cached === undefined) {
    const map = new Map<string, { nodes: string[]; instances: string[] }>();
    const entry = (uuid: string) => {
      let lists = map.get(uuid);
      if (lists === undefined) {
        lists = { nodes: [], instances: [] };
        map.set(uuid, lists);
      }
      return lists;
    };
    for (const node of row.ctx.config.nodes) entry(node.group).nodes.push(node.name);
    for (const instance of row.ctx.config.instances) {
      const group = row.ctx.nodesByUuid.get(instance.primaryNode)?.group;
      if (group !== undefined) entry(group).instances.push(instance.name);
    }
    for (const lists of map.values()) {
      lists.nodes.sort(niceCompare);
      lists.instances.sort(niceCompare);
    }
    membersCache.set(row.ctx, map);
    cached = map;
  }
  return cached.get(row.group.uuid) ?? { nodes: [], instances: [] };
}

const templates = (r: GroupRow) => groupTemplates(r.ctx.config.cluster.enabledDiskTemplates, r.group);

export const groupFields: readonly Field[] = [
  { name: 'name', title: 'Group', kind: 'text', doc: 'Group name', get: (r) => r.group.name },
  { name: 'uuid', title: 'UUID', kind: 'text', doc: 'Group UUID', get: (r) => r.group.uuid },
  {
    name: 'alloc_policy',
    title: 'AllocPolicy',
    kind: 'text',
    doc: 'Allocation policy for group',
    get: (r) => r.group.allocPolicy,
  },
  {
    name: 'node_cnt',
    title: 'Nodes',
    kind: 'number',
    doc: 'Number of nodes',
    get: (r) => members(r).nodes.length,
  },
  {
    name: 'node_list',
    title: 'NodeList',
    kind: 'other',
    doc: 'List of nodes',
    get: (r) => [...members(r).nodes],
  },
  {
    name: 'pinst_cnt',
    title: 'Instances',
    kind: 'number',
    doc: 'Number of primary instances',
    get: (r) => members(r).instances.length,
  },
  {
    name: 'pinst_list',
    title: 'InstanceList',
    kind: 'other',
    doc: 'List of primary instances',
    get: (r) => [...members(r).instances],
  },
  {
    name: 'ipolicy',
    title: 'InstancePolicy',
    kind: 'other',
    doc: 'Instance policy limitations (merged)',
    get: (r) => ({ 'disk-templates': templates(r) }),
  },
  {
    name: 'custom_ipolicy',
    title: 'CustomInstancePolicy',
    kind: 'other',
    doc: 'Custom instance policy limitations',
    get: (r) => (r.group.diskTemplates === undefined ? {} : { 'disk-templates': [...r.group.diskTemplates] }),
  },
  {
    name: 'ipolicy/disk-templates',
    title: 'DiskTemplates',
    kind: 'other',
    doc: 'The disk templates instances may use on the nodes of the group (Corral)',
    get: templates,
  },
  {
    name: 'ndparams',
    title: 'NDParams',
    kind: 'other',
    doc: 'Node parameters',
    get: (r) => filledNdParams(r.ctx.config.cluster, r.group),
  },
  {
    name: 'custom_ndparams',
    title: 'CustomNDParams',
    kind: 'other',
    doc: 'Custom node parameters',
    get: (r) => ({ ...r.group.ndParams }),
  },
  {
    name: 'diskparams',
    title: 'DiskParameters',
    kind: 'other',
    doc: 'Disk parameters (merged)',
    get: () => ({}),
  },
  {
    name: 'custom_diskparams',
    title: 'CustomDiskParameters',
    kind: 'other',
    doc: 'Custom disk parameters',
    get: () => ({}),
  },
  { name: 'tags', title: 'Tags', kind: 'other', doc: 'Tags', get: (r) => [...r.group.tags] },
  {
    name: 'ctime',
    title: 'CTime',
    kind: 'timestamp',
    doc: 'Creation timestamp',
    get: (r) => seconds(r.group.ctimeMs),
  },
  {
    name: 'mtime',
    title: 'MTime',
    kind: 'timestamp',
    doc: 'Modification timestamp',
    get: (r) => seconds(r.group.mtimeMs),
  },
  {
    name: 'serial_no',
    title: 'SerialNo',
    kind: 'number',
    doc: 'Group object serial number, incremented on each modification',
    get: (r) => r.group.serial,
  },
];
