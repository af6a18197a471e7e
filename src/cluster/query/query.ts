import { CorralError } from '../../common/errors.js';
import { compileFilter } from './filter.js';
import { groupFields } from './group-fields.js';
import { instanceFields } from './instance-fields.js';
import { jobFields } from './job-fields.js';
import { nodeFields } from './node-fields.js';
import type { ResourceRows } from './rows.js';
import {
  Abnormal,
  type ExtraData,
  type FieldDefinition,
  type FieldDescription,
  type QueryResource,
  type QueryResult,
  type ResultEntry,
  resultStatus,
} from './types.js';

/**
 * Runs Ganeti queries over rows the caller built: picks the fields, applies the filter, and answers as
 * Ganeti's query2 does. Pure: whatever needs the network (live status, gossip, job records) was fetched
 * before, as neededData says.
 */

type AnyField = FieldDefinition<never>;

const definitions: { readonly [R in QueryResource]: readonly FieldDefinition<ResourceRows[R]>[] } = {
  instance: instanceFields,
  node: nodeFields,
  group: groupFields,
  job: jobFields,
};

const index = <Row>(fields: readonly FieldDefinition<Row>[]) =>
  new Map(fields.map((field) => [field.name, field]));

const byName: { readonly [R in QueryResource]: ReadonlyMap<string, FieldDefinition<ResourceRows[R]>> } = {
  instance: index(instanceFields),
  node: index(nodeFields),
  group: index(groupFields),
  job: index(jobFields),
};

/** Every field of a resource, in definition order. */
export function resourceFields<R extends QueryResource>(
  resource: R,
): readonly FieldDefinition<ResourceRows[R]>[] {
  return definitions[resource];
}

/** One field of a resource, or undefined if it has none by that name. */
export function findField<R extends QueryResource>(
  resource: R,
  name: string,
): FieldDefinition<ResourceRows[R]> | undefined {
  return byName[resource].get(name);
}

const describe = (field: AnyField): FieldDescription => ({
  name: field.name,
  title: field.title,
  kind: field.kind,
  doc: field.doc,
});

/** Ganeti's description of a name no field has: kind "unknown", the name as its title. */
function unknownField(name: string): FieldDescription {
  return { name, title: name, kind: 'unknown', doc: `Unknown field '${name}'` };
}

/**
 * The field descriptions of /2/query/R/fields: all of them sorted by name, or the named ones in the order
 * given (a name no field has is described with kind "unknown").
 */
export function fieldDefinitions(resource: QueryResource, names?: readonly string[]): FieldDescription[] {
  const fields = byName[resource] as ReadonlyMap<string, AnyField>;
  if (names === undefined || names.length === 0)
    return [...fields.values()]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map(describe);
  return names.map((name) => {
    const field = fields.get(name);
    return field === undefined ? unknownField(name) : describe(field);
  });
}

/** What data beyond the configuration a query needs: fetch only these. */
export interface NeededData {
  /** The nodes' live status (`nodes-live`). */
  readonly live: boolean;
  /** Gossip's view of the nodes (`health`). */
  readonly observed: boolean;
  /** The job records (instances' last move). */
  readonly jobs: boolean;
}

/** Which data the chosen fields and the filter read; unknown names need nothing, a bad filter is refused. */
export function neededData(
  resource: QueryResource,
  fieldNames: readonly string[],
  filter?: unknown,
): NeededData {
  const fields = byName[resource] as ReadonlyMap<string, AnyField>;
  const used = fieldNames.flatMap((name) => fields.get(name) ?? []);
  if (filter !== undefined && filter !== null) used.push(...compileFilter(fields, filter, resource).fields);
  const needs = (data: ExtraData) =>
    used.some((field) => (data === 'live' ? field.needsLive === true : field.needs === data));
  return { live: needs('live'), observed: needs('observed'), jobs: needs('jobs') };
}

/** Whether any chosen field or filter field reads the nodes' live status: ask the nodes only then. */
export function needsLiveData(
  resource: QueryResource,
  fieldNames: readonly string[],
  filter?: unknown,
): boolean {
  return neededData(resource, fieldNames, filter).live;
}

/** Reads one field of one row as [status, value]. */
export function fieldEntry<Row>(field: FieldDefinition<Row>, row: Row): ResultEntry {
  const value = field.get(row);
  if (value instanceof Abnormal) return [value.status, null];
  return [resultStatus.normal, value ?? null];
}

/**
 * Ganeti's query: the rows that pass the filter (null or undefined for none; Ganeti's list form, checked
 * first and refused whole), each read as [status, value] for every field named. A name no field has gives
 * status 1 in every row and an "unknown" description; a filter naming an unknown field is refused. The
 * rows keep the caller's order (the row builders give Ganeti's).
 */
