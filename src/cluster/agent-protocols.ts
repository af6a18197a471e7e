import { z } from 'zod';
import { bytesSchema } from '../peer/codec.js';
import { type RequestProtocol, requestProtocol } from '../peer/protocol.js';
import { MAX_MAP_EXTENTS, mapProblem } from '../storage/extents.js';
import { corralDiskTemplates } from './disk-templates.js';
import { hypervisors } from './hypervisors.js';
import { diskFormats, diskModes, nameSchema } from './model.js';
import { mirrorDiskStatusSchema, nodeStatusSchema, osDiagnosisSchema } from './node-status.js';
import { nicRecordSchema } from './record-schemas.js';

/**
 * What the master asks of a node's agent (Ganeti's noded RPCs). The agent keeps no copy of the config: every
 * request carries what it needs, resolved by the master, so a node answers the same whoever is master.
 */

const uuid = z.string().min(1).max(64);
const params = z.record(z.string().max(64), z.string().max(1024));

export const agentDiskSchema = z.object({
  uuid,
  index: z.number().int().min(0).max(15),
  sizeMiB: z.number().int().positive(),
  mode: z.enum(diskModes),
  format: z.enum(diskFormats),
  name: nameSchema.optional(),
});
export type AgentDisk = z.infer<typeof agentDiskSchema>;

/** One instance as a node needs it to place disks and run the guest. */
export const runtimeSpecSchema = z.object({
  name: nameSchema,
  uuid,
  hypervisor: z.enum(hypervisors),
  memoryMiB: z.number().int().positive(),
  vcpus: z.number().int().positive(),
  hvParams: params,
  diskTemplate: z.enum(corralDiskTemplates),
  disks: z.array(agentDiskSchema).max(16),
  nics: z.array(nicRecordSchema).max(8),
});
export type RuntimeSpec = z.infer<typeof runtimeSpecSchema>;

/** What OS scripts see of the instance besides its disks (Ganeti's OS environment). */
export const osInstanceSchema = z.object({
  os: z.string().min(1).max(128),
  primaryNode: z.string().max(253),
  secondaryNodes: z.array(z.string().max(253)).max(1),
  ctimeMs: z.number(),
  mtimeMs: z.number(),
  beParams: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  osParams: params,
});

const portSchema = z.number().int().min(0).max(65_535);
const endpointSchema = z.object({
  host: z.string().max(253),
  port: portSchema,
  storage: z.object({ port: portSchema, exports: z.array(z.string().max(64)).max(16).readonly() }).optional(),
});
const scriptRunSchema = z.object({
  exitCode: z.number().int().optional(),
  signal: z.string().max(32).optional(),
  timedOut: z.boolean(),
  output: z.string().max(256 * 1024),
});
export type AgentScriptRun = z.infer<typeof scriptRunSchema>;

/** One OS definition on one node, valid or with the reason it is not. */
const empty = z.object({});
const instanceIdent = z.object({ name: nameSchema, uuid });
const generation = z.number().int().nonnegative();
const instanceRef = z.object({ name: nameSchema, hypervisor: z.enum(hypervisors) });
/** A PCI bus has 32 slots. */
const pciSlot = z.number().int().min(0).max(31);
const deviceKind = z.enum(['disk', 'nic']);
/** A running guest's devices on their slots (the hypervisor's GuestDevices), which a migration target rebuilds. */
const guestDevicesSchema = z.object({
  disks: z.array(z.object({ uuid, pciSlot: pciSlot.optional() })).max(16),
  nics: z
    .array(
      nicRecordSchema
        .pick({ uuid: true, mac: true, mode: true, link: true })
        .extend({ pciSlot: pciSlot.optional() }),
    )
    .max(8),
  hotplugRefusals: z.object({ disk: z.string().max(1024).optional(), nic: z.string().max(1024).optional() }),
});
export type AgentGuestDevices = z.infer<typeof guestDevicesSchema>;
/** Copying a disk moves it in chunks of this size; each chunk is one request. */
export const DISK_CHUNK_BYTES = 1024 * 1024;
/** A chunk of a disk or a dump, read from another node, and whether it was the last. */
const chunkSchema = z.object({
  data: bytesSchema,
  eof: z.boolean(),
  /** A chunk that held only zeros comes as their count, without its bytes (a hole in a sparse disk). */
  zeros: z.number().int().positive().max(DISK_CHUNK_BYTES).optional(),
});
const CHUNK_FRAME_BYTES = DISK_CHUNK_BYTES + 64 * 1024;
/** One disk of an instance on a node, as the disk requests name it. */
const instanceDisk = z.object({
  instance: z.object({ name: nameSchema, uuid }),
  template: z.enum(corralDiskTemplates),
  disk: agentDiskSchema,
});
const byteOffset = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
/** A disk's data extents over [from, until): in order, within the disk, a frame's worth at most. */
const diskMapSchema = z
  .object({
    lengthBytes: byteOffset,
    extents: z
      .array(z.object({ offset: byteOffset, length: byteOffset }))
      .max(MAX_MAP_EXTENTS)
      .readonly(),
    until: byteOffset,
  })
  .superRefine((map, context) => {
    const problem = mapProblem(map, 0);
    if (problem !== undefined) context.addIssue({ code: 'custom', message: `a disk map: ${problem}` });
  });

