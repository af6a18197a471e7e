import { z } from 'zod';
import { asNodeId, type NodeId } from '../common/ids.js';
import { bytesSchema } from '../peer/codec.js';
import { messageProtocol } from '../peer/protocol.js';
import type { Entry, Membership, MembershipChange, Message, SnapshotMeta } from './types.js';

/** Raft messages between peers: schemas that accept exactly the shapes in types.ts, and nothing else. */
const nodeId = z
  .string()
  .min(1)
  .max(128)
  .transform((id): NodeId => asNodeId(id));
const index = z.number().int().nonnegative();

const membership: z.ZodType<Membership, unknown> = z.object({
  voters: z.array(nodeId).max(64),
  learners: z.array(nodeId).max(64),
});

const change: z.ZodType<MembershipChange, unknown> = z.object({
  type: z.enum(['addLearner', 'promote', 'remove']),
  node: nodeId,
});

const entry: z.ZodType<Entry, unknown> = z.discriminatedUnion('type', [
  z.object({ type: z.literal('normal'), index, term: index, data: bytesSchema }),
  z.object({ type: z.literal('membership'), index, term: index, change }),
]);

const snapshotMeta: z.ZodType<SnapshotMeta, unknown> = z.object({ index, term: index, membership });

const envelope = { from: nodeId, to: nodeId, term: index };

// Picked by type, not tried in turn: every message but the first kind would otherwise fail each shape before
// its own, building an error for each, on the hottest path a daemon has.
export const raftMessageSchema: z.ZodType<Message, unknown> = z.discriminatedUnion('type', [
  z.object({
    ...envelope,
    type: z.enum(['preVote', 'vote']),
    lastIndex: index,
    lastTerm: index,
    transfer: z.boolean(),
  }),
  z.object({ ...envelope, type: z.enum(['preVoteResp', 'voteResp']), granted: z.boolean() }),
  z
    .object({
      ...envelope,
      type: z.literal('append'),
      prevIndex: index,
      prevTerm: index,
      entries: z.array(entry).max(4096),
      commit: index,
    })
    // The core assumes an append's entries follow prevIndex without gaps; a peer's word is not enough.
    .refine(
      (m) => m.entries.every((e, i) => e.index === m.prevIndex + 1 + i),
      'append entries are not contiguous',
    ),
  z.object({
    ...envelope,
    type: z.literal('appendResp'),
    index,
    reject: z.boolean(),
    hintIndex: index,
    hintTerm: index,
  }),
  z.object({ ...envelope, type: z.literal('heartbeat'), commit: index, readSeq: index }),
  z.object({ ...envelope, type: z.literal('heartbeatResp'), readSeq: index }),
  z.object({
    ...envelope,
    type: z.literal('snapshot'),
    meta: snapshotMeta,
    totalBytes: index,
    offsetBytes: index,
    chunk: bytesSchema,
  }),
  z.object({ ...envelope, type: z.literal('snapshotResp'), snapshotIndex: index, receivedBytes: index }),
  z.object({ ...envelope, type: z.literal('timeoutNow') }),
  z.object({ ...envelope, type: z.literal('readIndex'), requestId: index }),
  z
    .object({ ...envelope, type: z.literal('readIndexResp'), requestId: index, index: index.optional() })
    // The core's type keeps the key present even when no index could be served.
    .transform((m) => ({ ...m, index: m.index })),
]);

/** Appends carry up to maxBytesPerAppend (1 MiB) and snapshot chunks 256 KiB; leave room for the envelope. */
export const raftProtocol = messageProtocol({
  name: 'raft',
  major: 1,
  callers: 'member',
  message: raftMessageSchema,
  maxFrameBytes: 2 * 1024 * 1024,
});
