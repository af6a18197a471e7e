import { z } from 'zod';
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
  z.object({ op: z.literal('raft-status') }),
  z.object({ op: z.literal('raft-add-voter'), peer: z.string().min(1).max(128) }),
  z.object({ op: z.literal('raft-transfer'), peer: z.string().min(1).max(128) }),
  z.object({ op: z.literal('kv-put'), key: z.string().min(1).max(1024), value: bytesSchema }),
  z.object({ op: z.literal('kv-get'), key: z.string().min(1).max(1024), linearizable: z.boolean() }),
]);
export type ControlRequest = z.infer<typeof controlRequestSchema>;

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
  'raft-add-voter': z.object({ voters: z.array(z.string()) }),
  'raft-transfer': z.object({}),
  'kv-put': z.object({ revision: z.number() }),
  'kv-get': z.object({ value: bytesSchema.optional() }),
} satisfies Record<ControlRequest['op'], z.ZodType>;

export type ControlResponse<Op extends ControlRequest['op']> = z.infer<(typeof controlResponseSchemas)[Op]>;

export const CONTROL_FRAME_BYTES = 1024 * 1024;
export const CONTROL_SOCKET_FILE = 'corral.sock';
