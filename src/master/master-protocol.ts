import { z } from 'zod';
import { MAX_OPS_PER_JOB } from '../cluster/jobs.js';
import { opcodeSchema } from '../cluster/opcodes.js';
import { requestProtocol } from '../peer/protocol.js';
import { masterResponseSchemas } from './master-replies.js';
import { defaultControlTimings } from './timings.js';

/** What a user's command asks the master, through any node: the calls that change the cluster or need its reach. */
const userRequests = [
  z.object({
    op: z.literal('submit'),
    /** Chosen by the submitter; a retry with the same key finds the job the first try made. */
    key: z.string().min(8).max(128),
    priority: z.number().int().min(-20).max(19),
    ops: z.array(opcodeSchema).min(1).max(MAX_OPS_PER_JOB),
    /**
     * Ganeti's SubmitJobToDrainedQueue: taken while the queue is drained. Only for a job of redist-conf
     * alone (gnt-cluster redist-conf --yes-do-it); the master refuses it for any other.
     */
    toDrainedQueue: z.boolean().optional(),
  }),
  /** Answered by the master itself, to show it answers (gnt-cluster master-ping). */
  z.object({ op: z.literal('ping') }),
  /**
   * Ganeti's SetDrainFlag and SetWatcherPause: the queue drained or not, the watcher (and automatic failover)
   * paused for `watcherPauseMs` from now by the master's clock, or no longer (null). Committed through Raft.
   */
  z.object({
    op: z.literal('cluster-flags'),
    queueDrained: z.boolean().optional(),
    watcherPauseMs: z
      .number()
      .int()
      .nonnegative()
      .max(10 * 365 * 86_400_000)
      .nullable()
      .optional(),
  }),
  /** `kill` also stops a running job (gnt-job cancel --kill --yes-do-it). */
  z.object({ op: z.literal('cancel'), job: z.number().int().positive(), kill: z.boolean().optional() }),
  /** Moves a finished job to the archive (gnt-job archive). */
  z.object({ op: z.literal('archive'), job: z.number().int().positive() }),
  /** Archives the finished jobs older than `ageS` seconds, or all of them (gnt-job autoarchive). */
  z.object({ op: z.literal('autoarchive'), ageS: z.number().int().nonnegative().optional() }),
  z.object({
    op: z.literal('change-priority'),
    job: z.number().int().positive(),
    priority: z.number().int().min(-20).max(19),
  }),
  /** The master's lock table, read only: who holds each lock and who waits for it (gnt-debug locks). */
  z.object({ op: z.literal('locks') }),
  /** Who answers at this address: shown by `node add` before it admits anyone. */
  z.object({ op: z.literal('probe'), address: z.string().min(1).max(256) }),
  /** Hands the master role to `to` through Raft leadership transfer. */
  z.object({ op: z.literal('transfer'), to: z.string().min(1).max(128) }),
] as const;
export const userMasterRequestSchema = z.discriminatedUnion('op', [...userRequests]);

/** What a node's daemon forwards to the master: its users' requests, and its own reports. */
export const masterRequestSchema = z.discriminatedUnion('op', [
  ...userRequests,
  /**
   * The primary of a mirrored instance reports on its peer's copies: they missed a write (outdate), or a
   * resync brought them level (synced). Only the instance's primary, by the caller's peer ID, is heard.
   */
  z.object({
    op: z.literal('mirror'),
    report: z.enum(['outdate', 'synced']),
    instance: z.string().min(1).max(64),
    generation: z.number().int().nonnegative(),
  }),
  /**
   * A node renews its lease, for itself (the caller's peer ID): the master answers once a quorum has
   * confirmed it still leads. Without a lease a node runs no guest (notes/leases.md).
   */
  z.object({ op: z.literal('lease') }),
]);
export type MasterRequest = z.infer<typeof masterRequestSchema>;

export const masterProtocol = requestProtocol({
  name: 'master',
  major: 1,
  // Forwarded by any member's daemon for its local root user; a join-token holder may not submit.
  callers: 'member',
  request: masterRequestSchema,
  // The first shape that fits wins, and the empty one fits anything (dropping its fields): it comes last.
  response: z.union([
    masterResponseSchemas.submit,
    masterResponseSchemas.probe,
    masterResponseSchemas.mirror,
    masterResponseSchemas.lease,
    masterResponseSchemas.autoarchive,
    masterResponseSchemas.locks,
    masterResponseSchemas['cluster-flags'],
    masterResponseSchemas.cancel,
  ]),
  // Callers pass their own forwardDeadlineMs; this is its default, for a call that does not.
  timeoutMs: defaultControlTimings.forwardDeadlineMs,
  maxFrameBytes: 1024 * 1024,
});
