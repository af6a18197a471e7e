import { clusterResources } from './cluster-resources.js';
import type { RapiContext } from './context.js';
import { groupResources } from './group-resources.js';
import { instanceResources } from './instance-resources.js';
import { jobResources } from './job-resources.js';
import { nodeResources } from './node-resources.js';
import { queryResources } from './query-resources.js';
import type { Resource } from './request.js';

/**
 * Every RAPI v2 resource Corral serves. Ganeti's resources for what Corral lacks (networks, filters, node
 * power, storage modify and repair, instance prepare-export) are left out on purpose:
 * they answer 404, as Ganeti answers for a resource it does not know, never a success that did nothing.
 */
export const rapiResources: readonly Resource<RapiContext>[] = [
  ...clusterResources,
  ...instanceResources,
  ...nodeResources,
  ...groupResources,
  ...jobResources,
  ...queryResources,
];
