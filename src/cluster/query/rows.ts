import type { z } from 'zod';
import type { agentProtocols } from '../agent-protocols.js';
import type { JobView } from '../job-views.js';
import type { Opcode } from '../opcodes.js';
import type { ConfigView, GroupView, InstanceView, NodeView } from '../views.js';

/**
 * The items a query reads: one row per instance, node, group or job, each with the shared context its fields
 * look things up in (the configuration, the nodes' live answers, gossip's view, the job records). Built once
 * per query by the caller, from what it fetched; the fields themselves do no I/O.
 */

/** One node's live status: its agent's answer. */
export type LiveStatus = z.infer<typeof agentProtocols.status.response>;

/** One node of `nodes-live`: its answer, or why there is none. */
export interface LiveNode {
  readonly name: string;
  readonly status?: LiveStatus | undefined;
  readonly error?: string | undefined;
}

/** One node as this node's gossip sees it (membership's health rows fit). */
export interface ObservedNode {
  /** The peer ID. */
  readonly id: string;
  readonly state: 'alive' | 'suspect' | 'dead' | 'left';
  /** Since the last first-hand sign of life; absent when it was never heard from. */
  readonly lastHeardAgeMs?: number | undefined;
  /** Not heard from first-hand for several heartbeats. */
  readonly stale: boolean;
}

/** A failover, migration or move that succeeded, from its job's record. */
export interface InstanceMove {
  readonly instance: string;
  readonly job: number;
  readonly atMs: number;
  readonly how: 'failed over' | 'migrated' | 'moved';
  /** The last reason on a failover's trail (who asked and why), as `source: reason`. */
  readonly why?: string;
}

/** What a query may read besides the configuration; leave out what no chosen field needs (see neededData). */
export interface QueryInput {
  readonly config: ConfigView;
  /** The master's node name, when the caller knows it better than the configuration (the current leader). */
  readonly masterName?: string | undefined;
  /** The `nodes-live` answer; absent, live fields say "no data". */
  readonly live?: readonly LiveNode[] | undefined;
  /** Gossip's view of the nodes; absent, observed fields say "no data". */
  readonly observed?: readonly ObservedNode[] | undefined;
  /** The job records, for the instances' last move; absent, last_move says "no data". */
  readonly jobs?: readonly JobView[] | undefined;
}

/** What every row of one query shares: the configuration indexed, and what was fetched besides. */
export interface RowContext {
  readonly config: ConfigView;
  readonly masterName: string | undefined;
  readonly nodesByUuid: ReadonlyMap<string, NodeView>;
  readonly groupsByUuid: ReadonlyMap<string, GroupView>;
  /** By node name; undefined when live data was not asked for. */
  readonly live: ReadonlyMap<string, LiveNode> | undefined;
  /** By peer ID; undefined when gossip's view was not asked for. */
  readonly observed: ReadonlyMap<string, ObservedNode> | undefined;
  /** Each instance's last move, by name; undefined when the job records were not asked for. */
  readonly lastMoves: ReadonlyMap<string, InstanceMove> | undefined;
}

export interface InstanceRow {
  readonly instance: InstanceView;
  readonly ctx: RowContext;
}

export interface NodeRow {
  readonly node: NodeView;
  readonly ctx: RowContext;
}

export interface GroupRow {
  readonly group: GroupView;
  readonly ctx: RowContext;
}

export interface JobRow {
  readonly job: JobView;
  /** Whether the job was archived (gnt-job list --archived shows those the cluster still keeps). */
  readonly archived?: boolean;
}

/** The row type of each resource. */
export interface ResourceRows {
  readonly instance: InstanceRow;
  readonly node: NodeRow;
  readonly group: GroupRow;
  readonly job: JobRow;
}

