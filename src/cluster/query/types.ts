/**
 * Ganeti's query model (its "query2"): resources, field definitions and the answer of a query, shared by the
 * CLI's list commands and RAPI's /2/query and bulk listings.
 */

export const queryResources = ['instance', 'node', 'group', 'job'] as const;
export type QueryResource = (typeof queryResources)[number];

export function isQueryResource(value: string): value is QueryResource {
  return (queryResources as readonly string[]).includes(value);
}

/** Ganeti's field kinds (QFT_*); `unknown` only describes a field name nobody defines. */
export type FieldKind = 'text' | 'bool' | 'number' | 'float' | 'unit' | 'timestamp' | 'other';

/** Ganeti's result statuses (RS_*): why a value is missing, or 0 when it is there. */
export const resultStatus = {
  normal: 0,
  unknown: 1,
  /** Live data was not asked for, or the node did not answer. */
  noData: 2,
  /** The value does not apply to this item (live memory of a stopped instance, a second disk it lacks). */
  unavailable: 3,
  /** The node is marked offline, so nobody asked it. */
  offline: 4,
} as const;
export type ResultStatus = (typeof resultStatus)[keyof typeof resultStatus];

/** What a getter returns instead of a value when there is none; the status says why. */
export class Abnormal {
  private constructor(readonly status: 2 | 3 | 4) {}
  static readonly noData = new Abnormal(2);
  static readonly unavailable = new Abnormal(3);
  static readonly offline = new Abnormal(4);
}

export const NO_DATA = Abnormal.noData;
export const UNAVAILABLE = Abnormal.unavailable;
export const OFFLINE = Abnormal.offline;

/** Data beyond the configuration that some fields read: each costs a round of calls, so callers ask only when needed. */
export type ExtraData =
  /** The nodes' own live status (their instances, memory, storage): `nodes-live`. */
  | 'live'
  /** This node's gossip view of the others (membership): `health`. */
  | 'observed'
  /** The job records, for the instances' last move. */
  | 'jobs';

/** One field of a resource, as Ganeti defines it, and how to read it from a row. */
export interface FieldDefinition<Row> {
  readonly name: string;
  readonly title: string;
  readonly kind: FieldKind;
  readonly doc: string;
  /** The field reads the nodes' live status; without it the field says "no data" (status 2). */
  readonly needsLive?: boolean;
  /** Other data the field reads beyond the configuration and the live status. */
  readonly needs?: Exclude<ExtraData, 'live'>;
  /** Ganeti's QFF_SPLIT_TIMESTAMP: the value is [seconds, microseconds], and filters compare its seconds. */
  readonly splitTimestamp?: boolean;
  /** The value as JSON (numbers as numbers, lists as lists), or an Abnormal saying why there is none. */
  get(row: Row): unknown;
}

/** A field as the answer describes it (Ganeti's QueryFieldDefinition). */
export interface FieldDescription {
  readonly name: string;
  readonly title: string;
  readonly kind: FieldKind | 'unknown';
  readonly doc: string;
}

/** One value of a row: [status, value], the value null unless the status is 0. */
export type ResultEntry = readonly [ResultStatus, unknown];

/** Ganeti's query answer: the fields asked for, then one list of [status, value] per item that passed the filter. */
export interface QueryResult {
  readonly fields: readonly FieldDescription[];
  readonly data: readonly (readonly ResultEntry[])[];
}
