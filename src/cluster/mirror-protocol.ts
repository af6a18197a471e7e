import { z } from 'zod';
import { bytesSchema } from '../peer/codec.js';
import { streamProtocol } from '../peer/protocol.js';

/**
 * The replication link of a mirrored (drbd) disk: the primary node opens one stream per disk to its
 * secondary and sends every write, flush and resync step on it, in order; the secondary applies them in that
 * order and answers each. The transport admits only cluster members; the secondary's end also checks that
 * the caller is the node its disk is mirrored from (src/daemon/mirror-service.ts).
 */

/** The unit of dirty tracking and of checksummed comparison, as DRBD's bitmap: 4 KiB. */
export const MIRROR_GRANULE_BYTES = 4096;
/** The largest write one frame carries; larger guest writes travel as several. */
export const MIRROR_MAX_WRITE_BYTES = 1024 * 1024;
/** Bytes of each granule's checksum (SHA-256, truncated). */
export const MIRROR_HASH_BYTES = 16;

export const mirrorStream = streamProtocol({
  name: 'mirror',
  major: 1,
  callers: 'member',
  maxFrameBytes: MIRROR_MAX_WRITE_BYTES + 4096,
});

const offset = z.number().int().nonnegative();
const seq = z.number().int().nonnegative();
const length = z
  .number()
  .int()
  .positive()
  .max(64 * 1024 * 1024);

/** The primary's first frame: which disk it mirrors, at which size and generation. */
export const mirrorHelloSchema = z.object({
  instance: z.string().min(1).max(64),
  disk: z.string().min(1).max(64),
  sizeBytes: z.number().int().nonnegative(),
  generation: z.number().int().nonnegative(),
});
export type MirrorHello = z.infer<typeof mirrorHelloSchema>;

export const toSecondarySchema = z.discriminatedUnion('t', [
  /** Write these bytes here (a guest write or a resync copy); with fua, durably before the answer. */
  z.object({ t: z.literal('w'), s: seq, o: offset, d: bytesSchema, fua: z.boolean() }),
  /** Write zeros over this range. */
  z.object({ t: z.literal('z'), s: seq, o: offset, n: length, fua: z.boolean() }),
  /** Make everything written so far durable. */
  z.object({ t: z.literal('f'), s: seq }),
  /** Send back the checksum of each granule of this range (a checksummed resync). */
  z.object({ t: z.literal('h'), s: seq, o: offset, n: length }),
  /** Record whether this copy is now consistent (a resync finished) or not (one starts), at a generation. */
  z.object({ t: z.literal('c'), s: seq, g: z.number().int().nonnegative(), consistent: z.boolean() }),
]);
export type ToSecondary = z.infer<typeof toSecondarySchema>;

export const toPrimarySchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('a'), s: seq }),
  z.object({ t: z.literal('H'), s: seq, h: bytesSchema }),
  /** The secondary could not do it: the link ends and the primary goes on degraded. */
  z.object({ t: z.literal('e'), s: seq, m: z.string().max(1024) }),
]);
export type ToPrimary = z.infer<typeof toPrimarySchema>;

/**
 * The secondary's first frame: it holds an attached copy of that disk mirrored from the caller. With `data`,
 * the frames travel on a TLS connection with this one-time pre-shared key instead of this stream.
 */
export const mirrorWelcomeSchema = z.object({
  accepted: z.literal(true),
  data: z
    .object({
      port: z.number().int().min(1).max(65_535),
      identity: z.string().min(1).max(64),
      key: bytesSchema.refine((key) => key.byteLength === 32, 'a key is 32 bytes'),
    })
    .optional(),
});
