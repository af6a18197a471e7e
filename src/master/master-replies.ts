import { z } from 'zod';
import type { MasterRequest } from './master-protocol.js';

/**
 * The master's answers, by request: apart from its requests, which carry every opcode's schema, so that the
 * CLI can check an answer without building those.
 */
export const masterResponseSchemas = {
  submit: z.object({ job: z.number() }),
  cancel: z.object({}),
  ping: z.object({}),
  /** The watcher's pause as committed: until when, by the master's wall clock (null: not paused). */
  'cluster-flags': z.object({ watcherPauseUntilMs: z.number().nullable() }),
  archive: z.object({}),
  /** How many jobs were archived, and how many were left unchecked (always none: Corral checks them all). */
  autoarchive: z.object({ archived: z.number().int().nonnegative(), left: z.number().int().nonnegative() }),
  'change-priority': z.object({}),
  locks: z.object({
    locks: z
      .array(
        z.object({
          lock: z.string(),
          owners: z.array(z.object({ owner: z.number(), mode: z.string() })),
          pending: z.array(z.object({ owner: z.number(), mode: z.string() })),
        }),
      )
      .max(100_000),
  }),
  probe: z.object({
    peer: z.string(),
    name: z.string(),
    version: z.string(),
    cluster: z.object({ name: z.string(), uuid: z.string() }).optional(),
  }),
  transfer: z.object({}),
  mirror: z.object({ generation: z.number().int().nonnegative() }),
  lease: z.object({ leaseMs: z.number().int().positive(), fenceMarginMs: z.number().int().positive() }),
} satisfies Record<MasterRequest['op'], z.ZodType>;

export type MasterResponse<Op extends MasterRequest['op']> = z.infer<(typeof masterResponseSchemas)[Op]>;