export function runQuery<R extends QueryResource>(
  resource: R,
  fieldNames: readonly string[],
  filter: unknown,
  rows: readonly ResourceRows[R][],
): QueryResult {
  const fields = byName[resource] as ReadonlyMap<string, FieldDefinition<ResourceRows[R]>>;
  const test =
    filter === undefined || filter === null ? undefined : compileFilter(fields, filter, resource).test;
  const chosen = fieldNames.map((name) => fields.get(name));
  const data = rows
    .filter((row) => test === undefined || test(row))
    .map((row) =>
      chosen.map(
        (field): ResultEntry => (field === undefined ? [resultStatus.unknown, null] : fieldEntry(field, row)),
      ),
    );
  return {
    fields: fieldNames.map((name, n) => {
      const field = chosen[n];
      return field === undefined ? unknownField(name) : describe(field as AnyField);
    }),
    data,
  };
}

/** Refuses field names a resource does not have, naming them (for callers that, unlike query2, must not guess). */
export function requireFields(resource: QueryResource, names: readonly string[]): void {
  const unknown = names.filter((name) => findField(resource, name) === undefined);
  if (unknown.length > 0)
    throw new CorralError(
      'bad_request',
      `unknown ${resource} field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; list-fields shows the known ones`,
    );
}

/** The keys of RAPI's bulk listings (?bulk=1), in Ganeti's order (rlib2's I_FIELDS, N_FIELDS, G_FIELDS, J_FIELDS_BULK). */
export const bulkFields = {
  instance: [
    'name',
    'admin_state',
    'os',
    'pnode',
    'snodes',
    'disk_template',
    'nic.ips',
    'nic.macs',
    'nic.modes',
    'nic.uuids',
    'nic.names',
    'nic.links',
    'nic.networks',
    'nic.networks.names',
    'nic.bridges',
    'network_port',
    'disk.sizes',
    'disk.spindles',
    'disk_usage',
    'disk.uuids',
    'disk.names',
    'beparams',
    'hvparams',
    'oper_state',
    'oper_ram',
    'oper_vcpus',
    'status',
    'custom_hvparams',
    'custom_beparams',
    'custom_nicparams',
    'ctime',
    'mtime',
    'uuid',
    'serial_no',
    'tags',
  ],
  node: [
    'name',
    'offline',
    'master_candidate',
    'drained',
    'dtotal',
    'dfree',
    'sptotal',
    'spfree',
    'mtotal',
    'mnode',
    'mfree',
    'pinst_cnt',
    'sinst_cnt',
    'ctotal',
    'cnos',
    'cnodes',
    'csockets',
    'pip',
    'sip',
    'role',
    'pinst_list',
    'sinst_list',
    'master_capable',
    'vm_capable',
    'ndparams',
    'group.uuid',
    'ctime',
    'mtime',
    'uuid',
    'serial_no',
    'tags',
  ],
  group: [
    'alloc_policy',
    'name',
    'node_cnt',
    'node_list',
    'ipolicy',
    'custom_ipolicy',
    'diskparams',
    'custom_diskparams',
    'ndparams',
    'custom_ndparams',
    'ctime',
    'mtime',
    'uuid',
    'serial_no',
    'tags',
  ],
  job: ['id', 'ops', 'status', 'summary', 'opstatus', 'received_ts', 'start_ts', 'end_ts'],
} as const satisfies { readonly [R in QueryResource]: readonly string[] };

/** The keys of RAPI's GET /2/jobs/ID: the bulk ones plus the log and the results (rlib2's J_FIELDS). */
export const jobItemFields = [...bulkFields.job, 'oplog', 'opresult'] as const;

/**
 * RAPI's dicts of a listing (bulk) or an item: one object per row with the named fields, a missing value as
 * null (Ganeti's old-style query). Instances' beparams also carry `memory` (= maxmem), as rlib2 adds it.
 * Defaults to the bulk fields of the resource.
 */
export function fieldRecords<R extends QueryResource>(
  resource: R,
  rows: readonly ResourceRows[R][],
  fieldNames: readonly string[] = bulkFields[resource],
): Record<string, unknown>[] {
  requireFields(resource, fieldNames);
  const fields = fieldNames.map((name) => findField(resource, name)!);
  return rows.map((row) => {
    const record: Record<string, unknown> = {};
    for (const field of fields) {
      const [status, value] = fieldEntry(field, row);
      record[field.name] = status === resultStatus.normal ? value : null;
    }
    if (resource === 'instance' && record.beparams !== null && typeof record.beparams === 'object') {
      const be = record.beparams as Record<string, unknown>;
      record.beparams = { ...be, memory: be.maxmem };
    }
    return record;
  });
}
