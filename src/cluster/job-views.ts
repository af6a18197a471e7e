import { z } from 'zod';
import { jobStatuses } from './jobs.js';
import { opcodeSchema } from './opcodes.js';

/** Job records as they travel to the CLI and RAPI, checked on arrival; apart from views.ts, for their opcodes' schema. */
export const jobViewSchema = z.object({
  id: z.number(),
  status: z.enum(jobStatuses),
  priority: z.number(),
  ops: z.array(
    z.object({
      input: opcodeSchema,
      status: z.enum(jobStatuses),
      result: z.unknown().optional(),
      startMs: z.number().optional(),
      endMs: z.number().optional(),
    }),
  ),
  log: z.array(
    z.object({
      serial: z.number(),
      tsMs: z.number(),
      type: z.enum(['message', 'hook']),
      message: z.string(),
    }),
  ),
  receivedMs: z.number(),
  startMs: z.number().optional(),
  endMs: z.number().optional(),
  version: z.number(),
});
export type JobView = z.infer<typeof jobViewSchema>;
