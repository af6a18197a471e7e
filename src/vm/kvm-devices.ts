import { createHash } from 'node:crypto';
import { CorralError } from '../common/errors.js';
import type { AttachedDisk, InstanceSpec, NicSpec } from './hypervisor.js';
import type { KvmParams } from './kvm-params.js';
import { type PlacedNic, tapName } from './kvm-taps.js';
import { placeDevices } from './pci-slots.js';

/**
 * A guest's disks and NICs as QEMU objects: each device described once, as options that become either its
 * command-line arguments at start or its QMP arguments when hot-plugged, so that a device plugged in while the
 * guest runs is the device a fresh start (or a migration target) would create.
 */

/** QEMU options: nested objects are a child's options (`file.filename=` on the command line). */
export interface QemuOptions {
  readonly [key: string]: string | number | boolean | QemuOptions;
}

/** A spec whose paravirtual disks and NICs all have their PCI slots. */
export type PlacedSpec = Omit<InstanceSpec, 'nics'> & { readonly nics: readonly PlacedNic[] };

const nicModels = {
  paravirtual: 'virtio-net-pci',
  e1000: 'e1000',
  rtl8139: 'rtl8139',
  ne2k_pci: 'ne2k_pci',
  pcnet: 'pcnet',
  i82551: 'i82551',
  i82557b: 'i82557b',
  i82559er: 'i82559er',
} as const;
const macShape = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
/**
 * How long QEMU holds a mirrored disk's requests while it reconnects to the daemon's NBD server (a daemon
 * restart), before it fails them to the guest.
 */
const NBD_RECONNECT_DELAY_S = 60;

/** QEMU's option parser splits values on commas; a literal comma is written twice. */
export function qemuOptionValue(value: string): string {
  return value.replaceAll(',', ',,');
}

/** The command-line form of options: `key=value` pairs, a child's keys prefixed with its name. */
export function commandLineOptions(options: QemuOptions, prefix = ''): string[] {
  return Object.entries(options).flatMap(([key, value]) => {
    if (typeof value === 'object') return commandLineOptions(value, `${prefix}${key}.`);
    const text = typeof value === 'boolean' ? (value ? 'on' : 'off') : String(value);
    return [`${prefix}${key}=${qemuOptionValue(text)}`];
  });
}

/** A `-device` argument: the driver first, as QEMU wants it. */
export function deviceArgument({ driver, ...options }: QemuOptions): string {
  return [String(driver), ...commandLineOptions(options)].join(',');
}

/**
 * QEMU names a device by an id, and a block node by a name of at most 31 characters: both come from a digest
 * of the device's UUID, as unique as the UUID and short enough.
 */
function shortId(uuid: string): string {
  return createHash('sha256').update(uuid).digest('hex').slice(0, 20);
}

export function diskDeviceId(uuid: string): string {
  return `disk-${shortId(uuid)}`;
}

/** The block node (or drive) of a disk, by which QMP commands (mirrors, NBD exports) name it. */
export function driveId(uuid: string): string {
  return `drive-${shortId(uuid)}`;
}

export function nicDeviceId(uuid: string): string {
  return `nic-${shortId(uuid)}`;
}

function netdevId(uuid: string): string {
  return `net-${shortId(uuid)}`;
}

/** q35 machines have a PCI Express root bus, into which QEMU cannot hot-plug. */
function isQ35(params: KvmParams): boolean {
  return /q35/.test(params.machineType);
}

function pciBus(params: KvmParams): string {
  return isQ35(params) ? 'pcie.0' : 'pci.0';
}

/** Why this kind of device cannot be hot-plugged into a guest with these parameters, if it cannot. */
export function hotplugRefusal(params: KvmParams, kind: 'disk' | 'nic'): string | undefined {
  if (isQ35(params))
    return `machine type ${params.machineType} has a PCI Express root bus, into which QEMU cannot hot-plug`;
  if (kind === 'disk' && params.diskType !== 'paravirtual')
    return `disk_type ${params.diskType} disks cannot be hot-plugged; only paravirtual ones can`;
  return undefined;
}

