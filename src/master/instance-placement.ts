import type { AgentResponse } from '../cluster/agent-protocols.js';
import { type ConfigData, sortedNodes } from '../cluster/config.js';
import type { NodeRecord, NodeUuid } from '../cluster/model.js';
import { asCorralError, CorralError } from '../common/errors.js';
import { unfitForInstances } from './instance-runtime.js';
import type { OpContext } from './op-context.js';

const STATUS_TIMEOUT_MS = 5_000;

export type NodeStatus = AgentResponse<'status'>;

/** The node's memory, and its storage when asked (those figures cost a few tool runs), as it reports them. */
async function nodeStatus(ctx: OpContext, node: NodeRecord, storage: boolean): Promise<NodeStatus> {
  return ctx.agent.call(node.id, 'status', { storage }, { signal: ctx.signal, timeoutMs: STATUS_TIMEOUT_MS });
}

/** What a placement needs of a node. */
export interface PlacementNeed {
  readonly instance: string;
  /** Free memory the node must have (0 when the instance will not run there yet). */
  readonly memoryMiB: number;
  readonly template: string;
  /** Total disk space the node's storage for the template must have free. */
  readonly diskMiB: number;
}

/** Why the node cannot take the instance, or undefined: memory and storage, as the node reports them. */
export function shortfall(status: NodeStatus, need: PlacementNeed): string | undefined {
  if (status.memoryFreeMiB < need.memoryMiB)
    return `not enough memory (${need.memoryMiB} MiB needed, ${status.memoryFreeMiB} MiB free)`;
  if (need.diskMiB > 0) {
    const storage = status.storage.find((s) => s.template === need.template);
    if (storage === undefined || !storage.available)
      return `disk template ${need.template} is not available there${storage?.reason ? ` (${storage.reason})` : ''}`;
    if (storage.freeMiB !== undefined && storage.freeMiB < need.diskMiB)
      return `not enough disk space (${need.diskMiB} MiB needed, ${storage.freeMiB} MiB free)`;
  }
  return undefined;
}

/** Refuses with the node's shortfall, asking the node itself. */
export async function requireRoom(
  ctx: OpContext,
  node: NodeRecord,
  need: PlacementNeed,
): Promise<NodeStatus> {
  const status = await nodeStatus(ctx, node, need.diskMiB > 0);
  const why = shortfall(status, need);
  if (why !== undefined)
    throw new CorralError('conflict', `${node.name} cannot take ${need.instance}: ${why}`);
  return status;
}

/**
 * Picks the node for an instance when the operator named none: among the nodes fit for instances, the one
 * with the most free memory that has room. A refusal names every node and why it was passed over.
 */
export async function choosePlacement(
  ctx: OpContext,
  config: ConfigData,
  need: PlacementNeed,
  exclude: readonly NodeUuid[] = [],
  /** Memory already promised to earlier placements of the same plan. */
  reservedMiB: ReadonlyMap<NodeUuid, number> = new Map(),
): Promise<NodeRecord> {
  const reasons: string[] = [];
  const candidates = sortedNodes(config).filter((node) => {
    if (exclude.includes(node.uuid)) return false;
    const why = unfitForInstances(node);
    if (why !== undefined) reasons.push(why);
    return why === undefined;
  });
  const answers = await Promise.allSettled(candidates.map((node) => nodeStatus(ctx, node, need.diskMiB > 0)));
  let best: { node: NodeRecord; freeMiB: number } | undefined;
  answers.forEach((answer, i) => {
    const node = candidates[i]!;
    if (answer.status === 'rejected') {
      reasons.push(`${node.name} did not answer (${asCorralError(answer.reason).message})`);
      return;
    }
    const status = {
      ...answer.value,
      memoryFreeMiB: answer.value.memoryFreeMiB - (reservedMiB.get(node.uuid) ?? 0),
    };
    const why = shortfall(status, need);
    if (why !== undefined) reasons.push(`${node.name}: ${why}`);
    else if (best === undefined || status.memoryFreeMiB > best.freeMiB)
      best = { node, freeMiB: status.memoryFreeMiB };
  });
  if (best === undefined)
    throw new CorralError(
      'conflict',
      `no node can take ${need.instance}: ${reasons.length > 0 ? reasons.join('; ') : 'the cluster has no other node'}`,
    );
  return best.node;
}