/** An OS script run: the instance as its scripts see it, and how long it may take. */
const osRunSchema = z.object({
  spec: runtimeSpecSchema,
  instance: osInstanceSchema,
  extraEnv: params,
  timeoutMs: z
    .number()
    .int()
    .positive()
    .max(6 * 3600_000),
});
export type OsRun = z.infer<typeof osRunSchema>;
/** An instance export on a node: a directory named after the instance. */
const exportName = z.string().min(1).max(253);
const dumpFile = z.string().min(1).max(128);
const nodeIdText = z.string().min(1).max(128);
const dumpRun = z.object({ run: scriptRunSchema, bytes: z.number().int().nonnegative() });

/**
 * What a node's agent serves. Everything that changes a node is the master's; reads are open to members: a
 * node's status, OS list and parameter checks, and the chunks one node pulls from or pushes to another while
 * it copies a disk, an export or an import for the master (the master ordered the copy and checks what
 * arrives; the node receiving a pushed chunk keeps it in an unfinished export only the master can finalize).
 */
export const agentProtocols = {
  /** The node's live view: its instances, memory and storage (live fields, the watcher, placement). */
  status: requestProtocol({
    name: 'agent-status',
    major: 1,
    callers: 'member',
    /** Storage figures cost a few tool runs (lvm's vgs): asked for only where placement needs them. */
    request: z.object({ storage: z.boolean().optional() }),
    response: nodeStatusSchema,
    maxFrameBytes: 4 * 1024 * 1024,
  }),
  /** Ganeti's node powercycle: the node schedules a hard reboot of its machine and says so. */
  powercycle: requestProtocol({
    name: 'agent-powercycle',
    major: 1,
    callers: 'master',
    request: z.object({}),
    response: z.object({ scheduled: z.string().max(256) }),
  }),
  /** Ganeti's restricted command: an executable of the node's restricted-commands directory, by name. */
  restrictedCommand: requestProtocol({
    name: 'agent-restricted-command',
    major: 1,
    callers: 'master',
    request: z.object({ command: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'a restricted command name') }),
    response: z.object({ ok: z.boolean(), output: z.string().max(1024 * 1024 + 1024) }),
    timeoutMs: 11 * 60_000,
    maxFrameBytes: 2 * 1024 * 1024,
  }),
  checkParams: requestProtocol({
    name: 'agent-check-params',
    major: 1,
    callers: 'member',
    request: z.object({ hypervisor: z.enum(hypervisors), hvParams: params }),
    response: empty,
  }),
  disks: requestProtocol({
    name: 'agent-disks',
    major: 1,
    callers: 'master',
    request: z.object({
      /** `sizes`: each disk's size here (cluster repair-disk-sizes), null for a missing one. */
      action: z.enum(['create', 'remove', 'check', 'sizes']),
      instance: z.object({ name: nameSchema, uuid }),
      template: z.enum(corralDiskTemplates),
      disks: z.array(agentDiskSchema).max(16),
    }),
    /** Each disk's path on the node, in request order ('' for diskless); for `sizes`, each one's MiB. */
    response: z.object({
      paths: z.array(z.string().max(4096)),
      sizesMiB: z.array(z.number().int().nonnegative().nullable()).max(16).optional(),
      /** For `sizes`: where the template keeps its disks (the volume group or directory), if it says. */
      location: z.string().max(4096).optional(),
    }),
    timeoutMs: 10 * 60_000,
  }),
  /** Ganeti's repair-storage on this node: the template's storage, named as its status names it (the VG). */
  repairStorage: requestProtocol({
    name: 'agent-repair-storage',
    major: 1,
    callers: 'master',
    request: z.object({ template: z.enum(corralDiskTemplates), name: z.string().min(1).max(4096) }),
    response: z.object({ output: z.string().max(64 * 1024) }),
    timeoutMs: 5 * 60_000,
  }),
  growDisk: requestProtocol({
    name: 'agent-grow-disk',
    major: 1,
    callers: 'master',
    request: instanceDisk.extend({
      newSizeMiB: z.number().int().positive(),
    }),
    response: empty,
    timeoutMs: 10 * 60_000,
  }),
  /** Runs one OS script with the instance's disks; its output goes back for the job log. */
  os: requestProtocol({
    name: 'agent-os',
    major: 1,
    callers: 'master',
    request: osRunSchema.extend({ script: z.enum(['create', 'rename', 'verify']) }),
    response: scriptRunSchema,
    timeoutMs: 6 * 3600_000,
    maxFrameBytes: 1024 * 1024,
  }),
  osDiagnose: requestProtocol({
    name: 'agent-os-diagnose',
    major: 1,
    callers: 'member',
    request: empty,
    response: z.object({
      oses: z.array(osDiagnosisSchema).max(1024),
    }),
    maxFrameBytes: 1024 * 1024,
  }),
  start: requestProtocol({
    name: 'agent-start',
    major: 1,
    callers: 'master',
    request: z.object({ spec: runtimeSpecSchema, paused: z.boolean() }),
    response: empty,
    timeoutMs: 5 * 60_000,
  }),
  stop: requestProtocol({
    name: 'agent-stop',
    major: 1,
    callers: 'master',
    request: instanceRef.extend({ timeoutMs: z.number().int().min(0).max(86_400_000), force: z.boolean() }),
    response: empty,
    timeoutMs: 25 * 3600_000,
  }),
  reboot: requestProtocol({
    name: 'agent-reboot',
    major: 1,
    callers: 'master',
    request: instanceRef.extend({ kind: z.enum(['soft', 'hard']) }),
    response: empty,
    timeoutMs: 5 * 60_000,
  }),
  /** Ganeti's instance_balloon_memory: the running instance's memory changes to memoryMiB. */
  balloon: requestProtocol({
    name: 'agent-balloon',
    major: 1,
    callers: 'master',
    request: instanceRef.extend({ memoryMiB: z.number().int().positive() }),
    response: empty,
    timeoutMs: 60_000,
  }),
  /** The devices of the guest running here, as it runs, whatever the config says since. */
  guestDevices: requestProtocol({
    name: 'agent-guest-devices',
    major: 1,
    callers: 'master',
    request: instanceRef,
    response: guestDevicesSchema,
    timeoutMs: 60_000,
  }),
  /**
   * Ganeti's hotplug_device: plugs the disk or NIC of `spec` with this UUID into the running guest (into
   * `pciSlot` when given: a NIC modified goes back where it was), or unplugs one.
   */
  hotplug: requestProtocol({
    name: 'agent-hotplug',
    major: 1,
    callers: 'master',
    request: z.discriminatedUnion('action', [
      z.object({
        action: z.literal('add'),
        spec: runtimeSpecSchema,
        kind: deviceKind,
        uuid,
        pciSlot: pciSlot.optional(),
      }),
      instanceRef.extend({ action: z.literal('remove'), kind: deviceKind, uuid }),
    ]),
    response: z.object({ pciSlot: pciSlot.optional() }),
    timeoutMs: 2 * 60_000,
  }),
  migrateAccept: requestProtocol({
    name: 'agent-migrate-accept',
    major: 1,
    callers: 'master',
    request: z.object({
      spec: runtimeSpecSchema,
      /** The source guest's devices, which the target rebuilds on the same slots (the config may differ). */
      devices: guestDevicesSchema.optional(),
      bindHost: z.string().max(253),
      copyStorage: z.boolean(),
      /** The guest stays paused until migrate-finish (a mirrored disk changes roles in between). */
      holdPaused: z.boolean().optional(),
    }),
    response: endpointSchema,
    timeoutMs: 5 * 60_000,
  }),
  migrateSend: requestProtocol({
    name: 'agent-migrate-send',
    major: 1,
    callers: 'master',
    request: instanceRef.extend({ endpoint: endpointSchema, live: z.boolean() }),
    response: z.object({ totalMs: z.number(), downtimeMs: z.number(), transferredBytes: z.number() }),
    timeoutMs: 6 * 3600_000,
  }),
  migrateFinish: requestProtocol({
    name: 'agent-migrate-finish',
    major: 1,
    callers: 'master',
    request: instanceRef.extend({ succeeded: z.boolean() }),
    response: empty,
    timeoutMs: 5 * 60_000,
  }),
  /**
   * Attaches an instance's mirrored (drbd) disks here in a role, detaches them, or reports them. The primary
   * links to the peer named and serves the disks to the hypervisor; the secondary takes that peer's link only.
   */
  mirror: requestProtocol({
    name: 'agent-mirror',
    major: 1,
    callers: 'master',
    request: z.discriminatedUnion('action', [
      z.object({
        action: z.literal('attach'),
        instance: instanceIdent,
        disks: z.array(agentDiskSchema).max(16),
        role: z.enum(['primary', 'secondary']),
        peer: z.string().min(1).max(128),
        /** The peer's address on the replication network (its secondary IP), where its data port is. */
        peerHost: z.string().min(1).max(253),
        generation,
        peerCurrent: z.boolean(),
        force: z.boolean(),
      }),
      z.object({ action: z.literal('detach'), instance: instanceIdent }),
      z.object({ action: z.literal('status'), instance: instanceIdent }),
      /** The primary mirrors to a new or remade copy on `peer`, stale at `generation` (replace-disks). */
      z.object({
        action: z.literal('retarget'),
        instance: instanceIdent,
        peer: z.string().min(1).max(128),
        peerHost: z.string().min(1).max(253),
        generation,
      }),
    ]),
    response: z.object({ disks: z.array(mirrorDiskStatusSchema).max(16) }),
    timeoutMs: 60_000,
  }),
  /**
   * Converts the instance's disks from one template to another on this node (instance modify -t): each is
   * copied into the new template, then removed from the old. The instance is stopped and its disks detached.
   */
  convertDisks: requestProtocol({
    name: 'agent-convert-disks',
    major: 1,
    callers: 'master',
    request: z.object({
      instance: instanceIdent,
      from: z.enum(corralDiskTemplates),
      to: z.enum(corralDiskTemplates),
      disks: z.array(agentDiskSchema).max(16),
    }),
    response: z.object({ bytes: z.number().nonnegative() }),
    timeoutMs: 24 * 3600_000,
  }),
  /**
   * Reads one chunk of a disk, for copying it to another node: `length` bytes from `offset` (a piece of data
   * the disk's map showed), a whole chunk without one.
   */
  readDisk: requestProtocol({
    name: 'agent-read-disk',
    major: 1,
    callers: 'member',
    request: instanceDisk.extend({
      offset: z.number().int().nonnegative(),
      length: z.number().int().positive().max(DISK_CHUNK_BYTES).optional(),
    }),
    response: chunkSchema,
    maxFrameBytes: CHUNK_FRAME_BYTES,
    timeoutMs: 60_000,
  }),
  /**
   * Where a disk's data lies from `from` on, for copying only that (readDisk then skips the holes). No map
   * when the template cannot tell: the copy then reads the whole disk.
   */
  mapDisk: requestProtocol({
    name: 'agent-map-disk',
    major: 1,
    callers: 'member',
    request: instanceDisk.extend({
      from: z.number().int().nonnegative(),
    }),
    response: z.object({ map: diskMapSchema.optional() }),
    maxFrameBytes: 256 * 1024,
    timeoutMs: 60_000,
  }),
  /** Runs the OS export script for one disk here and sends the dump to the node keeping the export. */
  exportDisk: requestProtocol({
    name: 'agent-export-disk',
    major: 1,
    callers: 'master',
    request: osRunSchema.extend({
      disk: z.number().int().min(0).max(15),
      to: nodeIdText,
      name: exportName,
      file: dumpFile,
    }),
    response: dumpRun,
    timeoutMs: 25 * 3600_000,
    maxFrameBytes: 1024 * 1024,
  }),
  /** One chunk of a dump, in order, into the export being made here. */
  exportWrite: requestProtocol({
    name: 'agent-export-write',
    major: 1,
    callers: 'member',
    request: z
      .object({
        name: exportName,
        file: dumpFile,
        offset: z.number().int().nonnegative(),
        data: bytesSchema,
        /** A chunk of nothing but zeros, as their count (with no data): the dump keeps it as a hole. */
        zeros: z.number().int().positive().max(DISK_CHUNK_BYTES).optional(),
      })
      .refine((chunk) => chunk.zeros === undefined || chunk.data.byteLength === 0, {
        message: 'a chunk of zeros carries no data',
      }),
    response: empty,
    maxFrameBytes: CHUNK_FRAME_BYTES,
    timeoutMs: 60_000,
  }),
  /** The exports kept here: list them, put a finished one in place, drop an unfinished one, remove one. */
  exports: requestProtocol({
    name: 'agent-exports',
    major: 1,
    callers: 'master',
    request: z.discriminatedUnion('action', [
      z.object({ action: z.literal('list'), name: exportName.optional() }),
      z.object({ action: z.literal('finalize'), name: exportName, info: z.string().max(64 * 1024) }),
      z.object({ action: z.literal('abort'), name: exportName }),
      z.object({ action: z.literal('remove'), name: exportName }),
    ]),
    response: z.object({
      exports: z.array(z.object({ name: z.string(), info: z.string().optional() })).max(4096),
    }),
    maxFrameBytes: 1024 * 1024,
  }),
  /** Reads one chunk of an export's dump, for an import on another node. */
  readExport: requestProtocol({
    name: 'agent-read-export',
    major: 1,
    callers: 'member',
    request: z.object({ name: exportName, file: dumpFile, offset: z.number().int().nonnegative() }),
    response: chunkSchema,
    maxFrameBytes: CHUNK_FRAME_BYTES,
    timeoutMs: 60_000,
  }),
  /** Runs the OS import script for one disk here, feeding it the dump from the node keeping the export. */
  importDisk: requestProtocol({
    name: 'agent-import-disk',
    major: 1,
    callers: 'master',
    request: osRunSchema.extend({
      disk: z.number().int().min(0).max(15),
      from: nodeIdText,
      name: exportName,
      file: dumpFile,
    }),
    response: dumpRun,
    timeoutMs: 25 * 3600_000,
    maxFrameBytes: 1024 * 1024,
  }),
  /** Makes a disk here from the same disk on another node (instance move), pulling it chunk by chunk. */
  fetchDisk: requestProtocol({
    name: 'agent-fetch-disk',
    major: 1,
    callers: 'master',
    request: instanceDisk.extend({ from: z.string().min(1).max(128) }),
    response: z.object({ bytes: z.number() }),
    timeoutMs: 24 * 3600_000,
  }),
} as const satisfies Record<string, RequestProtocol<unknown, unknown>>;

export type AgentProtocols = typeof agentProtocols;
export type AgentCall = keyof AgentProtocols;
export type AgentRequest<K extends AgentCall> = z.infer<AgentProtocols[K]['request']>;
export type AgentResponse<K extends AgentCall> = z.infer<AgentProtocols[K]['response']>;

/** The protocol of one call, typed by its name (indexing the table with a generic key loses the pairing). */
export function agentProtocol<K extends AgentCall>(
  kind: K,
): RequestProtocol<AgentRequest<K>, AgentResponse<K>> {
  return agentProtocols[kind] as unknown as RequestProtocol<AgentRequest<K>, AgentResponse<K>>;
}
