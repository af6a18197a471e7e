import { z } from 'zod';
import { CorralError } from '../common/errors.js';
import { type DiskTemplate, disksOnOneNode } from './disk-templates.js';
import { copiesDisksLive, type HypervisorName } from './hypervisors.js';
import type { Opcode } from './opcodes.js';

/**
 * What an allocator's answer (src/alloc's own, or an external program's such as hail) means for Corral:
 * the nodes of a new instance, or the jobs that move instances. Pure, and shared by the master and
 * the CLI (balance --execute); an answer that names unknown nodes or instances is refused here.
 */

export interface AllocatorAnswer {
  readonly success: boolean;
  readonly info: string;
  readonly result: unknown;
}

/** The opcodes an allocator may put in its jobs (Ganeti's node-evacuate answer), as far as Corral reads them. */
const allocOpSchema = z.discriminatedUnion('OP_ID', [
  z.object({
    OP_ID: z.literal('OP_INSTANCE_MIGRATE'),
    instance_name: z.string(),
    target_node: z.string().optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_INSTANCE_FAILOVER'),
    instance_name: z.string(),
    target_node: z.string().optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_INSTANCE_REPLACE_DISKS'),
    instance_name: z.string(),
    remote_node: z.string().optional(),
  }),
]);
export type AllocOp = z.infer<typeof allocOpSchema>;

const evacResultSchema = z.tuple([
  z.array(z.tuple([z.string(), z.string(), z.array(z.string())])),
  z.array(z.tuple([z.string(), z.string().nullable()])),
  z.array(z.array(allocOpSchema)),
]);

const failed = (info: string): string => info.replace(/^Request failed: /, '');

/** The nodes of a new instance, primary first; `passedOver` says which nodes were left out beforehand and why. */
export function allocationNodes(
  answer: AllocatorAnswer,
  who: string,
  instance: string,
  nodes: ReadonlySet<string>,
  passedOver: readonly string[] = [],
): string[] {
  if (!answer.success)
    throw new CorralError(
      'conflict',
      `no node can take ${instance}: ${[failed(answer.info), ...passedOver].join('; ')}`,
    );
  const chosen = z.array(z.string()).min(1).safeParse(answer.result);
  if (!chosen.success)
    throw new CorralError('bad_request', `${who} gave an invalid answer: result must list node names`);
  for (const name of chosen.data)
    if (!nodes.has(name))
      throw new CorralError('bad_request', `${who} chose node ${name}, which is not in the cluster`);
  return chosen.data;
}

/** What decides how an instance leaves its node: where its disks live, and whether its hypervisor copies them live. */
export interface MoveTarget {
  readonly diskTemplate: DiskTemplate;
  readonly hypervisor: HypervisorName;
}

export interface ConvertOptions {
  /** Migration mode for the migrations (node migrate --non-live). */
  readonly migrationMode?: 'live' | 'non-live';
}

/**
 * One allocator opcode as Corral's: migrations and failovers of instances whose disks live on one node
 * become instance moves (copying the disks), since only those reach another node.
 */
export function corralOpcode(
  op: AllocOp,
  who: string,
  instances: ReadonlyMap<string, MoveTarget>,
  nodes: ReadonlySet<string>,
  options: ConvertOptions = {},
): Opcode {
  const instance = instances.get(op.instance_name);
  if (instance === undefined)
    throw new CorralError('bad_request', `${who} moves ${op.instance_name}, which it was not asked to move`);
  if (op.OP_ID === 'OP_INSTANCE_REPLACE_DISKS') {
    if (op.remote_node === undefined || !nodes.has(op.remote_node))
      throw new CorralError(
        'bad_request',
        `${who} names no node of the cluster as the new secondary of ${op.instance_name}`,
      );
    return {
      OP_ID: 'OP_INSTANCE_REPLACE_DISKS',
      instance_name: op.instance_name,
      mode: 'replace_new_secondary',
      remote_node: op.remote_node,
    };
  }
  const target = op.target_node;
  if (target !== undefined && !nodes.has(target))
    throw new CorralError('bad_request', `${who} chose node ${target}, which is not in the cluster`);
  if (disksOnOneNode(instance.diskTemplate) && !copiesDisksLive(instance)) {
    if (target === undefined)
      throw new CorralError('bad_request', `${who} names no target node for ${op.instance_name}`);
    return { OP_ID: 'OP_INSTANCE_MOVE', instance_name: op.instance_name, target_node: target };
  }
  const targetField = target === undefined ? {} : { target_node: target };
  if (op.OP_ID === 'OP_INSTANCE_FAILOVER')
    return { OP_ID: 'OP_INSTANCE_FAILOVER', instance_name: op.instance_name, ...targetField };
  return {
    OP_ID: 'OP_INSTANCE_MIGRATE',
    instance_name: op.instance_name,
    allow_failover: true,
    ...targetField,
    ...(options.migrationMode !== undefined && { mode: options.migrationMode }),
  };
}

/**
 * The jobs of a node-evacuate answer, one per instance. Like Ganeti, an instance the allocator could
 * not move fails the whole plan, and so does an answer that leaves out an instance it was asked about.
 */
export function evacuationJobs(
  answer: AllocatorAnswer,
  who: string,
  instances: ReadonlyMap<string, MoveTarget>,
  nodes: ReadonlySet<string>,
  options: ConvertOptions = {},
): Opcode[][] {
  if (!answer.success) throw new CorralError('conflict', `${who} found no plan: ${failed(answer.info)}`);
  const parsed = evacResultSchema.safeParse(answer.result);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CorralError(
      'bad_request',
      `${who} gave an invalid answer: result.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`,
    );
  }
  const [moved, refused, jobs] = parsed.data;
  if (refused.length > 0)
    throw new CorralError(
      'conflict',
      `${who} cannot move ${refused.map(([name, why]) => `${name} (${why ?? 'no reason given'})`).join(', ')}`,
    );
  const answered = new Set(moved.map(([name]) => name));
  const missing = [...instances.keys()].filter((name) => !answered.has(name));
  if (missing.length > 0)
    throw new CorralError('bad_request', `${who} gave no plan for ${missing.join(', ')}`);
  return jobs.map((job) => job.map((op) => corralOpcode(op, who, instances, nodes, options)));
}
