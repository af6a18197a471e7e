import type { CorralDiskTemplate } from '../cluster/disk-templates.js';
import type { DiskMap } from './extents.js';

/**
 * Disk templates behind one interface: where an instance's disks live on a node and how they are made,
 * grown, copied and removed. One implementation per template (`diskless`, `file`, `sharedfile`, `plain`);
 * all pass the same compliance suite (test/storage/template-compliance.ts). The mirrored template (Ganeti's
 * drbd) will take a primary and a secondary node through `DiskRef.nodes`.
 */

/** One disk of one instance, as the config knows it. */
export interface DiskRef {
  readonly instanceName: string;
  readonly instanceUuid: string;
  /** Stable across renames and index changes; names the storage object. */
  readonly diskUuid: string;
  readonly index: number;
  readonly sizeMiB: number;
  readonly format: 'raw' | 'qcow2';
}

export type Availability =
  | { readonly available: true }
  | { readonly available: false; readonly reason: string };

export interface StorageSpace {
  readonly totalMiB: number;
  readonly freeMiB: number;
  /** Where the template keeps its disks: a directory, or an LVM volume group (Ganeti's storage unit name). */
  readonly location?: string;
}

export interface DiskTemplate {
  readonly name: CorralDiskTemplate;
  /**
   * True when every node of the cluster reaches the same storage (sharedfile), as the template's sharedStorage
   * trait says: migration and failover need no copy, and removal must happen once, not per node.
   */
  readonly shared: boolean;
  /** Whether this node can use the template, with the reason when it cannot ("lvm2 is not installed", …). */
  availability(): Promise<Availability>;
  /** Creates the disk; a disk that already exists with this size is left alone (a resumed job repeats steps). */
  create(disk: DiskRef): Promise<void>;
  /** Removes the disk; a missing disk is not an error. */
  remove(disk: DiskRef): Promise<void>;
  /** Where the hypervisor and the OS scripts find the disk on this node; undefined for diskless. */
  path(disk: DiskRef): string | undefined;
  exists(disk: DiskRef): Promise<boolean>;
  /**
   * The disk's size on this node as its guest sees it, in whole MiB (rounded down), or undefined when the
   * disk is missing: what cluster repair-disk-sizes compares the recorded size with.
   */
  sizeMiB(disk: DiskRef): Promise<number | undefined>;
  /** Grows to newSizeMiB (never shrinks; equal is a no-op, smaller is refused). */
  grow(disk: DiskRef, newSizeMiB: number): Promise<void>;
  /**
   * The disk's bytes from `offsetBytes` on, for copying it to another node (instance move) a chunk at a time;
   * the instance must be stopped. Rejects with not_found when the disk is missing.
   */
  read(disk: DiskRef, offsetBytes?: number): AsyncIterable<Uint8Array>;
  /**
   * Where the disk's data lies from `fromBytes` on, so that a copy skips the holes without reading them.
   * Absent where the template cannot tell (block devices): a copy then reads all of the disk.
   */
  dataExtents?(disk: DiskRef, fromBytes: number): Promise<DiskMap>;
  /** Creates the disk from bytes read elsewhere; replaces a partial copy left by an interrupted move. */
  write(disk: DiskRef, source: AsyncIterable<Uint8Array>): Promise<void>;
  /** Space of the storage this template draws from on this node. */
  space(): Promise<StorageSpace>;
  /**
   * Ganeti's repair-storage: brings the storage back to a consistent state and says what was done (plain:
   * `vgreduce --removemissing` on the volume group). Absent where there is nothing Ganeti would repair.
   */
  repair?(): Promise<string>;
}
