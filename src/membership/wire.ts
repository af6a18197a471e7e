import { z } from 'zod';
import { asNodeId, type NodeId } from '../common/ids.js';
import { messageProtocol, requestProtocol, topic } from '../peer/protocol.js';
import { type HealthRecord, healthRecordSchema, MAX_HEALTH_BYTES } from './health.js';
import type { MemberState, Rumor } from './swim.js';
import { MAX_RUMORS_PER_MESSAGE } from './swim-config.js';

const nodeId = z
  .string()
  .min(1)
  .max(128)
  .transform((id): NodeId => asNodeId(id));
const incarnation = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

const rumor: z.ZodType<Rumor, unknown> = z.object({
  node: nodeId,
  state: z.enum(['suspect', 'dead', 'left']),
  incarnation,
});

/** A heartbeat (with the sender's health) or a rumour sent at once (without). */
export interface GossipMessage {
  readonly incarnation: number;
  readonly rumors: readonly Rumor[];
  readonly health?: HealthRecord;
}

/** Every member publishes here; the sender's incarnation on every message says that it is alive. */
export const membershipTopic = topic<GossipMessage>({
  name: 'membership',
  major: 1,
  callers: 'member',
  message: z.object({
    incarnation,
    rumors: z.array(rumor).max(MAX_RUMORS_PER_MESSAGE),
    health: healthRecordSchema.optional(),
  }),
  // A full record and a full list of rumours with the longest IDs, with room to spare.
  maxFrameBytes: MAX_HEALTH_BYTES + 4096,
});

export interface Notice {
  readonly state: MemberState;
  readonly incarnation: number;
}

/** What the sender holds about the receiver, sent to it alone so that it can refute. */
export const noticeProtocol = messageProtocol<Notice>({
  name: 'membership-notice',
  major: 1,
  callers: 'member',
  message: z.object({ state: z.enum(['alive', 'suspect', 'dead', 'left']), incarnation }),
  maxFrameBytes: 128,
});

export interface IndirectProbe {
  readonly target: NodeId;
  /** How long the helper's own ping may wait. */
  readonly timeoutMs: number;
}

/** Asks a member to ping the target for us: ack true if it answered, false (a nack) if not. */
export const indirectProbeProtocol = requestProtocol<IndirectProbe, { readonly ack: boolean }>({
  name: 'membership-probe',
  major: 1,
  callers: 'member',
  request: z.object({ target: nodeId, timeoutMs: z.number().int().min(1).max(10_000) }),
  response: z.object({ ack: z.boolean() }),
  timeoutMs: 10_000,
  maxFrameBytes: 512,
});

const monitorReportSchema = z.object({
  name: z.string().min(1).max(64),
  version: z.literal('B'),
  format_version: z.literal(1),
  timestamp: z.number(),
  category: z.enum(['instance', 'storage', 'daemon', 'hypervisor']).nullable(),
  kind: z.union([z.literal(0), z.literal(1)]),
  data: z.unknown(),
});

/** A node's full monitoring reports, asked of it directly: they never ride the gossip. */
export const monitorReportsProtocol = requestProtocol({
  name: 'monitor-reports',
  major: 1,
  callers: 'member',
  request: z.object({}),
  response: z.object({ reports: z.array(monitorReportSchema).max(16) }),
  timeoutMs: 5_000,
  maxFrameBytes: 2 * 1024 * 1024,
});