/** Ganeti's NiceSort order: digit runs compare as numbers, so node2 comes before node10. */
export function niceCompare(a: string, b: string): number {
  const split = (text: string) => text.match(/\d+|\D+/g) ?? [];
  const left = split(a);
  const right = split(b);
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const x = left[i]!;
    const y = right[i]!;
    if (x === y) continue;
    const xNumber = /^\d/.test(x);
    const yNumber = /^\d/.test(y);
    if (xNumber && yNumber) {
      const difference = Number(x) - Number(y);
      if (difference !== 0) return difference;
    }
    if (xNumber !== yNumber) return xNumber ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return left.length - right.length;
}

const byName = <T extends { readonly name: string }>(items: readonly T[]) =>
  [...items].sort((a, b) => niceCompare(a.name, b.name));

export function rowContext(input: QueryInput): RowContext {
  const { config } = input;
  const masterName =
    input.masterName ??
    (config.master === undefined ? undefined : config.nodes.find((node) => node.id === config.master)?.name);
  return {
    config,
    masterName,
    nodesByUuid: new Map(config.nodes.map((node) => [node.uuid, node])),
    groupsByUuid: new Map(config.groups.map((group) => [group.uuid, group])),
    live: input.live === undefined ? undefined : new Map(input.live.map((node) => [node.name, node])),
    observed:
      input.observed === undefined ? undefined : new Map(input.observed.map((node) => [node.id, node])),
    lastMoves: input.jobs === undefined ? undefined : lastMoves(input.jobs),
  };
}

/** The instances, in Ganeti's order (by name, nicely sorted). */
export function instanceRows(input: QueryInput): InstanceRow[] {
  const ctx = rowContext(input);
  return byName(input.config.instances).map((instance) => ({ instance, ctx }));
}

/** The nodes, in Ganeti's order (by name, nicely sorted). */
export function nodeRows(input: QueryInput): NodeRow[] {
  const ctx = rowContext(input);
  return byName(input.config.nodes).map((node) => ({ node, ctx }));
}

/** The node groups, in Ganeti's order (by name, nicely sorted). */
export function groupRows(input: QueryInput): GroupRow[] {
  const ctx = rowContext(input);
  return byName(input.config.groups).map((group) => ({ group, ctx }));
}

/** The jobs, by ID; `archived` are archived jobs, listed among them. */
export function jobRows(jobs: readonly JobView[], archived: readonly JobView[] = []): JobRow[] {
  return [...jobs.map((job) => ({ job })), ...archived.map((job) => ({ job, archived: true }))].sort(
    (a, b) => a.job.id - b.job.id,
  );
}

const moveVerbs = {
  OP_INSTANCE_FAILOVER: 'failed over',
  OP_INSTANCE_MIGRATE: 'migrated',
  OP_INSTANCE_MOVE: 'moved',
} as const;

/** The failovers, migrations and moves the job records show succeeded, oldest job first. */
export function instanceMoves(jobs: readonly JobView[]): InstanceMove[] {
  return [...jobs]
    .sort((a, b) => a.id - b.id)
    .flatMap((job) =>
      job.ops.flatMap((op): InstanceMove[] => {
        const { input } = op;
        if (op.status !== 'success' || !(input.OP_ID in moveVerbs)) return [];
        const moved = input as Extract<Opcode, { OP_ID: keyof typeof moveVerbs }>;
        const reason = moved.OP_ID === 'OP_INSTANCE_FAILOVER' ? moved.reason?.at(-1) : undefined;
        return [
          {
            instance: moved.instance_name,
            job: job.id,
            atMs: op.endMs ?? job.receivedMs,
            how: moveVerbs[moved.OP_ID],
            ...(reason !== undefined && { why: `${reason[0]}: ${reason[1]}` }),
          },
        ];
      }),
    );
}

/** Each instance's last move, by instance name. */
export function lastMoves(jobs: readonly JobView[]): Map<string, InstanceMove> {
  return new Map(instanceMoves(jobs).map((move) => [move.instance, move]));
}
