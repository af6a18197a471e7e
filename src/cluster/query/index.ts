/**
 * Ganeti's query engine for Corral: rows of instances, nodes, groups and jobs, their fields, the filter
 * language (list form and the CLI's string form) and the query itself. Pure; callers fetch the data.
 */

export {
  type CompiledFilter,
  compileFilter,
  compileRegex,
  type FilterOperator,
  filterOperators,
  MAX_FILTER_DEPTH,
  type QueryFilter,
} from './filter.js';
export { groupFields } from './group-fields.js';
export { ganetiBeParams, instanceFields, ordinal } from './instance-fields.js';
export { jobFields, splitTimestamp } from './job-fields.js';
export { nodeFields } from './node-fields.js';
export { globPattern, isGlob, listArguments, looksLikeFilter, parseFilter } from './qlang.js';
export {
  bulkFields,
  fieldDefinitions,
  fieldEntry,
  fieldRecords,
  findField,
  jobItemFields,
  type NeededData,
  neededData,
  needsLiveData,
  requireFields,
  resourceFields,
  runQuery,
} from './query.js';
export {
  type GroupRow,
  groupRows,
  type InstanceMove,
  type InstanceRow,
  instanceMoves,
  instanceRows,
  type JobRow,
  jobRows,
  type LiveNode,
  type LiveStatus,
  lastMoves,
  type NodeRow,
  niceCompare,
  nodeRows,
  type ObservedNode,
  type QueryInput,
  type ResourceRows,
  type RowContext,
  rowContext,
} from './rows.js';
export {
  Abnormal,
  type ExtraData,
  type FieldDefinition,
  type FieldDescription,
  type FieldKind,
  isQueryResource,
  NO_DATA,
  OFFLINE,
  type QueryResource,
  type QueryResult,
  queryResources,
  type ResultEntry,
  type ResultStatus,
  resultStatus,
  UNAVAILABLE,
} from './types.js';
