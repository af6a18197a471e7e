import { z } from 'zod';
import { CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import type { MemberView } from './gossip-service.js';
import { healthRecordSchema } from './health.js';

const observedStates = ['alive', 'suspect', 'dead', 'left'] as const;

/** One node as this node's gossip sees it: what `corral health` prints, and its --json. */
export const healthRowSchema = z.object({
  node: z.string(),
  id: z.string(),
  state: z.enum(observedStates),
  incarnation: z.number(),
  /** Since the last first-hand sign of life; absent when the node was never heard from. */
  lastHeardAgeMs: z.number().optional(),
  /** How long it has been in its state. */
  stateAgeMs: z.number(),
  /** Not heard from first-hand for several heartbeats, or never: its figures may be old. */
  stale: z.boolean(),
  /** How old the health record is; absent when none has arrived. */
  healthAgeMs: z.number().optional(),
  health: healthRecordSchema.optional(),
});
export type HealthRow = z.infer<typeof healthRowSchema>;

/** A node of the configuration as the health view needs it. */
export interface NamedNode {
  readonly id: NodeId;
  readonly name: string;
}

/**
 * Joins the gossip view with the configuration's names. `wanted` narrows it to one node, by name or peer
 * ID; a node the configuration does not have is refused, so a typo is not mistaken for a dead node.
 */
export function healthRows(
  view: readonly MemberView[],
  nodes: readonly NamedNode[],
  wanted?: string,
): HealthRow[] {
  // The last name given for an ID wins: the configuration's over a default.
  const names = new Map(nodes.map((node) => [node.id, node.name]));
  const rows = view
    .map(
      (member): HealthRow => ({
        node: names.get(member.id) ?? member.id,
        id: member.id,
        state: member.state,
        incarnation: member.incarnation,
        ...(member.ageMs !== undefined && { lastHeardAgeMs: Math.round(member.ageMs) }),
        stateAgeMs: Math.round(member.stateAgeMs),
        stale: member.stale,
        ...(member.healthAgeMs !== undefined && { healthAgeMs: Math.round(member.healthAgeMs) }),
        ...(member.health !== undefined && { health: member.health }),
      }),
    )
    .sort((a, b) => a.node.localeCompare(b.node));
  if (wanted === undefined) return rows;
  const row = rows.find((candidate) => candidate.node === wanted || candidate.id === wanted);
  if (row === undefined)
    throw new CorralError('not_found', `node ${wanted} is not in the cluster; corral health lists the nodes`);
  return [row];
}

/** Ganeti's admin side of a node's status. */
export type AdminStatus = 'online' | 'drained' | 'offline';

export function adminStatus(node: { readonly offline: boolean; readonly drained: boolean }): AdminStatus {
  return node.offline ? 'offline' : node.drained ? 'drained' : 'online';
}

/** Status as users see it: the admin state from the configuration, and what gossip observes, e.g. `online/suspect`. */
export function combinedStatus(admin: AdminStatus, observed: HealthRow['state'] | undefined): string {
  return `${admin}/${observed ?? '?'}`;
}

/** A short age for tables: 800ms, 12s, 5m, 3h. */
export function shortAge(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)}s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)}m`;
  return `${Math.round(ms / 3_600_000)}h`;
}

/** When a row was last heard from, saying so plainly when it is stale or never heard. */
export function lastHeardText(row: HealthRow): string {
  if (row.lastHeardAgeMs === undefined) return 'never';
  const age = shortAge(row.lastHeardAgeMs);
  return row.stale ? `stale ${age}` : age;
}
