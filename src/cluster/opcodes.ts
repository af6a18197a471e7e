import { z } from 'zod';
import { dataCollectorNames } from './data-collectors.js';
import { corralDiskTemplates, diskTemplates } from './disk-templates.js';
import { hypervisors } from './hypervisors.js';
import {
  allocPolicies,
  compressionTools,
  diskFormats,
  diskModes,
  iallocatorParamsSchema,
  nameSchema,
  nicModes,
  tagSchema,
} from './model.js';
import { ndParamsInputSchema } from './ndparams.js';
import { oobCommands } from './oob.js';

/**
 * Opcodes as data: what a job asks for, in Ganeti's names (OP_ID and snake_case fields, so that
 * `gnt-debug submit-job` files and RAPI bodies read the same). Their execution lives on the master.
 */

const yes = z.boolean();
const tags = z.array(tagSchema).min(1).max(64);
const multiaddr = z
  .string()
  .min(1)
  .max(256)
  .startsWith('/', 'an address is a multiaddr such as /ip4/…/tcp/…');
const ip = z.union([z.ipv4(), z.ipv6()]);
/** What a tag operation is about; the cluster has no name. */
export const tagKinds = ['cluster', 'nodegroup', 'node', 'instance'] as const;
export type TagKind = (typeof tagKinds)[number];

const instanceName = { instance_name: nameSchema };
/** Ganeti's reason trail: who asked for an opcode and why, as (source, reason, timestamp in seconds). */
const reasonTrail = z
  .array(z.tuple([z.string().min(1).max(128), z.string().max(1024), z.number().nonnegative()]))
  .max(16);
/**
 * Ganeti's job dependencies: the opcode waits until each job named has finished, and runs only if it ended
 * in one of the statuses listed (any, when none is). A negative ID counts back among the jobs submitted
 * together with this one (-1: the one just before); it is made absolute at submission.
 */
export const dependsSchema = z
  .array(z.tuple([z.number().int(), z.array(z.enum(['success', 'error', 'canceled'])).max(3)]))
  .max(64);
/**
 * What every opcode may carry: why it was asked for (RAPI's `?reason=`, the watcher's and harep's trails),
 * Ganeti's dry run (check everything, change nothing), and the jobs it waits for.
 */
const common = {
  reason: reasonTrail.optional(),
  dry_run: z.boolean().optional(),
  depends: dependsSchema.optional(),
};
/** Ganeti's storage types Corral has, and the disk template that keeps its disks there. */
export const storageTypes = ['file', 'sharedfile', 'lvm-vg'] as const;
export type StorageType = (typeof storageTypes)[number];
export const templateOfStorage = { file: 'file', sharedfile: 'sharedfile', 'lvm-vg': 'plain' } as const;
/** Ganeti's storage unit fields. */
export const storageFields = ['node', 'type', 'name', 'size', 'used', 'free', 'allocatable'] as const;
/** Ganeti's node volumes fields (gnt-node volumes). */
export const volumeFields = ['node', 'phys', 'vg', 'name', 'size', 'instance'] as const;
/** Ganeti's replace-disks modes: remake a copy on the primary or the secondary, move to a new secondary, or fix what is stale. */
export const replaceDisksModes = [
  'replace_on_primary',
  'replace_on_secondary',
  'replace_new_secondary',
  'replace_auto',
] as const;
const params = z.record(
  z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'parameter names are lower case'),
  z.string().max(1024),
);
/** An OS definition's name, with its variant if any (debootstrap+default). */
const osName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/, 'an OS name such as debootstrap+default');
const sizeMiB = z
  .number()
  .int()
  .positive()
  .max(64 * 1024 * 1024);
const timeoutS = z.number().int().min(0).max(86_400);
const diskIndex = z.number().int().min(0).max(15);
/** Ganeti's beparams; `memory` sets both maxmem and minmem. Sizes in MiB. */
const beParams = z
  .object({
    memory: sizeMiB,
    maxmem: sizeMiB,
    minmem: sizeMiB,
    vcpus: z.number().int().min(1).max(1024),
    auto_balance: yes,
    always_failover: yes,
    spindle_use: z.number().int().min(0).max(1024),
  })
  .partial()
  .strict();
export type BeParamsInput = z.infer<typeof beParams>;
const diskSpec = z
  .object({
    size: sizeMiB,
    mode: z.enum(diskModes).optional(),
    name: nameSchema.optional(),
    format: z.enum(diskFormats).optional(),
  })
  .strict();
