import type { CorralDiskTemplate } from '../cluster/disk-templates.js';
import type { DiskTemplate } from './disk-template.js';
import { createDisklessTemplate } from './diskless.js';
import { createFileTemplate } from './file-template.js';
import { createPlainTemplate } from './plain.js';

/** Where a node's templates keep their disks. */
export interface StorageInit {
  readonly fileStorageDir: string;
  /** The same path on every node (NFS, a cluster filesystem). */
  readonly sharedFileStorageDir: string;
  /** The LVM volume group of `plain` disks (Ganeti's default is xenvg). */
  readonly volumeGroup: string;
  /** Where this node keeps its copies of mirrored (drbd) disks, which src/storage/mirror keeps in step. */
  readonly mirrorStorageDir: string;
}

/** Every disk template this node knows; each says through availability() whether the node can use it. */
export function createDiskTemplates(init: StorageInit): ReadonlyMap<CorralDiskTemplate, DiskTemplate> {
  return new Map<CorralDiskTemplate, DiskTemplate>([
    ['diskless', createDisklessTemplate()],
    ['file', createFileTemplate({ name: 'file', dir: init.fileStorageDir })],
    ['sharedfile', createFileTemplate({ name: 'sharedfile', dir: init.sharedFileStorageDir })],
    ['plain', createPlainTemplate({ volumeGroup: init.volumeGroup })],
    ['drbd', createFileTemplate({ name: 'drbd', dir: init.mirrorStorageDir })],
  ]);
}
