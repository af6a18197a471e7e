import { z } from 'zod';
import { configAnswerSchema } from '../cluster/config-query.js';
import { nodeCommandProtocol } from '../cluster/node-command-protocol.js';
import { nodeStatusSchema, osDiagnosisSchema } from '../cluster/node-status.js';
import { masterResponseSchemas } from '../master/master-replies.js';
import { healthRowSchema } from '../membership/health-view.js';
import { receivedEventSchema } from '../membership/user-events.js';
import { bytesSchema } from '../peer/codec.js';
import type { ControlRequest } from './control-protocol.js';

/**
 * The local daemon's answers to the CLI, by request (control-protocol.ts has the requests): the CLI checks
 * each answer against these, and loads nothing of the requests' schemas to do so.
 */

const latency = z.object({ count: z.number(), p50Ms: z.number(), p99Ms: z.number(), maxMs: z.number() });

export const statusSchema = z.object({
  nodeId: z.string(),
  name: z.string(),
  version: z.string(),
  addresses: z.array(z.string()),
  uptimeMs: z.number(),
  members: z.array(z.object({ id: z.string(), addrs: z.array(z.string()), connected: z.boolean() })),
  memory: z.object({ rssBytes: z.number(), heapUsedBytes: z.number() }),
});
export type DaemonStatus = z.infer<typeof statusSchema>;

export const controlResponseSchemas = {
  status: statusSchema,
  'token-create': z.object({ token: z.string(), expiresAtMs: z.number() }),
  'debug-echo': latency.extend({ elapsedMs: z.number(), requestsPerSecond: z.number() }),
  'debug-probe': z.object({ published: z.number() }),
  'debug-probe-stats': z.object({ delaysMs: z.array(z.tuple([z.number(), z.number()])) }),
  'debug-partition': z.object({ blocked: z.number() }),
  event: z.object({ sentAtMs: z.number() }),
  events: z.object({ events: z.array(receivedEventSchema) }),
  'raft-status': z.object({
    id: z.string(),
    role: z.string(),
    term: z.number(),
    leader: z.string().optional(),
    commit: z.number(),
    applied: z.number(),
    voters: z.array(z.string()),
    learners: z.array(z.string()),
  }),
  'raft-transfer': z.object({}),
  'cluster-init': z.object({ name: z.string() }),
  'cluster-join': z.object({ cluster: z.string(), node: z.string(), job: z.number() }),
  master: z.union([
    masterResponseSchemas.submit,
    masterResponseSchemas.probe,
    masterResponseSchemas.autoarchive,
    masterResponseSchemas.locks,
    masterResponseSchemas['cluster-flags'],
    masterResponseSchemas.cancel,
  ]),
  'master-failover': z.object({ master: z.string() }),
  'cluster-destroy': z.object({ cluster: z.string() }),
  'node-command': nodeCommandProtocol.response,
  'node-copy-file': z.object({}),
  config: z.object({
    /** The configuration snapshot (see src/cluster/config-view.ts), absent before cluster init. */
    config: z.unknown().optional(),
    master: z.string().optional(),
    staleMs: z.number().optional(),
    self: z.string(),
    raft: z
      .object({
        role: z.string(),
        term: z.number(),
        voters: z.array(z.string()),
        learners: z.array(z.string()),
      })
      .optional(),
  }),
  jobs: z.object({
    jobs: z.array(z.unknown()),
    /** With `archived`: the archived jobs still kept (see MAX_ARCHIVED_JOBS). */
    archived: z.array(z.unknown()).optional(),
    staleMs: z.number().optional(),
  }),
  'job-wait': z.object({ job: z.unknown() }),
  'kv-put': z.object({ revision: z.number() }),
  'kv-get': z.object({ value: bytesSchema.optional() }),
  'nodes-live': z.object({
    nodes: z.array(
      z.object({
        name: z.string(),
        status: nodeStatusSchema.optional(),
        error: z.string().optional(),
      }),
    ),
  }),
  'os-diagnose': z.object({
    nodes: z.array(
      z.object({
        name: z.string(),
        oses: z.array(osDiagnosisSchema).optional(),
        error: z.string().optional(),
      }),
    ),
  }),
  console: z.object({ path: z.string() }),
  health: z.object({ self: z.string(), rows: z.array(healthRowSchema) }),
  'monitor-reports': z.object({ node: z.string(), reports: z.array(z.unknown()) }),
  'config-query': z.object({
    node: z.string(),
    serial: z.number(),
    value: configAnswerSchema.shape.value,
    replies: z.array(
      z.object({ node: z.string(), serial: z.number().optional(), error: z.string().optional() }),
    ),
  }),
} satisfies Record<ControlRequest['op'], z.ZodType>;

export type ControlResponse<Op extends ControlRequest['op']> = z.infer<(typeof controlResponseSchemas)[Op]>;

export const CONTROL_FRAME_BYTES = 16 * 1024 * 1024;
export const CONTROL_SOCKET_FILE = 'corral.sock';
