/**
 * What each disk template is, in one table: every list of templates and every "is it shared, mirrored, on one
 * node" in Corral derives from it, so that a new template is one entry here plus its storage implementation
 * (src/storage). The table holds all of Ganeti's templates, since the allocator reads any of them in htools
 * files and iallocator requests; `corral` says which of them a Corral cluster may hold.
 */

/** How an instance's disks outlive the loss of its primary node (Ganeti's mirror type). */
export type MirrorType = 'none' | 'internal' | 'external';

export interface DiskTemplateTraits {
  /**
   * Whether a Corral cluster may enable the template and hold instances of it; the others are Ganeti's alone,
   * known to the allocator only.
   */
  readonly corral: boolean;
  /**
   * none: the disks live on the primary alone and die with it. internal: the cluster mirrors them to a
   * secondary node, which every instance of the template needs and where it fails over. external: storage
   * outside the nodes keeps them (or there are none), so no node holds the only copy.
   */
  readonly mirror: MirrorType;
  /**
   * Whether every node of the group reaches the disks, or there are none (Ganeti's diskTemplateMovable): the
   * instance may run on any node without copying them, so migration and failover go anywhere and N+1 may
   * restart it on any node. blockdev is mirrored externally, but nothing tells which nodes see the device it
   * adopts, so it is not.
   */
  readonly sharedStorage: boolean;
  /**
   * What each disk is on a node: none (the template takes no disks), an image file (Ganeti's file-based
   * templates; OS scripts see the backend type `file:loop`), or a block device (`block`).
   */
  readonly disks: 'none' | 'file' | 'block';
  /** Whether the disks draw on the node's own volume group (htools' local storage), so count in its free disk. */
  readonly localStorage: boolean;
  /**
   * Whether the disks' sizes count in Ganeti's disk_space_total: blockdev adopts devices made outside the
   * cluster, so nothing is allocated for them.
   */
  readonly countsSpace: boolean;
  /** What each disk takes on every node holding it beyond its size: DRBD's metadata. */
  readonly metadataPerDiskMiB: number;
}

const traits = {
  diskless: {
    corral: true,
    mirror: 'external',
    sharedStorage: true,
    disks: 'none',
    localStorage: false,
    countsSpace: false,
    metadataPerDiskMiB: 0,
  },
  file: {
    corral: true,
    mirror: 'none',
    sharedStorage: false,
    disks: 'file',
    localStorage: false,
    countsSpace: true,
    metadataPerDiskMiB: 0,
  },
  sharedfile: {
    corral: true,
    mirror: 'external',
    sharedStorage: true,
    disks: 'file',
    localStorage: false,
    countsSpace: true,
    metadataPerDiskMiB: 0,
  },
  plain: {
    corral: true,
    mirror: 'none',
    sharedStorage: false,
    disks: 'block',
    localStorage: true,
    countsSpace: true,
    metadataPerDiskMiB: 0,
  },
  blockdev: {
    corral: false,
    mirror: 'external',
    sharedStorage: false,
    disks: 'block',
    localStorage: false,
    countsSpace: false,
    metadataPerDiskMiB: 0,
  },
  // Corral's mirror keeps each copy in an image file on its node (notes/mirror.md), which OS scripts see as one.
  drbd: {
    corral: true,
    mirror: 'internal',
    sharedStorage: false,
    disks: 'file',
    localStorage: true,
    countsSpace: true,
    metadataPerDiskMiB: 128,
  },
  rbd: {
    corral: false,
    mirror: 'external',
    sharedStorage: true,
    disks: 'block',
    localStorage: false,
    countsSpace: true,
    metadataPerDiskMiB: 0,
  },
  ext: {
    corral: false,
    mirror: 'external',
    sharedStorage: true,
    disks: 'block',
    localStorage: false,
    countsSpace: true,
    metadataPerDiskMiB: 0,
  },
  gluster: {
    corral: false,
    mirror: 'external',
    sharedStorage: true,
    disks: 'file',
    localStorage: false,
    countsSpace: true,
    metadataPerDiskMiB: 0,
  },
} as const satisfies Record<string, DiskTemplateTraits>;

/** Every disk template Ganeti defines. */
export type DiskTemplate = keyof typeof traits;
export const diskTemplateTraits: Readonly<Record<DiskTemplate, DiskTemplateTraits>> = traits;
/** In Ganeti's order, which policies and htools files list them in. */
export const diskTemplates = Object.keys(traits) as readonly DiskTemplate[];

/** The templates a Corral cluster may hold. */
export type CorralDiskTemplate = {
  [T in DiskTemplate]: (typeof traits)[T]['corral'] extends true ? T : never;
}[DiskTemplate];
export const corralDiskTemplates: readonly CorralDiskTemplate[] = diskTemplates.filter(
  (template): template is CorralDiskTemplate => traits[template].corral,
);

/** Whether a name given from outside (an option, a parameter) is a template a Corral cluster may hold. */
export const isCorralDiskTemplate = (name: string): name is CorralDiskTemplate =>
  (corralDiskTemplates as readonly string[]).includes(name);

/** Whether instances of the template have disks at all. */
export const takesDisks = (template: DiskTemplate): boolean => traits[template].disks !== 'none';

/** Whether every instance of the template has a secondary node, which holds the mirror of its disks. */
export const needsSecondary = (template: DiskTemplate): boolean => traits[template].mirror === 'internal';

/** Whether the disks live on the primary node alone: leaving it means copying them. */
export const disksOnOneNode = (template: DiskTemplate): boolean => traits[template].mirror === 'none';

/** How many nodes a new instance of the template takes: its primary, and a secondary when it has one. */
export const requiredNodes = (template: DiskTemplate): 1 | 2 => (needsSecondary(template) ? 2 : 1);

/** What an instance's disks take on each node holding them (Ganeti's disk_space_total). */
export function diskSpaceMiB(template: DiskTemplate, sizesMiB: readonly number[]): number {
  const { countsSpace, metadataPerDiskMiB } = traits[template];
  return countsSpace ? sizesMiB.reduce((sum, size) => sum + size + metadataPerDiskMiB, 0) : 0;
}
