import { diskTemplateTraits } from '../cluster/disk-templates.js';
import { CorralError } from '../common/errors.js';
import type { DiskTemplate } from './disk-template.js';

/**
 * Ganeti's `diskless`: the instance has no disks (it boots from the network or a kernel given by path).
 * There is nothing to make, find or remove; asking to grow or copy a disk is refused. It counts as shared
 * storage: migration and failover have nothing to copy.
 */
export function createDisklessTemplate(): DiskTemplate {
  const refuse = (what: string) =>
    new CorralError('bad_request', `diskless instances have no disks to ${what}; use another disk template`);
  return {
    name: 'diskless',
    shared: diskTemplateTraits.diskless.sharedStorage,
    async availability() {
      return { available: true };
    },
    async create() {},
    async remove() {},
    path() {
      return undefined;
    },
    /** A diskless template holds no disk, so none exists. */
    async exists() {
      return false;
    },
    async sizeMiB() {
      return undefined;
    },
    async grow() {
      throw refuse('grow');
    },
    // biome-ignore lint/correctness/useYield: refusing is all there is to do
    async *read() {
      throw refuse('copy');
    },
    async write() {
      throw refuse('copy');
    },
    async space() {
      return { totalMiB: 0, freeMiB: 0 };
    },
  };
}
