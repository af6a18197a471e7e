import { z } from 'zod';
import { configQuerySchema, MAX_QUERY_NODES } from '../cluster/config-query.js';
import { corralDiskTemplates } from '../cluster/disk-templates.js';
import { hypervisors } from '../cluster/hypervisors.js';
import { nameSchema } from '../cluster/model.js';
import {
  absolutePath,
  COPY_FILE_MAX_BYTES,
  NODE_COMMAND_MAX_CHARS,
} from '../cluster/node-command-protocol.js';
import { nodeAddOpSchema } from '../cluster/opcodes.js';
import { userMasterRequestSchema } from '../master/master-protocol.js';
import { eventNameSchema, eventPayloadSchema } from '../membership/user-events.js';
import { bytesSchema } from '../peer/codec.js';

/** What the CLI may ask of its local daemon over the unix socket. */
export const controlRequestSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('status'), collectGarbage: z.boolean().optional() }),
  z.object({
    op: z.literal('token-create'),
    peer: z.string().min(1).max(128),
    lifetimeMs: z.number().int().positive(),
  }),
  z.object({
    op: z.literal('debug-echo'),
    peer: z.string().min(1).max(128),
    count: z.number().int().min(1).max(1_000_000),
    concurrency: z.number().int().min(1).max(1024),
    sizeBytes: z
      .number()
      .int()
      .min(0)
      .max(1024 * 1024),
  }),
  z.object({
    op: z.literal('debug-probe'),
    count: z.number().int().min(1).max(10_000),
    intervalMs: z.number().int().min(0).max(60_000),
  }),
  z.object({ op: z.literal('debug-probe-stats') }),
  /**
   * Drops every connection to these peers and refuses new ones until the next call; an empty list heals.
   * For partition simulations run without root.
   */
  z.object({ op: z.literal('debug-partition'), peers: z.array(z.string().min(1).max(128)).max(1024) }),
  /** A user event (serf's): a name and a small payload sent over gossip to every node. */
  z.object({ op: z.literal('event'), name: eventNameSchema, payload: eventPayloadSchema }),
  /** The user events this node has received (at most the last 1,024), optionally of one name. */
  z.object({ op: z.literal('events'), name: eventNameSchema.optional() }),
  z.object({ op: z.literal('raft-status') }),
  z.object({ op: z.literal('raft-transfer'), peer: z.string().min(1).max(128) }),
  z.object({
    op: z.literal('cluster-init'),
    name: nameSchema,
    secondaryIp: z.union([z.ipv4(), z.ipv6()]).optional(),
    enabledHypervisors: z.array(z.enum(hypervisors)).min(1).max(8).optional(),
    enabledDiskTemplates: z.array(z.enum(corralDiskTemplates)).min(1).max(16).optional(),
    candidatePoolSize: z.number().int().min(1).max(99).optional(),
  }),
  /**
   * Joins the cluster of the member at `member`, showing it a join token issued for this node. `add` is the
   * node add the member submits; its name defaults to the daemon's name, its address to where it listens.
   */
  z.object({
    op: z.literal('cluster-join'),
    member: z
      .string()
      .min(1)
      .max(256)
      .startsWith('/', 'a member address is a multiaddr such as /ip4/…/tcp/…'),
    token: z.string().min(1).max(512),
    add: nodeAddOpSchema
      .omit({ OP_ID: true, peer_id: true, enrol_code: true })
      .partial({ node_name: true, address: true }),
  }),
  /** Sent on to the master (submit, cancel, probe, transfer). */
  z.object({
    op: z.literal('master'),
    request: userMasterRequestSchema,
    /** How long to keep trying while there is no master (the daemon's forward deadline by default). */
    deadlineMs: z.number().int().min(100).max(600_000).optional(),
  }),
  z.object({ op: z.literal('master-failover') }),
  /**
   * Ganeti's cluster destroy, on the master of a cluster of one node with no instance and no unfinished job:
   * the node forgets the cluster and its daemon stops, as Ganeti's do.
   */
  z.object({ op: z.literal('cluster-destroy') }),
  /** gnt-cluster command: a shell command run as root on one node, this one or another member. */
  z.object({
    op: z.literal('node-command'),
    node: nameSchema,
    command: z.string().min(1).max(NODE_COMMAND_MAX_CHARS),
  }),
  /** gnt-cluster copyfile: a file written at the same path on one other node. */
  z.object({
    op: z.literal('node-copy-file'),
    node: nameSchema,
    path: absolutePath,
    mode: z.number().int().min(0).max(0o7777),
    data: bytesSchema.refine((data) => data.byteLength <= COPY_FILE_MAX_BYTES, 'a file of at most 3 MiB'),
  }),
  /** The configuration as this node has it; `consistent` asks the leader to confirm it first. */
  z.object({ op: z.literal('config'), consistent: z.boolean() }),
  z.object({
    op: z.literal('jobs'),
    ids: z.array(z.number().int().positive()).max(10_000).optional(),
    consistent: z.boolean(),
    /** Also the archived jobs the cluster still keeps (gnt-job list --archived, info). */
    archived: z.boolean().optional(),
  }),
  z.object({
    op: z.literal('job-wait'),
    job: z.number().int().positive(),
    afterVersion: z.number().int().min(-1),
    waitMs: z.number().int().min(0).max(60_000),
  }),
  z.object({ op: z.literal('kv-put'), key: z.string().min(1).max(1024), value: bytesSchema }),
  z.object({ op: z.literal('kv-get'), key: z.string().min(1).max(1024), linearizable: z.boolean() }),
  /** Every online node's live view (instances, memory, storage), asked of the nodes themselves. */
  z.object({ op: z.literal('nodes-live') }),
  /** Every online node's OS definitions and their validity (os list, info, diagnose). */
  z.object({ op: z.literal('os-diagnose') }),
  /** The console socket of an instance running on this node. */
  z.object({ op: z.literal('console'), instance: z.string().min(1).max(253) }),
  /** Every node (or one, by name or peer ID) as this node's gossip sees it; no master needed. */
  z.object({ op: z.literal('health'), node: z.string().min(1).max(253).optional() }),
  /** A node's full monitoring reports (this node's unless one is named). */
  z.object({ op: z.literal('monitor-reports'), node: z.string().min(1).max(253).optional() }),
  /** A configuration question asked of several nodes; the answer with the highest serial wins. */
  z.object({
    op: z.literal('config-query'),
    query: configQuerySchema,
    nodes: z.number().int().min(1).max(MAX_QUERY_NODES),
  }),
]);
export type ControlRequest = z.infer<typeof controlRequestSchema>;
