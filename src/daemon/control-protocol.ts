import { z } from 'zod';

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
} satisfies Record<ControlRequest['op'], z.ZodType>;

export type ControlResponse<Op extends ControlRequest['op']> = z.infer<(typeof controlResponseSchemas)[Op]>;

export const CONTROL_FRAME_BYTES = 1024 * 1024;
export const CONTROL_SOCKET_FILE = 'corral.sock';
