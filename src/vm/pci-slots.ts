import { CorralError } from '../common/errors.js';
import type { HotplugDevice } from './hypervisor.js';

/**
 * The PCI slots of a guest's disks and NICs, placed as Ganeti's kvm places them: the first slots of the bus
 * are left to QEMU (host bridge, ISA bridge, VGA and what else it adds on its own; Ganeti's
 * kvm_pci_reservations, 12 by default), and every disk and NIC gets an explicit slot above them, its own for
 * the life of the guest. So a device plugged in or out moves no other, and a migration target, given the
 * same slots, rebuilds the same bus, which QEMU requires.
 */

export const PCI_SLOTS = 32;
export const DEFAULT_PCI_RESERVATIONS = 12;

/** The lowest slot above the reserved ones that no device holds. */
export function freePciSlot(taken: ReadonlySet<number>, reserved: number, guest: string): number {
  for (let slot = reserved; slot < PCI_SLOTS; slot++) if (!taken.has(slot)) return slot;
  throw new CorralError(
    'conflict',
    `${guest} has no free PCI slot left (slots ${reserved} to ${PCI_SLOTS - 1} are taken); remove a device, or lower kvm_pci_reservations`,
  );
}

/**
 * Every device given a slot: those that have one keep it (each in range and distinct), the others take the
 * lowest free ones in order.
 */
export function placeDevices<T extends { readonly pciSlot?: number }>(
  devices: readonly T[],
  reserved: number,
  guest: string,
): (T & { readonly pciSlot: number })[] {
  const taken = new Set<number>();
  for (const { pciSlot } of devices) {
    if (pciSlot === undefined) continue;
    if (!Number.isInteger(pciSlot) || pciSlot < reserved || pciSlot >= PCI_SLOTS)
      throw new CorralError(
        'bad_request',
        `PCI slot ${pciSlot} of ${guest} is outside slots ${reserved} to ${PCI_SLOTS - 1}`,
      );
    if (taken.has(pciSlot))
      throw new CorralError('bad_request', `two devices of ${guest} are given PCI slot ${pciSlot}`);
    taken.add(pciSlot);
  }
  return devices.map((device) => {
    if (device.pciSlot !== undefined) return { ...device, pciSlot: device.pciSlot };
    const pciSlot = freePciSlot(taken, reserved, guest);
    taken.add(pciSlot);
    return { ...device, pciSlot };
  });
}

/**
 * The slot a device plugged into a running guest takes: the one it asks for (a NIC changed goes back where it
 * was), else the lowest free one. Refuses a device the guest already has, or a slot another device holds.
 */
export function slotForPlug(
  plugged: readonly { readonly uuid: string; readonly pciSlot?: number }[],
  device: HotplugDevice,
  reserved: number,
  guest: string,
): number {
  const { uuid, pciSlot: asked } = device.kind === 'disk' ? device.disk : device.nic;
  if (plugged.some((d) => d.uuid === uuid))
    throw new CorralError('conflict', `${guest} already has ${device.kind} ${uuid} plugged in`);
  const taken = new Set(plugged.flatMap((d) => d.pciSlot ?? []));
  if (asked !== undefined && taken.has(asked))
    throw new CorralError('conflict', `PCI slot ${asked} of ${guest} is taken by another device`);
  return asked ?? freePciSlot(taken, reserved, guest);
}

/** The refusal to unplug a device the guest does not have. */
export function notPlugged(guest: string, kind: HotplugDevice['kind'], uuid: string): CorralError {
  return new CorralError(
    'conflict',
    `${guest} has no ${kind} ${uuid} plugged in (it was added without hot-plugging?)`,
  );
}