const nicSpec = z
  .object({
    mac: z
      .string()
      .regex(/^(generate|([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2})$/, 'a MAC is six hex pairs or "generate"')
      .optional(),
    ip: ip.optional(),
    mode: z.enum(nicModes).optional(),
    link: z.string().max(64).optional(),
    name: nameSchema.optional(),
  })
  .strict();
export type NicSpecInput = z.infer<typeof nicSpec>;
/** Which NIC or disk a modification means: an index (-1: the last, or the end for add), a name or a UUID. */
const deviceIdentifier = z.union([z.number().int().min(-1).max(31), z.string().min(1).max(128)]);
const nicModParams = z
  .object({
    // 'auto' keeps the MAC of a NIC being added as Ganeti's does: a generated one here.
    mac: z
      .string()
      .regex(
        /^(auto|generate|([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2})$/,
        'a MAC is six hex pairs, "auto" or "generate"',
      )
      .optional(),
    ip: z.union([ip, z.literal('none')]).optional(),
    mode: z.enum(nicModes).optional(),
    link: z.string().min(1).max(64).optional(),
    name: nameSchema.optional(),
  })
  .strict();
export type NicModParams = z.infer<typeof nicModParams>;
const nicModification = z.union([
  z.tuple([z.literal('add'), deviceIdentifier, nicModParams]),
  z.tuple([z.literal('modify'), deviceIdentifier, nicModParams]),
  z.tuple([z.literal('remove'), deviceIdentifier, z.object({}).strict()]),
]);
export type NicModification = z.infer<typeof nicModification>;
const diskModParams = z.object({ mode: z.enum(diskModes).optional(), name: nameSchema.optional() }).strict();
export type DiskModParams = z.infer<typeof diskModParams>;
const diskModification = z.union([
  z.tuple([z.literal('add'), deviceIdentifier, diskSpec]),
  z.tuple([z.literal('modify'), deviceIdentifier, diskModParams]),
  z.tuple([z.literal('remove'), deviceIdentifier, z.object({}).strict()]),
]);
export type DiskModification = z.infer<typeof diskModification>;
export type DiskSpecInput = z.infer<typeof diskSpec>;
const migrationMode = z.enum(['live', 'non-live']);
/** An export is named after its instance; never a path. */
const exportName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9.-]{0,252}$/, 'an instance name, not a path');
/** Ganeti's -I: an allocator program's name or path; '.' is the built-in one (the cluster default). */
const iallocator = z.string().min(1).max(4096);

/** A node group by name or UUID. */
const groupRef = z.string().min(1).max(128);

/** Ganeti's node add; also what a joining node asks a member to submit for it. */
export const nodeAddOpSchema = z.object({
  OP_ID: z.literal('OP_NODE_ADD'),
  node_name: nameSchema,
  /** Where the master finds the node's unjoined daemon. */
  address: multiaddr,
  /** The peer ID the administrator checked, as Ganeti checks an SSH host key. */
  peer_id: z.string().min(1).max(128).optional(),
  /**
   * The new node's enrolment code (`corral identity` on it): the proof, in the role of Ganeti's root SSH
   * access, without which an unjoined daemon lets no one admit it. It names the peer to admit.
   */
  enrol_code: z
    .string()
    .regex(
      /^corral-enrol-v1:[1-9A-HJ-NP-Za-km-z]{1,128}:[A-Za-z0-9_-]{43}$/,
      "an enrolment code as 'corral identity' prints it on the new node",
    )
    .optional(),
  primary_ip: ip.optional(),
  secondary_ip: ip.optional(),
  group: nameSchema.optional(),
  master_candidate: yes.optional(),
  master_capable: yes.optional(),
  vm_capable: yes.optional(),
  /** The new node's own node parameters. */
  ndparams: ndParamsInputSchema.optional(),
});

export type NodeAddOp = z.infer<typeof nodeAddOpSchema>;

/** Ganeti's instance create (and import); also each entry of a multi-allocation. */
export const instanceCreateOpSchema = z.object({
  OP_ID: z.literal('OP_INSTANCE_CREATE'),
  ...common,
  ...instanceName,
  disk_template: z.enum(corralDiskTemplates),
  disks: z.array(diskSpec).max(16),
  nics: z.array(nicSpec).max(8).optional(),
  os_type: z.string().min(1).max(128).optional(),
  /** Ganeti's --force-variant: a variant the OS does not list (or any, for an OS without variants). */
  force_variant: yes.optional(),
  osparams: params.optional(),
  /** Ganeti's private OS parameters: given to the OS scripts, never shown. */
  osparams_private: params.optional(),
  beparams: beParams.optional(),
  hypervisor: z.enum(hypervisors).optional(),
  hvparams: params.optional(),
  pnode: nameSchema.optional(),
  snode: nameSchema.optional(),
  /** Ganeti's -g: the allocator places the instance in this node group (not used when pnode is named). */
  group_name: nameSchema.optional(),
  /** For drbd: wait until the new disks are in sync before the job ends (Ganeti's default). */
  wait_for_sync: yes.optional(),
  iallocator: iallocator.optional(),
  start: yes.optional(),
  no_install: yes.optional(),
  tags: z.array(tagSchema).max(64).optional(),
  /** `import`: the disks are filled from an export (backup import) instead of by the OS create script. */
  mode: z.enum(['create', 'import']).optional(),
  src_node: nameSchema.optional(),
  /** The export's name: the name of the instance it was made of. */
  src_path: exportName.optional(),
  /** Parameters equal to the cluster's defaults are left to them rather than set on the instance. */
  identify_defaults: yes.optional(),
  /** Ganeti's compression of an import's transfer; Corral's copy is not compressed. */
  compress: z.enum(compressionTools).optional(),
});

