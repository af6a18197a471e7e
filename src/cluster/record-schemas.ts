import { z } from 'zod';
import { diskFormats, diskModes, nameSchema, nicModes } from './model.js';

/**
 * The schemas of an instance's disks, NICs and backend parameters, shared by the replicated config's
 * mutations and the views of it that the CLI reads: apart from mutations.ts, which builds many more.
 */

const uuid = z.string().min(1).max(64);
const ip = z.string().min(1).max(64);

export const diskRecordSchema = z.object({
  uuid,
  name: nameSchema.optional(),
  sizeMiB: z
    .number()
    .int()
    .positive()
    .max(64 * 1024 * 1024),
  mode: z.enum(diskModes),
  format: z.enum(diskFormats),
});
export const nicRecordSchema = z.object({
  uuid,
  name: nameSchema.optional(),
  mac: z
    .string()
    .regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, 'a MAC address is six hex pairs, such as aa:00:00:12:34:56'),
  ip: ip.optional(),
  mode: z.enum(nicModes),
  link: z.string().max(64),
});
export const beParamsSchema = z.object({
  maxmemMiB: z
    .number()
    .int()
    .positive()
    .max(16 * 1024 * 1024),
  minmemMiB: z
    .number()
    .int()
    .positive()
    .max(16 * 1024 * 1024),
  vcpus: z.number().int().min(1).max(1024),
  autoBalance: z.boolean(),
  alwaysFailover: z.boolean(),
  spindleUse: z.number().int().min(0).max(1024),
});