/** Gives every paravirtual disk and every NIC a PCI slot; devices that have one keep it. */
export function placedSpec(spec: InstanceSpec, params: KvmParams): PlacedSpec {
  const onPci = params.diskType === 'paravirtual';
  const placed = placeDevices(
    [...(onPci ? spec.disks : []), ...spec.nics],
    params.pciReservations,
    spec.name,
  );
  const disks = onPci ? (placed.slice(0, spec.disks.length) as AttachedDisk[]) : spec.disks;
  const nics = placed.slice(onPci ? spec.disks.length : 0) as PlacedNic[];
  return { ...spec, disks, nics };
}

/** Where a disk's data is: its image, or the export of this node's NBD server (a mirrored disk). */
function diskSource(disk: AttachedDisk): QemuOptions {
  if (disk.nbdExport === undefined) return { driver: 'file', filename: disk.path };
  return {
    driver: 'nbd',
    server: { type: 'unix', path: disk.path },
    export: disk.nbdExport,
    'reconnect-delay': NBD_RECONNECT_DELAY_S,
  };
}

/** The block node of a disk, named by its drive id. */
export function diskBackend(disk: AttachedDisk): QemuOptions {
  return {
    driver: disk.format,
    'node-name': driveId(disk.uuid),
    'read-only': disk.readOnly,
    file: diskSource(disk),
  };
}

/** SCSI disks hang off one controller, Ganeti's default (lsi), which QEMU places among its own slots. */
const SCSI_CONTROLLER_ID = 'scsi';
export const scsiController: QemuOptions = { driver: 'lsi53c895a', id: SCSI_CONTROLLER_ID };

/**
 * The guest's disk over the disk's block node: a virtio disk on its PCI slot, or an IDE disk (two per IDE bus)
 * or a SCSI disk (a target each, on the SCSI controller) in the order of the disks.
 */
export function diskDevice(disk: AttachedDisk, index: number, params: KvmParams): QemuOptions {
  const ids = { id: diskDeviceId(disk.uuid), drive: driveId(disk.uuid) };
  switch (params.diskType) {
    case 'ide':
      return { driver: 'ide-hd', ...ids, bus: `ide.${Math.floor(index / 2)}`, unit: index % 2 };
    case 'scsi':
      return { driver: 'scsi-hd', ...ids, bus: `${SCSI_CONTROLLER_ID}.0`, 'scsi-id': index };
    case 'paravirtual':
      if (disk.pciSlot === undefined)
        throw new CorralError('internal', `disk ${disk.uuid} has no PCI slot to go into`);
      return {
        driver: 'virtio-blk-pci',
        ...ids,
        bus: pciBus(params),
        addr: `0x${disk.pciSlot.toString(16)}`,
      };
  }
}

/**
 * The host side of a NIC: a tap (bridged), or none (mode none: the guest sees a NIC connected to nothing).
 * Routed and openvswitch NICs need more than a tap and are refused.
 */
export function nicBackend(
  nic: NicSpec,
  where: { runDir: string; instance: string },
): QemuOptions | undefined {
  if (!macShape.test(nic.mac))
    throw new CorralError('bad_request', `a NIC of ${where.instance} has a malformed MAC address ${nic.mac}`);
  if (nic.mode === 'none') return undefined;
  if (nic.mode !== 'bridged')
    throw new CorralError(
      'unavailable',
      `NIC ${nic.mac} of ${where.instance}: mode ${nic.mode} is not supported`,
    );
  if (nic.pciSlot === undefined)
    throw new CorralError('internal', `NIC ${nic.mac} has no PCI slot for its tap`);
  return {
    type: 'tap',
    id: netdevId(nic.uuid),
    ifname: tapName(where.runDir, where.instance, nic.pciSlot),
    script: 'no',
    downscript: 'no',
  };
}

export function nicDevice(nic: NicSpec, params: KvmParams): QemuOptions {
  if (nic.pciSlot === undefined)
    throw new CorralError('internal', `NIC ${nic.mac} has no PCI slot to go into`);
  return {
    driver: nicModels[params.nicType],
    id: nicDeviceId(nic.uuid),
    mac: nic.mac,
    ...(nic.mode !== 'none' && { netdev: netdevId(nic.uuid) }),
    bus: pciBus(params),
    addr: `0x${nic.pciSlot.toString(16)}`,
  };
}
