import { z } from 'zod';
import { corralDiskTemplates } from './disk-templates.js';
import { hypervisors } from './hypervisors.js';

/**
 * What a node reports of itself (agent-status) and of its OS definitions (agent-os-diagnose): apart from the
 * agent's other protocols, so that the CLI, which shows these, does not build all of those schemas to start.
 */

const uuid = z.string().min(1).max(64);
const generation = z.number().int().nonnegative();

export const instanceStatusSchema = z.object({
  name: z.string(),
  uuid: z.string(),
  hypervisor: z.enum(hypervisors),
  state: z.enum(['running', 'paused', 'incoming', 'shutdown']),
  memoryMiB: z.number(),
  vcpus: z.number(),
  startedMs: z.number(),
});
export type AgentInstanceStatus = z.infer<typeof instanceStatusSchema>;

export const mirrorDiskStatusSchema = z.object({
  instance: uuid,
  uuid,
  index: z.number().int().min(0).max(15),
  role: z.enum(['primary', 'secondary']),
  peer: z.string().max(128),
  copy: z.object({ generation, consistent: z.boolean() }),
  primary: z
    .object({
      connection: z.enum(['connected', 'syncing', 'disconnected']),
      peerOutdated: z.boolean(),
      generation,
      dirtyBytes: z.number().nonnegative(),
      syncPercent: z.number().min(0).max(100),
      resyncBytesSent: z.number().nonnegative(),
      failed: z.string().max(1024).optional(),
    })
    .optional(),
});
export type MirrorDiskStatusView = z.infer<typeof mirrorDiskStatusSchema>;

export const osDiagnosisSchema = z.object({
  name: z.string().max(128),
  dir: z.string().max(4096),
  valid: z.boolean(),
  reason: z.string().max(1024).optional(),
  apiVersions: z.array(z.number()).max(16),
  variants: z.array(z.string().max(128)).max(256),
  parameters: z.array(z.object({ name: z.string().max(128), description: z.string().max(1024) })).max(256),
});

/** The node's live view: its instances, memory and storage. */
export const nodeStatusSchema = z.object({
  instances: z.array(instanceStatusSchema).max(4096),
  /** The mirrored disks attached here: role, link and sync (the watcher re-attaches missing ones). */
  mirrors: z.array(mirrorDiskStatusSchema).max(4096),
  memoryTotalMiB: z.number(),
  memoryFreeMiB: z.number(),
  memoryInstancesMiB: z.number(),
  cpus: z.number(),
  /** Absent from nodes that predate them. */
  cpuSockets: z.number().optional(),
  numaNodes: z.number().optional(),
  storage: z.array(
    z.object({
      template: z.enum(corralDiskTemplates),
      available: z.boolean(),
      reason: z.string().max(1024).optional(),
      totalMiB: z.number().optional(),
      freeMiB: z.number().optional(),
      /** The directory or volume group; absent from nodes that predate it. */
      location: z.string().max(4096).optional(),
    }),
  ),
});
