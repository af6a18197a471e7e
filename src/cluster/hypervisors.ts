import { type DiskTemplate, disksOnOneNode } from './disk-templates.js';

/**
 * What each hypervisor can do, as far as the master must know before it asks a node: one entry per hypervisor,
 * and every list of hypervisors derives from the table. The node agent's implementations live in src/vm.
 */

export interface HypervisorTraits {
  /**
   * Whether a live migration can take disks that only the source node holds, copying them as the guest runs
   * (QEMU mirrors them to the target over NBD). Without it such an instance leaves its node stopped, by
   * instance move: the fake hypervisor has no guest I/O to follow.
   */
  readonly copiesDisksLive: boolean;
  /**
   * Whether the target of a migration holds only the memory the guest was ballooned to. QEMU's target must
   * have the guest's whole RAM size (-m maxmem) whatever the balloon left in use; the fake hypervisor holds
   * what the guest uses.
   */
  readonly migratesBalloonedMemory: boolean;
}

const traits = {
  fake: { copiesDisksLive: false, migratesBalloonedMemory: true },
  kvm: { copiesDisksLive: true, migratesBalloonedMemory: false },
} as const satisfies Record<string, HypervisorTraits>;

export type HypervisorName = keyof typeof traits;
export const hypervisorTraits: Readonly<Record<HypervisorName, HypervisorTraits>> = traits;
export const hypervisors = Object.keys(traits) as readonly HypervisorName[];

/** Whether a name given from outside (an option, a parameter) is a hypervisor Corral has. */
export const isHypervisor = (name: string): name is HypervisorName =>
  (hypervisors as readonly string[]).includes(name);

/** Whether a live migration of the instance copies its one-node disks as it runs, rather than finding them shared. */
export function copiesDisksLive(instance: {
  readonly diskTemplate: DiskTemplate;
  readonly hypervisor: HypervisorName;
}): boolean {
  return disksOnOneNode(instance.diskTemplate) && traits[instance.hypervisor].copiesDisksLive;
}
