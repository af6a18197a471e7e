import { z } from 'zod';
import { allocPolicies, nameSchema, tagSchema } from './model.js';

/**
 * Opcodes as data: what a job asks for, in Ganeti's names (OP_ID and snake_case fields, so that
 * `gnt-debug submit-job` files and RAPI bodies read the same). Their execution lives on the master.
 */

const yes = z.boolean();
const tags = z.array(tagSchema).min(1).max(64);
const multiaddr = z
  .string()
  .min(1)
  .max(256)
  .startsWith('/', 'an address is a multiaddr such as /ip4/…/tcp/…');
const ip = z.union([z.ipv4(), z.ipv6()]);
/** What a tag operation is about; the cluster has no name. */
export const tagKinds = ['cluster', 'nodegroup', 'node', 'instance'] as const;
export type TagKind = (typeof tagKinds)[number];

export const opcodeSchema = z.discriminatedUnion('OP_ID', [
  z.object({
    OP_ID: z.literal('OP_NODE_ADD'),
    node_name: nameSchema,
    /** Where the master finds the node's unjoined daemon. */
    address: multiaddr,
    /** The peer ID the administrator checked, as Ganeti checks an SSH host key. */
    peer_id: z.string().min(1).max(128).optional(),
    primary_ip: ip.optional(),
    secondary_ip: ip.optional(),
    group: nameSchema.optional(),
    master_candidate: yes.optional(),
    master_capable: yes.optional(),
    vm_capable: yes.optional(),
  }),
  z.object({ OP_ID: z.literal('OP_NODE_REMOVE'), node_name: nameSchema }),
  z.object({
    OP_ID: z.literal('OP_NODE_SET_PARAMS'),
    node_name: nameSchema,
    master_candidate: yes.optional(),
    drained: yes.optional(),
    offline: yes.optional(),
    master_capable: yes.optional(),
    vm_capable: yes.optional(),
    secondary_ip: ip.optional(),
    auto_promote: yes.optional(),
    force: yes.optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_GROUP_ADD'),
    group_name: nameSchema,
    alloc_policy: z.enum(allocPolicies).optional(),
  }),
  z.object({ OP_ID: z.literal('OP_GROUP_REMOVE'), group_name: nameSchema }),
  z.object({ OP_ID: z.literal('OP_GROUP_RENAME'), group_name: nameSchema, new_name: nameSchema }),
  z.object({
    OP_ID: z.literal('OP_GROUP_SET_PARAMS'),
    group_name: nameSchema,
    alloc_policy: z.enum(allocPolicies).optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_GROUP_ASSIGN_NODES'),
    group_name: nameSchema,
    nodes: z.array(nameSchema).min(1).max(1024),
    force: yes.optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_TAGS_SET'),
    kind: z.enum(tagKinds),
    name: nameSchema.optional(),
    tags,
  }),
  z.object({
    OP_ID: z.literal('OP_TAGS_DEL'),
    kind: z.enum(tagKinds),
    name: nameSchema.optional(),
    tags,
  }),
  z.object({
    OP_ID: z.literal('OP_CLUSTER_SET_PARAMS'),
    candidate_pool_size: z.number().int().min(1).max(99).optional(),
    enabled_hypervisors: z.array(z.string().min(1).max(32)).min(1).max(8).optional(),
    enabled_disk_templates: z.array(z.string().min(1).max(32)).min(1).max(16).optional(),
    max_running_jobs: z.number().int().min(1).max(1000).optional(),
    candidate_dead_grace_s: z.number().int().min(5).max(86_400).optional(),
  }),
  z.object({ OP_ID: z.literal('OP_CLUSTER_VERIFY') }),
  z.object({
    OP_ID: z.literal('OP_TEST_DELAY'),
    duration: z.number().min(0).max(86_400),
    on_master: yes.optional(),
    /** Holds these nodes' locks, exclusively, for the duration: shows that conflicting jobs wait. */
    on_nodes: z.array(nameSchema).max(64).optional(),
    repeat: z.number().int().min(0).max(1000).optional(),
  }),
]);
export type Opcode = z.infer<typeof opcodeSchema>;
export type OpId = Opcode['OP_ID'];

/** Ganeti's summary form, `OP_NAME(target)`, as `gnt-job list` shows it. */
export function opSummary(op: Opcode): string {
  const name = op.OP_ID.replace(/^OP_/, '');
  const target = opTarget(op);
  return target === undefined ? name : `${name}(${target})`;
}

export function opTarget(op: Opcode): string | undefined {
  switch (op.OP_ID) {
    case 'OP_NODE_ADD':
    case 'OP_NODE_REMOVE':
    case 'OP_NODE_SET_PARAMS':
      return op.node_name;
    case 'OP_GROUP_ADD':
    case 'OP_GROUP_REMOVE':
    case 'OP_GROUP_RENAME':
    case 'OP_GROUP_SET_PARAMS':
    case 'OP_GROUP_ASSIGN_NODES':
      return op.group_name;
    case 'OP_TAGS_SET':
    case 'OP_TAGS_DEL':
      return op.name ?? op.kind;
    case 'OP_TEST_DELAY':
      return String(op.duration);
    case 'OP_CLUSTER_SET_PARAMS':
    case 'OP_CLUSTER_VERIFY':
      return undefined;
  }
}
