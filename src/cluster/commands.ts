import { Encoder } from 'cbor-x';
import { z } from 'zod';
import { errorCodes } from '../common/errors.js';
import { corralDiskTemplates } from './disk-templates.js';
import { hypervisors } from './hypervisors.js';
import { MAX_LOG_MESSAGE_CHARS, MAX_OPS_PER_JOB } from './jobs.js';
import { nameSchema } from './model.js';
import { mutationSchema } from './mutations.js';
import { opcodeSchema } from './opcodes.js';
import { rapiCertificateSchema } from './rapi-certificate.js';

/**
 * What the master commits through Raft. Every command carries the proposer's wall clock (`atMs`) so that
 * every node stamps the same times; the state machine never reads a clock of its own.
 */

const at = { atMs: z.number().int().nonnegative() };
const jobRef = { job: z.number().int().positive() };
const peerId = z.string().min(1).max(128);
const uuid = z.string().min(1).max(64);

export const clusterCommandSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('init'),
    ...at,
    cluster: z.object({
      name: nameSchema,
      uuid,
      candidatePoolSize: z.number().int().min(1).max(99),
      enabledHypervisors: z.array(z.enum(hypervisors)).min(1).max(8),
      enabledDiskTemplates: z.array(z.enum(corralDiskTemplates)).min(1).max(16),
    }),
    group: z.object({ uuid, name: nameSchema }),
    node: z.object({
      uuid,
      name: nameSchema,
      id: peerId,
      addrs: z.array(z.string().max(256)).max(16),
      primaryIp: z.string().min(1).max(64),
      secondaryIp: z.string().min(1).max(64),
    }),
    rapiCertificate: rapiCertificateSchema.optional(),
  }),
  /** A new leader records that it holds the master role; once applied, it has applied everything before it. */
  z.object({ type: z.literal('takeover'), ...at, node: peerId, term: z.number().int().positive() }),
  z.object({
    type: z.literal('submit'),
    ...at,
    key: z.string().min(8).max(128),
    priority: z.number().int().min(-20).max(19),
    ops: z.array(opcodeSchema).min(1).max(MAX_OPS_PER_JOB),
  }),
  z.object({
    type: z.literal('op-status'),
    ...at,
    ...jobRef,
    op: z.number().int().nonnegative(),
    status: z.enum(['waiting', 'running']),
  }),
  z.object({
    type: z.literal('job-log'),
    ...at,
    ...jobRef,
    entries: z
      .array(z.object({ type: z.enum(['message', 'hook']), message: z.string().max(MAX_LOG_MESSAGE_CHARS) }))
      .min(1)
      .max(100),
  }),
  z.object({
    type: z.literal('op-end'),
    ...at,
    ...jobRef,
    op: z.number().int().nonnegative(),
    /** Committed with the opcode's end, so a change and the record of it are one entry: never one without the other. */
    mutation: mutationSchema.optional(),
    /** When an opcode that was not marked running (an atomic one) started. */
    startMs: z.number().optional(),
    outcome: z.discriminatedUnion('ok', [
      z.object({ ok: z.literal(true), result: z.unknown() }),
      z.object({
        ok: z.literal(false),
        code: z.enum(errorCodes),
        message: z.string().max(MAX_LOG_MESSAGE_CHARS),
      }),
    ]),
  }),
  /**
   * Cancels a queued or waiting job. `kill` also ends a running one: the master stops its opcode at its next
   * wait (gnt-job cancel --kill); an interruptible test delay (gnt-debug delay -i) is canceled without it.
   */
  z.object({ type: z.literal('cancel'), ...at, ...jobRef, kill: z.boolean().optional() }),
  /** Moves a finished job from the job table to the archive (gnt-job archive). */
  z.object({ type: z.literal('archive'), ...at, ...jobRef }),
  /** Archives every finished job that ended at least `ageS` seconds before `atMs`; all of them without it. */
  z.object({ type: z.literal('autoarchive'), ...at, ageS: z.number().int().nonnegative().optional() }),
  /** Gives a queued or waiting job another priority (gnt-job change-priority). */
  z.object({
    type: z.literal('change-priority'),
    ...at,
    ...jobRef,
    priority: z.number().int().min(-20).max(19),
  }),
  /** A change the master makes outside any job: a node's new address, the candidate pool kept full. */
  z.object({ type: z.literal('config'), ...at, mutation: mutationSchema }),
]);
export type ClusterCommand = z.infer<typeof clusterCommandSchema>;

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true });

export function encodeClusterCommand(command: ClusterCommand): Uint8Array {
  return cbor.encode(command);
}

export function decodeClusterCommand(data: Uint8Array): ClusterCommand | undefined {
  let decoded: unknown;
  try {
    decoded = cbor.decode(data);
  } catch {
    return undefined;
  }
  const parsed = clusterCommandSchema.safeParse(decoded);
  return parsed.success ? parsed.data : undefined;
}