export const opcodeSchema = z.discriminatedUnion('OP_ID', [
  nodeAddOpSchema.extend(common),
  z.object({ OP_ID: z.literal('OP_NODE_REMOVE'), ...common, node_name: nameSchema }),
  z.object({
    OP_ID: z.literal('OP_NODE_SET_PARAMS'),
    ...common,
    node_name: nameSchema,
    master_candidate: yes.optional(),
    drained: yes.optional(),
    offline: yes.optional(),
    master_capable: yes.optional(),
    vm_capable: yes.optional(),
    secondary_ip: ip.optional(),
    auto_promote: yes.optional(),
    force: yes.optional(),
    /** Changes to the node's own node parameters; `default` takes a key back to its group's value. */
    ndparams: ndParamsInputSchema.optional(),
    /** Ganeti's --node-powered: the recorded power state, for a node with an OOB program. */
    powered: yes.optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_GROUP_ADD'),
    ...common,
    group_name: nameSchema,
    alloc_policy: z.enum(allocPolicies).optional(),
    /** Ganeti's ipolicy disk-templates: the templates the group's nodes may hold. */
    ipolicy_disk_templates: z.array(z.enum(corralDiskTemplates)).min(1).max(16).optional(),
    ndparams: ndParamsInputSchema.optional(),
  }),
  z.object({ OP_ID: z.literal('OP_GROUP_REMOVE'), ...common, group_name: nameSchema }),
  z.object({ OP_ID: z.literal('OP_GROUP_RENAME'), ...common, group_name: nameSchema, new_name: nameSchema }),
  z.object({
    OP_ID: z.literal('OP_GROUP_SET_PARAMS'),
    ...common,
    group_name: nameSchema,
    alloc_policy: z.enum(allocPolicies).optional(),
    ipolicy_disk_templates: z.array(z.enum(corralDiskTemplates)).min(1).max(16).optional(),
    /** Changes to the group's own node parameters; `default` takes a key back to the cluster's value. */
    ndparams: ndParamsInputSchema.optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_GROUP_ASSIGN_NODES'),
    ...common,
    group_name: nameSchema,
    nodes: z.array(nameSchema).min(1).max(1024),
    force: yes.optional(),
  }),
  /**
   * Ganeti's group evacuate: every instance with a node in the group moves into other groups (the named ones,
   * else any other), one job each, submitted by this opcode's job as the allocator's change-group plan says.
   */
  z.object({
    OP_ID: z.literal('OP_GROUP_EVACUATE'),
    ...common,
    group_name: nameSchema,
    iallocator: iallocator.optional(),
    target_groups: z.array(groupRef).min(1).max(64).optional(),
    early_release: yes.optional(),
    /** Failovers where the plan migrates. */
    force_failover: yes.optional(),
    /** Each job waits for the one before it to end, as Ganeti's --sequential. */
    sequential: yes.optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_TAGS_SET'),
    ...common,
    kind: z.enum(tagKinds),
    name: nameSchema.optional(),
    tags,
  }),
  z.object({
    OP_ID: z.literal('OP_TAGS_DEL'),
    ...common,
    kind: z.enum(tagKinds),
    name: nameSchema.optional(),
    tags,
  }),
  z.object({
    OP_ID: z.literal('OP_CLUSTER_SET_PARAMS'),
    ...common,
    candidate_pool_size: z.number().int().min(1).max(99).optional(),
    enabled_hypervisors: z.array(z.string().min(1).max(32)).min(1).max(8).optional(),
    enabled_disk_templates: z.array(z.string().min(1).max(32)).min(1).max(16).optional(),
    max_running_jobs: z.number().int().min(1).max(1000).optional(),
    candidate_dead_grace_s: z.number().int().min(5).max(86_400).optional(),
    /** Whether the master fails a dead node's instances over on its own (harep's tags decide per instance). */
    auto_failover: z.boolean().optional(),
    node_lease_s: z.number().min(2).max(600).optional(),
    fence_margin_s: z.number().min(0.1).max(300).optional(),
    clock_drift_ppm: z.number().int().min(0).max(100_000).optional(),
    /** The cluster's beparams, merged over the current ones. */
    beparams: beParams.optional(),
    /** The cluster's nicparams (mode and link), merged over the current ones. */
    nicparams: z
      .object({ mode: z.enum(nicModes), link: z.string().max(64) })
      .partial()
      .strict()
      .optional(),
    mac_prefix: z
      .string()
      .regex(
        /^[0-9a-fA-F]{2}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}$/,
        'a MAC prefix is three hex pairs, such as aa:00:00',
      )
      .optional(),
    /** '' or '.' goes back to the built-in allocator. */
    default_iallocator: z.string().max(4096).optional(),
    /** Replaces the parameters every allocator program is run with ({} for none). */
    default_iallocator_params: iallocatorParamsSchema.optional(),
    /** Ganeti's --enabled-data-collectors: which of each node's monitor collectors run. */
    enabled_data_collectors: z.partialRecord(z.enum(dataCollectorNames), z.boolean()).optional(),
    /** Ganeti's --data-collector-interval: seconds between two runs of each collector; the monitor ticks every 5 s. */
    data_collector_interval: z
      .partialRecord(z.enum(dataCollectorNames), z.number().min(5).max(86_400))
      .optional(),
    /** The cluster's node parameters, merged over the current ones. */
    ndparams: ndParamsInputSchema.optional(),
    /** Corral's addition: the floating master IP ('' for none); Ganeti takes it from the cluster name. */
    master_ip: z.string().max(64).optional(),
    master_netdev: z.string().min(1).max(15).optional(),
    master_netmask: z.number().int().min(1).max(128).optional(),
    use_external_mip_script: z.boolean().optional(),
    /** Ganeti's cluster hvparams by hypervisor, merged over the cluster's; 'default' removes one. */
    hvparams: z.record(z.string().min(1).max(32), params).optional(),
    /** gnt-os modify: parameters by OS (and by hypervisor), merged over the cluster's; 'default' removes one. */
    osparams: z.record(osName, params).optional(),
    os_hvp: z.record(osName, z.record(z.string().min(1).max(32), params)).optional(),
    hidden_os: z
      .array(z.tuple([z.enum(['add', 'remove']), osName]))
      .max(64)
      .optional(),
    blacklisted_os: z
      .array(z.tuple([z.enum(['add', 'remove']), osName]))
      .max(64)
      .optional(),
  }),
  /** Ganeti's cluster rename; the master IP, if any, stays what it was set to (Corral does not resolve names). */
  z.object({ OP_ID: z.literal('OP_CLUSTER_RENAME'), ...common, name: nameSchema }),
  /**
   * Ganeti's restricted command: the executable of this name in each node's restricted-commands directory,
   * run there without arguments; one [succeeded, output] per node, in the order named.
   */
  z.object({
    OP_ID: z.literal('OP_RESTRICTED_COMMAND'),
    ...common,
    command: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'a command name: letters, digits, - and _'),
    nodes: z.array(nameSchema).min(1).max(1024),
    /** Ganeti's --sync: hold the nodes' locks (shared) while the commands run. */
    use_locking: yes.optional(),
  }),
  /** Ganeti's node powercycle: a hard reboot of the node's machine, scheduled by its daemon; the master only with force. */
  z.object({
    OP_ID: z.literal('OP_NODE_POWERCYCLE'),
    ...common,
    node_name: nameSchema,
    force: yes.optional(),
  }),
  /** Ganeti's activate-master-ip: the master holds the floating IP again. */
  z.object({ OP_ID: z.literal('OP_CLUSTER_ACTIVATE_MASTER_IP'), ...common }),
  /** Ganeti's deactivate-master-ip: the master drops it, until activate-master-ip or the next master. */
  z.object({ OP_ID: z.literal('OP_CLUSTER_DEACTIVATE_MASTER_IP'), ...common }),
  /**
   * Ganeti pushes config.data and ssconf to every node. Raft replicates Corral's configuration with every
   * commit: this job confirms that every online node has applied the current serial, and says which have not.
   */
  z.object({ OP_ID: z.literal('OP_CLUSTER_REDIST_CONF'), ...common }),
  /** Compares the recorded sizes of the instances' disks (all instances when none is named) with the nodes'. */
  z.object({
    OP_ID: z.literal('OP_CLUSTER_REPAIR_DISK_SIZES'),
    ...common,
    instances: z.array(nameSchema).max(1024).optional(),
  }),
  z.object({ OP_ID: z.literal('OP_CLUSTER_VERIFY'), ...common }),
  /** Mirrored disks that need activate-disks (detached, or a stale copy on a node that is up), and missing ones. */
  z.object({ OP_ID: z.literal('OP_CLUSTER_VERIFY_DISKS'), ...common, group_name: nameSchema.optional() }),
  /** Draws a new cluster secret on the master; it is never an input, so no job record holds it. */
  z.object({
    OP_ID: z.literal('OP_CLUSTER_RENEW_CRYPTO'),
    ...common,
    /** The cluster secret join tokens are checked with; renewed when nothing else is asked for. */
    new_cluster_secret: yes.optional(),
    /** RAPI's key and self-signed certificate (Ganeti's --new-rapi-certificate). */
    new_rapi_certificate: yes.optional(),
  }),
  instanceCreateOpSchema,
  /**
   * Ganeti's multi-allocation: several creates at once, one job each, submitted by this opcode's job; the
   * allocator places those that name no nodes.
   */
  z.object({
    OP_ID: z.literal('OP_INSTANCE_MULTI_ALLOC'),
    ...common,
    instances: z
      .array(instanceCreateOpSchema.omit({ OP_ID: true, reason: true, dry_run: true }))
      .min(1)
      .max(64),
    iallocator: iallocator.optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_BACKUP_EXPORT'),
    ...common,
    ...instanceName,
    target_node: nameSchema,
    /** false: export a running instance as it runs, which needs disk snapshots. */
    shutdown: z.boolean().optional(),
    shutdown_timeout: timeoutS.optional(),
    remove_instance: yes.optional(),
    ignore_remove_failures: yes.optional(),
    /** Ganeti's --transport-compression; Corral's copy is not compressed. */
    compress: z.enum(compressionTools).optional(),
    /** Ganeti's --long-sleep: the instance may stay shut down for the whole export (Corral takes no snapshots). */
    long_sleep: yes.optional(),
  }),
  z.object({ OP_ID: z.literal('OP_BACKUP_REMOVE'), ...common, ...instanceName }),
  z.object({
    OP_ID: z.literal('OP_BACKUP_QUERY'),
    ...common,
    nodes: z.array(nameSchema).max(1024).optional(),
    /** Only this instance's exports, each with its description (config.ini). */
    instance_name: exportName.optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_INSTANCE_REMOVE'),
    ...common,
    ...instanceName,
    ignore_failures: yes.optional(),
    shutdown_timeout: timeoutS.optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_INSTANCE_STARTUP'),
    ...common,
    ...instanceName,
    force: yes.optional(),
    no_remember: yes.optional(),
    paused: yes.optional(),
    /** Ganeti's --ignore-offline: with the primary node offline, only record the instance as up. */
    ignore_offline_nodes: yes.optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_INSTANCE_SHUTDOWN'),
    ...common,
    ...instanceName,
    timeout: timeoutS.optional(),
    no_remember: yes.optional(),
    /** `user`: the guest shut itself down (the watcher records it as admin down). */
    admin_state_source: z.enum(['admin', 'user']).optional(),
    /** Ganeti's --ignore-offline: with the primary node offline, only record the instance as down. */
    ignore_offline_nodes: yes.optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_INSTANCE_REBOOT'),
    ...common,
    ...instanceName,
    reboot_type: z.enum(['soft', 'hard', 'full']).optional(),
    shutdown_timeout: timeoutS.optional(),
    /** A full reboot of a mirrored instance goes ahead when its secondary cannot take its copy's part. */
    ignore_secondaries: yes.optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_INSTANCE_SET_PARAMS'),
    ...common,
    ...instanceName,
    beparams: beParams.optional(),
    hvparams: params.optional(),
    osparams: params.optional(),
    osparams_private: params.optional(),
    os_name: z.string().min(1).max(128).optional(),
    /** Ganeti's --force-variant: a variant the OS does not list (or any, for an OS without variants). */
    force_variant: yes.optional(),
    /** Corral's older form of disks: [['add', -1, spec], …]; kept for its callers. */
    disks_add: z.array(diskSpec).max(16).optional(),
    /** Ganeti's [op, index | name | UUID, params] list; index -1 is the end (add) or the last (others). */
    nics: z.array(nicModification).max(16).optional(),
    disks: z.array(diskModification).max(32).optional(),
    /** The new primary, for disks every node reaches (sharedfile, diskless), the instance stopped. */
    pnode: nameSchema.optional(),
    /** Balloons the running instance's memory to this size, within its minmem..maxmem (unless forced). */
    runtime_mem: sizeMiB.optional(),
    /** Skips the running check of a new primary and the minmem..maxmem check of runtime memory. */
    force: yes.optional(),
    hotplug: yes.optional(),
    hotplug_if_possible: yes.optional(),
    offline: yes.optional(),
    /** Converts the disks to another template (drbd from or to a one-node template), the instance stopped. */
    disk_template: z.enum(corralDiskTemplates).optional(),
    /** The secondary node of a conversion to drbd. */
    remote_node: nameSchema.optional(),
    /** Or the allocator that chooses it (Ganeti's allocate-secondary request). */
    iallocator: iallocator.optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_INSTANCE_GROW_DISK'),
    ...common,
    ...instanceName,
    disk: z.number().int().min(0).max(15),
    amount: sizeMiB,
    absolute: yes.optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_INSTANCE_REINSTALL'),
    ...common,
    ...instanceName,
    os_type: z.string().min(1).max(128).optional(),
    /** Ganeti's --force-variant: a variant the OS does not list (or any, for an OS without variants). */
    force_variant: yes.optional(),
    osparams: params.optional(),
    osparams_private: params.optional(),
  }),
  /** Ganeti's instance info: the configuration of these instances (all when none is named), and whether they run. */
  z.object({
    OP_ID: z.literal('OP_INSTANCE_QUERY_DATA'),
    ...common,
    instances: z.array(nameSchema).max(1024),
    /** Only the configuration: no node is asked. */
    static: yes.optional(),
  }),
  z.object({ OP_ID: z.literal('OP_INSTANCE_RENAME'), ...common, ...instanceName, new_name: nameSchema }),
  z.object({
    OP_ID: z.literal('OP_INSTANCE_ACTIVATE_DISKS'),
    ...common,
    ...instanceName,
    /** The job ends once a mirrored instance's copies are in sync. */
    wait_for_sync: yes.optional(),
    /** The disks are checked for being there, not for the size the config records. */
    ignore_size: yes.optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_INSTANCE_REPLACE_DISKS'),
    ...common,
    ...instanceName,
    mode: z.enum(replaceDisksModes),
    /** Which disks; Corral replaces an instance's disks together, so only all of them (or none named). */
    disks: z.array(z.number().int().min(0).max(15)).max(16).optional(),
    remote_node: nameSchema.optional(),
    iallocator: iallocator.optional(),
    early_release: yes.optional(),
    ignore_ipolicy: yes.optional(),
  }),
  /**
   * Ganeti's recreate-disks: the listed disks (all when none is) made anew, empty, on the stopped instance's
   * nodes, or on new ones (every disk then), named or placed by an allocator.
   */
  z.object({
    OP_ID: z.literal('OP_INSTANCE_RECREATE_DISKS'),
    ...common,
    ...instanceName,
    /** Ganeti's `[[index, {size, mode}], …]`, or its older form, a list of indices. */
    disks: z
      .union([
        z.array(diskIndex).max(16),
        z
          .array(
            z.tuple([
              diskIndex,
              z
                .object({ size: sizeMiB, mode: z.enum(diskModes) })
                .partial()
                .strict(),
            ]),
          )
          .max(16),
      ])
      .optional(),
    /** The new primary, and the new secondary for drbd. */
    nodes: z.array(nameSchema).max(2).optional(),
    iallocator: iallocator.optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_INSTANCE_DEACTIVATE_DISKS'),
    ...common,
    ...instanceName,
    force: yes.optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_INSTANCE_MIGRATE'),
    ...common,
    ...instanceName,
    mode: migrationMode.optional(),
    target_node: nameSchema.optional(),
    iallocator: iallocator.optional(),
    cleanup: yes.optional(),
    allow_failover: yes.optional(),
    /** Ganeti's default true: the instance's memory may be ballooned down to what the target has free. */
    allow_runtime_changes: yes.optional(),
    /** Migrates between nodes whose hypervisors (Corral's node agents) differ in version, with a warning. */
    ignore_hvversions: yes.optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_INSTANCE_FAILOVER'),
    ...common,
    ...instanceName,
    target_node: nameSchema.optional(),
    iallocator: iallocator.optional(),
    ignore_consistency: yes.optional(),
    shutdown_timeout: timeoutS.optional(),
    /** Instead of a failover: find where the instance runs after one cut short, and record it. */
    cleanup: yes.optional(),
  }),
  /**
   * Ganeti's instance change-group: the instance moves to the nodes of another group (the named ones, else
   * any other), by the job the allocator's change-group plan makes, submitted by this opcode's job.
   */
  z.object({
    OP_ID: z.literal('OP_INSTANCE_CHANGE_GROUP'),
    ...common,
    ...instanceName,
    iallocator: iallocator.optional(),
    target_groups: z.array(groupRef).min(1).max(64).optional(),
    early_release: yes.optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_INSTANCE_MOVE'),
    ...common,
    ...instanceName,
    target_node: nameSchema,
    shutdown_timeout: timeoutS.optional(),
    /** The disks are copied even if the instance could not be stopped cleanly on its node. */
    ignore_consistency: yes.optional(),
    /** Ganeti's compression tool for the copy; Corral's copy is not compressed, so only 'none' changes nothing. */
    compress: z.enum(compressionTools).optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_NODE_MIGRATE'),
    ...common,
    node_name: nameSchema,
    mode: migrationMode.optional(),
    target_node: nameSchema.optional(),
    iallocator: iallocator.optional(),
    /** Passed to each instance's migration (Ganeti's --no-runtime-changes sets it false). */
    allow_runtime_changes: yes.optional(),
  }),
  /** Ganeti's node list-storage (RAPI's /2/nodes/[n]/storage): each node's storage units of one type. */
  z.object({
    OP_ID: z.literal('OP_NODE_QUERY_STORAGE'),
    ...common,
    /** None named: every online vm-capable node. */
    nodes: z.array(nameSchema).max(1024),
    storage_type: z.enum(storageTypes),
    output_fields: z.array(z.enum(storageFields)).min(1).max(16),
    /** Only the unit of this name (a directory or a volume group). */
    name: z.string().min(1).max(4096).optional(),
  }),
  /**
   * Ganeti's node volumes (OpNodeQueryvols): one row per disk each node holds, asked of the node: its path,
   * where its template keeps disks (the volume group or directory), its name there, size in MiB and instance.
   */
  z.object({
    OP_ID: z.literal('OP_NODE_QUERYVOLS'),
    ...common,
    /** None named: every online vm-capable node. */
    nodes: z.array(nameSchema).max(1024),
    output_fields: z.array(z.enum(volumeFields)).min(1).max(16),
  }),
  /**
   * Ganeti's node repair-storage (OpRepairNodeStorage): makes a storage unit consistent again. Only lvm-vg is
   * repairable, as in Ganeti: `vgreduce --removemissing` on the node's volume group.
   */
  z.object({
    OP_ID: z.literal('OP_REPAIR_NODE_STORAGE'),
    ...common,
    node_name: nameSchema,
    storage_type: z.literal('lvm-vg'),
    /** The volume group, as list-storage names it. */
    name: z.string().min(1).max(4096),
    /** Ganeti's check of the instances' disks on their other nodes; Corral's mirrored disks are not in LVM. */
    ignore_consistency: yes.optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_NODE_EVACUATE'),
    ...common,
    node_name: nameSchema,
    mode: z.enum(['primary', 'secondary', 'all']),
    remote_node: nameSchema.optional(),
    iallocator: iallocator.optional(),
    /** Passed to each replace-disks job: the old secondary's copy goes before the new one has synced. */
    early_release: yes.optional(),
    /** The built-in allocator drops its soft checks (N+1, ratios, tags), as htools' --ignore-soft-errors. */
    ignore_soft_errors: yes.optional(),
  }),
  /**
   * Ganeti's OpOobCommand: the master runs each node's oob_program (all nodes when none is named; never
   * the master for power-off and power-cycle).
   */
  z.object({
    OP_ID: z.literal('OP_OOB_COMMAND'),
    ...common,
    node_names: z.array(nameSchema).max(1024),
    command: z.enum(oobCommands),
    /** Seconds before the program is killed; Ganeti's OOB_TIMEOUT by default. */
    timeout: z.number().int().min(1).max(3600).optional(),
    /** Powers off nodes not marked offline. */
    ignore_status: yes.optional(),
    /** Seconds between two power-ons; Ganeti's OOB_POWER_DELAY by default. */
    power_delay: z.number().min(0).max(3600).optional(),
  }),
  z.object({
    OP_ID: z.literal('OP_TEST_DELAY'),
    ...common,
    duration: z.number().min(0).max(86_400),
    on_master: yes.optional(),
    /** Holds these nodes' locks, exclusively, for the duration: shows that conflicting jobs wait. */
    on_nodes: z.array(nameSchema).max(64).optional(),
    repeat: z.number().int().min(0).max(1000).optional(),
    /** gnt-job cancel stops it while it sleeps (Ganeti interrupts it through a socket). */
    interruptible: yes.optional(),
    /** Takes no lock at all, not even the nodes' of on_nodes. */
    no_locks: yes.optional(),
  }),
  /**
   * Runs the allocator on a request made up from these fields (gnt-debug iallocator): `in` answers the
   * request as an allocator would get it, `out` the allocator's answer; either as JSON text.
   */
  z.object({
    OP_ID: z.literal('OP_TEST_ALLOCATOR'),
    ...common,
    direction: z.enum(['in', 'out']),
    mode: z.enum([
      'allocate',
      'multi-allocate',
      'relocate',
      'allocate-secondary',
      'change-group',
      'node-evacuate',
    ]),
    /** The instance: to allocate (it must not exist yet), or to relocate. */
    name: nameSchema,
    /** The instances to move, for change-group and node-evacuate. */
    instances: z.array(nameSchema).max(1024).optional(),
    memory: sizeMiB.optional(),
    vcpus: z.number().int().min(1).max(1024).optional(),
    disks: z
      .array(z.object({ size: sizeMiB, mode: z.enum(diskModes).optional() }))
      .max(16)
      .optional(),
    /** Any of Ganeti's templates: the allocator knows them all. The cluster's first enabled one by default. */
    disk_template: z.enum(diskTemplates).optional(),
    nics: z
      .array(
        z.object({
          mac: z.string().max(64).nullable().optional(),
          ip: z.string().max(64).nullable().optional(),
          bridge: z.string().max(64).nullable().optional(),
        }),
      )
      .max(8)
      .optional(),
    os: z.string().min(1).max(128).optional(),
    hypervisor: z.enum(hypervisors).optional(),
    tags: z.array(tagSchema).max(64).optional(),
    /** Who answers with direction out: '.' the built-in allocator, or a program's name or path. */
    iallocator: iallocator.optional(),
    evac_mode: z.enum(['all', 'primary-only', 'secondary-only']).optional(),
    /** Node groups (names or UUIDs) to move to, for change-group. */
    target_groups: z.array(z.string().min(1).max(128)).max(64).optional(),
    spindle_use: z.number().int().min(0).max(1024).optional(),
    /** How many instances multi-allocate asks for: `name` with 0, 1, … appended. */
    count: z.number().int().min(1).max(1000).optional(),
  }),
  /**
   * Ganeti's job queue self-test opcode (gnt-debug test-jobqueue): logs each message with the TESTMSG=
   * prefix while it runs, and fails if asked to.
   */
  z.object({
    OP_ID: z.literal('OP_TEST_JQUEUE'),
    ...common,
    notify_waitlock: yes.optional(),
    notify_exec: yes.optional(),
    log_messages: z.array(z.string().max(1024)).max(100).optional(),
    fail: yes.optional(),
  }),
]);
export type Opcode = z.infer<typeof opcodeSchema>;
export type OpId = Opcode['OP_ID'];

