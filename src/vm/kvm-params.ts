import { isIP } from 'node:net';
import { CorralError } from '../common/errors.js';
import { DEFAULT_PCI_RESERVATIONS, PCI_SLOTS } from './pci-slots.js';

/**
 * The kvm hypervisor's parameters, named and defaulted as Ganeti's (`gnt-instance add -H name=value,…`).
 * An empty value means "not set", as in Ganeti. Only syntax is checked here, so that the master can check
 * parameters for any node; whether a path exists is checked on the node that starts the instance.
 */

export const accels = ['kvm', 'tcg'] as const;
export type Accel = (typeof accels)[number];

export const bootOrders = ['disk', 'cdrom', 'network'] as const;
export const diskTypes = ['paravirtual', 'ide', 'scsi'] as const;
export const nicTypes = [
  'paravirtual',
  'e1000',
  'rtl8139',
  'ne2k_pci',
  'pcnet',
  'i82551',
  'i82557b',
  'i82559er',
] as const;

export interface KvmParams {
  readonly kernelPath?: string;
  readonly initrdPath?: string;
  /** Passed to the kernel; with a serial console, `console=ttyS0,115200` is appended, as Ganeti does. */
  readonly kernelArgs: string;
  readonly bootOrder: (typeof bootOrders)[number];
  readonly cdromImagePath?: string;
  /** VNC listens here only when set; no VNC otherwise. */
  readonly vncBindAddress?: string;
  /** Overrides the node's verdict (see accel-probe.ts) for this instance. */
  readonly accel?: Accel;
  readonly machineType: string;
  readonly cpuType?: string;
  readonly diskType: (typeof diskTypes)[number];
  readonly nicType: (typeof nicTypes)[number];
  readonly serialConsole: boolean;
  readonly migrationBandwidthMiBps: number;
  readonly migrationDowntimeMs: number;
  /** The PCI slots left to QEMU; disks and NICs go above them (pci-slots.ts). */
  readonly pciReservations: number;
}

/** Ganeti's defaults, where Ganeti has one that fits (its kernel_path points at a Ganeti-built kernel). */
const defaults: KvmParams = {
  kernelArgs: '',
  bootOrder: 'disk',
  machineType: 'pc',
  diskType: 'paravirtual',
  nicType: 'paravirtual',
  serialConsole: true,
  migrationBandwidthMiBps: 32,
  migrationDowntimeMs: 30,
  pciReservations: DEFAULT_PCI_RESERVATIONS,
};

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Setter = (params: Mutable<KvmParams>, value: string, name: string) => void;

function refuse(name: string, value: string, expected: string): never {
  throw new CorralError(
    'bad_request',
    `hypervisor parameter ${name}=${value} is invalid: expected ${expected}`,
  );
}

function oneOf<const T extends string>(choices: readonly T[], value: string, name: string): T {
  const choice = choices.find((c) => c === value);
  return choice ?? refuse(name, value, `one of ${choices.join(', ')}`);
}

function optionalPath(value: string, name: string): string | undefined {
  if (value === '') return undefined;
  return value.startsWith('/') && !/[\0\n]/.test(value) ? value : refuse(name, value, 'an absolute path');
}

function optionalMatch(value: string, name: string, pattern: RegExp, expected: string): string | undefined {
  if (value === '') return undefined;
  return pattern.test(value) ? value : refuse(name, value, expected);
}

function positiveInteger(value: string, name: string): number {
  return /^[1-9][0-9]{0,8}$/.test(value) ? Number(value) : refuse(name, value, 'a positive integer');
}

/** Names of QEMU models: letters, digits and `._-`, so that nothing else reaches QEMU's option parser. */
const modelName = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** A CPU model may carry QEMU's feature list (`Haswell,+vmx,-hle`). */
const cpuModel = /^[A-Za-z0-9][A-Za-z0-9._-]*(,[+-]?[A-Za-z0-9._-]+(=[A-Za-z0-9._-]+)?)*$/;

const setters: Readonly<Record<string, Setter>> = {
  kernel_path: (p, v, n) => {
    p.kernelPath = optionalPath(v, n);
  },
  initrd_path: (p, v, n) => {
    p.initrdPath = optionalPath(v, n);
  },
  kernel_args: (p, v, n) => {
    p.kernelArgs = /[\0\n]/.test(v) ? refuse(n, v, 'one line') : v;
  },
  boot_order: (p, v, n) => {
    p.bootOrder = oneOf(bootOrders, v, n);
  },
  cdrom_image_path: (p, v, n) => {
    p.cdromImagePath = optionalPath(v, n);
  },
  vnc_bind_address: (p, v, n) => {
    if (v !== '' && isIP(v) === 0) refuse(n, v, 'an IP address');
    p.vncBindAddress = v === '' ? undefined : v;
  },
  accel: (p, v, n) => {
    p.accel = v === '' ? undefined : oneOf(accels, v, n);
  },
  machine_type: (p, v, n) => {
    p.machineType = optionalMatch(v, n, modelName, 'a QEMU machine type') ?? defaults.machineType;
  },
  cpu_type: (p, v, n) => {
    p.cpuType = optionalMatch(v, n, cpuModel, 'a QEMU CPU model');
  },
  disk_type: (p, v, n) => {
    p.diskType = oneOf(diskTypes, v, n);
  },
  nic_type: (p, v, n) => {
    p.nicType = oneOf(nicTypes, v, n);
  },
  serial_console: (p, v, n) => {
    // Ganeti compares booleans without case: True and false both pass.
    p.serialConsole = oneOf(['true', 'false'], v.toLowerCase(), n) === 'true';
  },
  migration_bandwidth: (p, v, n) => {
    p.migrationBandwidthMiBps = positiveInteger(v, n);
  },
  migration_downtime: (p, v, n) => {
    p.migrationDowntimeMs = positiveInteger(v, n);
  },
  kvm_pci_reservations: (p, v, n) => {
    const slots = /^[0-9]{1,2}$/.test(v) ? Number(v) : Number.NaN;
    p.pciReservations =
      slots <= PCI_SLOTS ? slots : refuse(n, v, `a number of PCI slots from 0 to ${PCI_SLOTS}`);
  },
};

export const kvmParamNames: readonly string[] = Object.keys(setters);

/** Refuses an unknown name or a bad value with a CorralError('bad_request') naming the parameter. */
export function parseKvmParams(hvParams: Readonly<Record<string, string>>): KvmParams {
  const params: Mutable<KvmParams> = { ...defaults };
  for (const [name, value] of Object.entries(hvParams)) {
    const set = setters[name];
    if (set === undefined) {
      throw new CorralError(
        'bad_request',
        `unknown hypervisor parameter ${name} for kvm; known: ${kvmParamNames.join(', ')}`,
      );
    }
    set(params, value, name);
  }
  if (params.initrdPath !== undefined && params.kernelPath === undefined) {
    throw new CorralError('bad_request', 'hypervisor parameter initrd_path needs kernel_path as well');
  }
  return params;
}
