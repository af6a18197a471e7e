import { z } from 'zod';
import type { ConfigData } from './config.js';
import { collectorSettingSchema, dataCollectorNames } from './data-collectors.js';
import { corralDiskTemplates } from './disk-templates.js';
import { hypervisors } from './hypervisors.js';
import { adminStates, allocPolicies, nicModes } from './model.js';
import { ndParamsSchema } from './ndparams.js';
import { redacted } from './os-params.js';
import { beParamsSchema, diskRecordSchema, nicRecordSchema } from './record-schemas.js';

/** The configuration and job records as they travel to the CLI: plain lists, checked on arrival. */

const times = { ctimeMs: z.number(), mtimeMs: z.number() };

export const clusterViewSchema = z.object({
  name: z.string(),
  uuid: z.string(),
  ...times,
  candidatePoolSize: z.number(),
  enabledHypervisors: z.array(z.string()),
  enabledDiskTemplates: z.array(z.string()),
  maxRunningJobs: z.number(),
  candidateDeadGraceMs: z.number(),
  ha: z.object({
    leaseMs: z.number(),
    fenceMarginMs: z.number(),
    clockDriftPpm: z.number(),
    previousLeaseMs: z.number(),
    autoFailover: z.boolean(),
  }),
  beParams: beParamsSchema,
  nicParams: z.object({ mode: z.enum(nicModes), link: z.string() }),
  macPrefix: z.string(),
  tags: z.array(z.string()),
  queueDrained: z.boolean().optional(),
  watcherPauseUntilMs: z.number().optional(),
  defaultIallocator: z.string().optional(),
  defaultIallocatorParams: z.record(z.string(), z.string()).optional(),
  dataCollectors: z.partialRecord(z.enum(dataCollectorNames), collectorSettingSchema).optional(),
  ndParams: ndParamsSchema.optional(),
  masterIp: z
    .object({ address: z.string(), netmask: z.number(), netdev: z.string(), external: z.boolean() })
    .optional(),
  hvParams: z.record(z.string(), z.record(z.string(), z.string())).optional(),
  osParams: z.record(z.string(), z.record(z.string(), z.string())).optional(),
  osHvParams: z.record(z.string(), z.record(z.string(), z.record(z.string(), z.string()))).optional(),
  hiddenOs: z.array(z.string()).readonly().optional(),
  blacklistedOs: z.array(z.string()).readonly().optional(),
});

export const groupViewSchema = z.object({
  uuid: z.string(),
  name: z.string(),
  allocPolicy: z.enum(allocPolicies),
  diskTemplates: z.array(z.string()).readonly().optional(),
  ndParams: ndParamsSchema.optional(),
  tags: z.array(z.string()),
  ...times,
  serial: z.number(),
});

export const nodeViewSchema = z.object({
  uuid: z.string(),
  name: z.string(),
  id: z.string(),
  addrs: z.array(z.string()),
  primaryIp: z.string(),
  secondaryIp: z.string(),
  group: z.string(),
  masterCandidate: z.boolean(),
  masterCapable: z.boolean(),
  vmCapable: z.boolean(),
  drained: z.boolean(),
  offline: z.boolean(),
  ndParams: ndParamsSchema.optional(),
  powered: z.boolean().optional(),
  tags: z.array(z.string()),
  ...times,
  serial: z.number(),
});

export const instanceViewSchema = z.object({
  uuid: z.string(),
  name: z.string(),
  primaryNode: z.string(),
  secondaryNodes: z.array(z.string()),
  os: z.string(),
  hypervisor: z.enum(hypervisors),
  hvParams: z.record(z.string(), z.string()),
  beParams: beParamsSchema.partial(),
  osParams: z.record(z.string(), z.string()),
  /** Their names only: each value is shown as <redacted>. */
  osParamsPrivate: z.record(z.string(), z.string()).optional(),
  diskTemplate: z.enum(corralDiskTemplates),
  disks: z.array(diskRecordSchema),
  nics: z.array(nicRecordSchema),
  adminState: z.enum(adminStates),
  adminStateSource: z.enum(['admin', 'user']),
  disksActive: z.boolean(),
  mirror: z.object({ generation: z.number(), current: z.array(z.string()) }).optional(),
  tags: z.array(z.string()),
  ...times,
  serial: z.number(),
});

export const configViewSchema = z.object({
  cluster: clusterViewSchema,
  serial: z.number(),
  master: z.string().optional(),
  groups: z.array(groupViewSchema),
  nodes: z.array(nodeViewSchema),
  instances: z.array(instanceViewSchema),
});
export type ConfigView = z.infer<typeof configViewSchema>;
export type NodeView = z.infer<typeof nodeViewSchema>;
export type GroupView = z.infer<typeof groupViewSchema>;
export type InstanceView = z.infer<typeof instanceViewSchema>;

export function toConfigView(config: ConfigData): ConfigView {
  return {
    cluster: {
      ...config.cluster,
      enabledHypervisors: [...config.cluster.enabledHypervisors],
      enabledDiskTemplates: [...config.cluster.enabledDiskTemplates],
      tags: [...config.cluster.tags],
    },
    serial: config.serial,
    ...(config.master !== undefined && { master: config.master }),
    groups: [...config.groups.values()].map((group) => ({ ...group, tags: [...group.tags] })),
    nodes: [...config.nodes.values()].map((node) => ({
      ...node,
      addrs: [...node.addrs],
      tags: [...node.tags],
    })),
    instances: [...config.instances.values()].map(({ mirror, osParamsPrivate, ...instance }) => ({
      ...instance,
      ...(osParamsPrivate !== undefined && { osParamsPrivate: redacted(osParamsPrivate) }),
      secondaryNodes: [...instance.secondaryNodes],
      ...(mirror !== undefined && {
        mirror: { generation: mirror.generation, current: [...mirror.current] },
      }),
      disks: [...instance.disks],
      nics: [...instance.nics],
      tags: [...instance.tags],
    })),
  };
}