/** Ganeti's summary form, `OP_NAME(target)`, as `gnt-job list` shows it. */
export function opSummary(op: Opcode): string {
  const name = op.OP_ID.replace(/^OP_/, '');
  const target = opTarget(op);
  return target === undefined ? name : `${name}(${target})`;
}

export function opTarget(op: Opcode): string | undefined {
  switch (op.OP_ID) {
    case 'OP_NODE_ADD':
    case 'OP_NODE_REMOVE':
    case 'OP_NODE_SET_PARAMS':
    case 'OP_NODE_MIGRATE':
    case 'OP_NODE_EVACUATE':
    case 'OP_REPAIR_NODE_STORAGE':
      return op.node_name;
    case 'OP_NODE_QUERY_STORAGE':
    case 'OP_NODE_QUERYVOLS':
      return op.nodes.join(',') || undefined;
    case 'OP_OOB_COMMAND':
      return op.node_names.join(',') || undefined;
    case 'OP_INSTANCE_CREATE':
    case 'OP_INSTANCE_REMOVE':
    case 'OP_INSTANCE_STARTUP':
    case 'OP_INSTANCE_SHUTDOWN':
    case 'OP_INSTANCE_REBOOT':
    case 'OP_INSTANCE_SET_PARAMS':
    case 'OP_INSTANCE_GROW_DISK':
    case 'OP_INSTANCE_REINSTALL':
    case 'OP_INSTANCE_RENAME':
    case 'OP_INSTANCE_ACTIVATE_DISKS':
    case 'OP_INSTANCE_REPLACE_DISKS':
    case 'OP_INSTANCE_DEACTIVATE_DISKS':
    case 'OP_INSTANCE_RECREATE_DISKS':
    case 'OP_INSTANCE_MIGRATE':
    case 'OP_INSTANCE_FAILOVER':
    case 'OP_INSTANCE_MOVE':
    case 'OP_INSTANCE_CHANGE_GROUP':
    case 'OP_BACKUP_EXPORT':
    case 'OP_BACKUP_REMOVE':
      return op.instance_name;
    case 'OP_BACKUP_QUERY':
      return op.instance_name;
    case 'OP_GROUP_ADD':
    case 'OP_GROUP_REMOVE':
    case 'OP_GROUP_RENAME':
    case 'OP_GROUP_SET_PARAMS':
    case 'OP_GROUP_ASSIGN_NODES':
    case 'OP_GROUP_EVACUATE':
      return op.group_name;
    case 'OP_TAGS_SET':
    case 'OP_TAGS_DEL':
      return op.name ?? op.kind;
    case 'OP_TEST_DELAY':
      return String(op.duration);
    case 'OP_TEST_ALLOCATOR':
      return op.name;
    case 'OP_TEST_JQUEUE':
      return undefined;
    case 'OP_INSTANCE_QUERY_DATA':
      return op.instances.join(',') || undefined;
    case 'OP_INSTANCE_MULTI_ALLOC':
      return op.instances.map((instance) => instance.instance_name).join(',');
    case 'OP_CLUSTER_RENAME':
      return op.name;
    case 'OP_CLUSTER_REPAIR_DISK_SIZES':
      return op.instances?.join(',') || undefined;
    case 'OP_RESTRICTED_COMMAND':
      return op.command;
    case 'OP_NODE_POWERCYCLE':
      return op.node_name;
    case 'OP_CLUSTER_REDIST_CONF':
    case 'OP_CLUSTER_ACTIVATE_MASTER_IP':
    case 'OP_CLUSTER_DEACTIVATE_MASTER_IP':
    case 'OP_CLUSTER_SET_PARAMS':
    case 'OP_CLUSTER_VERIFY':
    case 'OP_CLUSTER_VERIFY_DISKS':
    case 'OP_CLUSTER_RENEW_CRYPTO':
      return undefined;
  }
}
