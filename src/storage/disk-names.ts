import { CorralError } from '../common/errors.js';
import type { DiskRef } from './disk-template.js';

/**
 * UUIDs name the storage objects (files, logical volumes), so they must be safe as a path component and as
 * an LVM name: no slash, no leading dot or dash, nothing a shell or LVM would read specially.
 */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function checkDiskNames(disk: DiskRef): void {
  for (const [what, value] of [
    ['instance UUID', disk.instanceUuid],
    ['disk UUID', disk.diskUuid],
  ] as const) {
    if (!SAFE_NAME.test(value))
      throw new CorralError(
        'bad_request',
        `${what} ${JSON.stringify(value)} of ${disk.instanceName} cannot name a disk: use letters, digits, '.', '_' and '-'`,
      );
  }
}

export function checkSizeMiB(disk: DiskRef, sizeMiB: number): void {
  if (!Number.isSafeInteger(sizeMiB) || sizeMiB <= 0)
    throw new CorralError(
      'bad_request',
      `disk ${disk.index} of ${disk.instanceName}: size ${sizeMiB} MiB is not a positive whole number of MiB`,
    );
}
