import { ipolicyJson } from '../../alloc/iallocator/write.js';
import { livePolicy } from '../../alloc/live-snapshot.js';
import type { JobView } from '../../cluster/job-views.js';
import { groupTemplates } from '../../cluster/model.js';
import {
  bulkFields,
  fieldRecords,
  groupRows,
  instanceRows,
  jobItemFields,
  jobRows,
  nodeRows,
} from '../../cluster/query/index.js';
import type { ConfigView, GroupView, InstanceView, NodeView } from '../../cluster/views.js';
import type { LiveNodes } from './context.js';
import { RawJson } from './request.js';

/** RAPI's dicts of instances, nodes, groups and jobs: Ganeti's keys, read through the shared query fields. */

export const JOB_BULK_FIELDS: readonly string[] = bulkFields.job;
export const JOB_ITEM_FIELDS: readonly string[] = jobItemFields;

const named = <T extends { name: string }>(names: readonly string[] | undefined) =>
  names === undefined ? () => true : (row: T) => names.includes(row.name);

/**
 * A bulk listing in JSON, made once per configuration and live snapshot (both immutable objects, the live
 * one kept a second): many clients polling the same listing cost one encoding.
 */
function cachedListing(
  cache: WeakMap<ConfigView, { live: LiveNodes; json: RawJson }>,
  config: ConfigView,
  live: LiveNodes,
  build: () => unknown,
): RawJson {
  const cached = cache.get(config);
  if (cached?.live === live) return cached.json;
  const json = new RawJson(JSON.stringify(build()));
  cache.set(config, { live, json });
  return json;
}

const instanceListings = new WeakMap<ConfigView, { live: LiveNodes; json: RawJson }>();
const nodeListings = new WeakMap<ConfigView, { live: LiveNodes; json: RawJson }>();

export const instanceListing = (config: ConfigView, live: LiveNodes) =>
  cachedListing(instanceListings, config, live, () => instanceDicts(config, live));
export const nodeListing = (config: ConfigView, live: LiveNodes) =>
  cachedListing(nodeListings, config, live, () => nodeDicts(config, live));

export function instanceDicts(config: ConfigView, live: LiveNodes, names?: readonly string[]) {
  const rows = instanceRows({ config, live }).filter((row) => named<InstanceView>(names)(row.instance));
  return fieldRecords('instance', rows);
}

export function nodeDicts(config: ConfigView, live: LiveNodes, names?: readonly string[]) {
  const rows = nodeRows({ config, live }).filter((row) => named<NodeView>(names)(row.node));
  return fieldRecords('node', rows);
}

/**
 * Groups' `ipolicy` in full: the policy the allocator applies (src/alloc, which the shared fields below it
 * cannot read), for the templates the group allows. htools reads every part of it.
 */
export function groupDicts(config: ConfigView, names?: readonly string[]) {
  const rows = groupRows({ config }).filter((row) => named<GroupView>(names)(row.group));
  return fieldRecords('group', rows).map((dict, n) => {
    const group = rows[n]?.group;
    if (group === undefined) return dict;
    return {
      ...dict,
      ipolicy: ipolicyJson(livePolicy(groupTemplates(config.cluster.enabledDiskTemplates, group))),
    };
  });
}

export function jobDict(job: JobView, fields: readonly string[]): Record<string, unknown> {
  const [record] = fieldRecords('job', jobRows([job]), fields);
  return record ?? {};
}

export const findInstance = (config: ConfigView, name: string) =>
  config.instances.find((i) => i.name === name);
export const findNode = (config: ConfigView, name: string) => config.nodes.find((n) => n.name === name);
export const findGroup = (config: ConfigView, name: string) => config.groups.find((g) => g.name === name);
