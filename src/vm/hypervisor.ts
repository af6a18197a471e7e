import type { HypervisorName } from '../cluster/hypervisors.js';
import type { NicMode } from '../cluster/model.js';

/**
 * What a node agent asks of a hypervisor. One implementation per hypervisor (`fake`, `kvm`); both pass the
 * same compliance suite (test/vm/hypervisor-compliance.ts). Instances are named by their instance name, which
 * the cluster keeps unique; the UUID travels along so that a renamed instance is still recognised.
 */

export interface AttachedDisk {
  /** The disk's UUID in the config: the guest's device is named after it, so that it can be unplugged. */
  readonly uuid: string;
  /** A file or block device the hypervisor opens, or the unix socket of an NBD server when nbdExport is set. */
  readonly path: string;
  /** The export to open on the NBD server at `path` (a mirrored disk, served by this node's daemon). */
  readonly nbdExport?: string;
  readonly format: 'raw' | 'qcow2';
  readonly readOnly: boolean;
  /** Its PCI slot; unset, the hypervisor picks one (see pci-slots.ts). A migration target is given the source's. */
  readonly pciSlot?: number;
}

export interface NicSpec {
  readonly uuid: string;
  readonly mac: string;
  /** bridged, routed or openvswitch, as Ganeti names them; `none` gives the guest a NIC with no host side. */
  readonly mode: NicMode;
  readonly link: string;
  /** As a disk's. */
  readonly pciSlot?: number;
}

/**
 * The devices of a running guest as its hypervisor placed them, which may differ from the config (changes
 * made without hot-plugging wait for the next start): a migration target must rebuild exactly these.
 */
export interface GuestDevices {
  readonly disks: readonly { readonly uuid: string; readonly pciSlot?: number }[];
  readonly nics: readonly NicSpec[];
  /** Why disks, or NICs, cannot be hot-plugged into this guest; absent when they can. */
  readonly hotplugRefusals: { readonly disk?: string; readonly nic?: string };
}

/** A device to hot-plug (Ganeti's HotAddDevice); a NIC given a slot goes back into it (a NIC modification). */
export type HotplugDevice =
  | { readonly kind: 'disk'; readonly disk: AttachedDisk }
  | { readonly kind: 'nic'; readonly nic: NicSpec };

/** Everything a hypervisor needs to start one instance: the config's view, with paths resolved on this node. */
export interface InstanceSpec {
  readonly name: string;
  readonly uuid: string;
  readonly memoryMiB: number;
  readonly vcpus: number;
  readonly disks: readonly AttachedDisk[];
  readonly nics: readonly NicSpec[];
  /** Ganeti-style hypervisor parameters (`kernel_path`, `boot_order`, `accel`, …), validated by checkParams. */
  readonly hvParams: Readonly<Record<string, string>>;
}

export type RunState = 'running' | 'paused' | 'incoming' | 'shutdown';

/** What the hypervisor observes of one instance on this node. */
export interface InstanceStatus {
  readonly name: string;
  readonly uuid: string;
  readonly state: RunState;
  readonly memoryMiB: number;
  readonly vcpus: number;
  /** When this node started it (or received it by migration). */
  readonly startedMs: number;
  readonly pid?: number;
}

export interface NodeResources {
  readonly memoryTotalMiB: number;
  readonly memoryFreeMiB: number;
  /** Memory held by the instances this hypervisor runs. */
  readonly memoryInstancesMiB: number;
  readonly cpus: number;
  readonly cpuSockets: number;
  readonly numaNodes: number;
}

export interface StopOptions {
  /** How long a clean (ACPI) shutdown may take before the instance is killed. */
  readonly timeoutMs: number;
  /** Skip the clean attempt. */
  readonly force?: boolean;
}

/** Where the target of a migration listens for the incoming state. */
export interface MigrationEndpoint {
  readonly host: string;
  readonly port: number;
  /** Where the target takes the disks' contents, for disks that only the source node holds. */
  readonly storage?: StorageEndpoint;
}

/** The target's NBD server, exporting each of the instance's (empty) disks by name, in disk order. */
export interface StorageEndpoint {
  readonly port: number;
  readonly exports: readonly string[];
}

export interface MigrationResult {
  readonly totalMs: number;
  /** How long the guest did not run; the hypervisor's own figure where it has one. */
  readonly downtimeMs: number;
  readonly transferredBytes: number;
}

export interface Hypervisor {
  readonly name: HypervisorName;
  /** Refuses unknown or malformed parameters with a CorralError('bad_request') naming the parameter. */
  checkParams(hvParams: Readonly<Record<string, string>>): void;
  /** Starts the instance; resolves once it runs (or is paused, when asked). Refuses a name already running. */
  start(spec: InstanceSpec, options?: { readonly paused?: boolean }): Promise<void>;
  /** Clean shutdown, then forced after the timeout; a stopped instance is not an error. */
  stop(name: string, options: StopOptions): Promise<void>;
  /** Soft: the guest reboots itself. Hard: the hypervisor resets it. */
  reboot(name: string, kind: 'soft' | 'hard'): Promise<void>;
  /**
   * Ganeti's runtime memory change (ballooning): the running guest gets `memoryMiB`; a hypervisor or guest
   * that cannot refuses with a CorralError('conflict') that says why.
   */
  setMemory(name: string, memoryMiB: number): Promise<void>;
  /** The running guest's devices; refuses (conflict) when the instance does not run here. */
  devices(name: string): Promise<GuestDevices>;
  /**
   * Plugs a device into the running guest and resolves with the PCI slot it took; refuses with a
   * CorralError('conflict') that says why when it cannot, the guest unchanged.
   */
  hotAdd(name: string, device: HotplugDevice): Promise<number>;
  /** Unplugs the disk or NIC with this UUID; resolves once the guest has released it. */
  hotRemove(name: string, kind: HotplugDevice['kind'], uuid: string): Promise<void>;
  /** The instance's state on this node, or undefined when it does not run here. */
  status(name: string): Promise<InstanceStatus | undefined>;
  list(): Promise<InstanceStatus[]>;
  resources(): Promise<NodeResources>;
  /**
   * Target side: prepares to receive a migration (for kvm, a QEMU waiting with -incoming). With copyStorage,
   * the spec's disks exist here empty and the source copies their contents while the guest runs; a
   * hypervisor that cannot do that refuses. With holdPaused, the guest does not resume when the migration
   * ends, but at finishMigration (a mirrored disk must change roles first); copyStorage implies it.
   */
  acceptMigration(
    spec: InstanceSpec,
    bindHost: string,
    options: { readonly copyStorage: boolean; readonly holdPaused?: boolean },
  ): Promise<MigrationEndpoint>;
  /**
   * Source side: sends the running instance to the endpoint (and its disks, when the endpoint takes them);
   * when this resolves the source copy is gone.
   */
  migrate(
    name: string,
    target: MigrationEndpoint,
    options: { readonly live: boolean },
  ): Promise<MigrationResult>;
  /** Target side: after a successful migration the instance runs here; after a failed one, the half copy is dropped. */
  finishMigration(name: string, succeeded: boolean): Promise<void>;
  /** The unix socket carrying the instance's serial console, when it runs here and has one. */
  consolePath(name: string): string | undefined;
}
