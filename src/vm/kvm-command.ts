import { CorralError } from '../common/errors.js';
import type { InstanceSpec } from './hypervisor.js';
import type { Accel, KvmParams } from './kvm-params.js';
import type { RuntimePaths } from './kvm-runtime.js';
import { tapName } from './kvm-taps.js';

/**
 * The QEMU command line of one instance: a pure function of the spec, its parameters and its runtime dir,
 * so that it can be read and tested without QEMU. Nothing outside the spec is implied: -nodefaults drops
 * QEMU's default NIC, serial port, VGA and drives, and -no-user-config ignores the host's QEMU config.
 */

export interface QemuLaunch {
  readonly spec: InstanceSpec;
  readonly params: KvmParams;
  readonly paths: RuntimePaths;
  /** Names the taps of bridged NICs (kvm-taps.ts). */
  readonly runDir: string;
  readonly accel: Accel;
  /** Start with the CPUs stopped (-S). */
  readonly paused: boolean;
  /** Wait for a migration; the address is given later over QMP (migrate-incoming). */
  readonly incoming: boolean;
}

const diskInterfaces = { paravirtual: 'virtio', ide: 'ide', scsi: 'scsi' } as const;
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
const bootDevices = { disk: 'c', cdrom: 'd', network: 'n' } as const;
const uuidShape = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const macShape = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
/** VNC takes the first free display from :0 up to this one (ports 5900 to 5999). */
const vncDisplayMax = 99;

/** QEMU's option parser splits values on commas; a literal comma is written twice. */
export function qemuOptionValue(value: string): string {
  return value.replaceAll(',', ',,');
}

export function qemuArgs(launch: QemuLaunch): string[] {
  const { spec, params, paths } = launch;
  const args = [
    ['-name', `guest=${spec.name}`],
    ['-nodefaults', '-no-user-config'],
    ['-msg', 'timestamp=on'],
    ['-machine', params.machineType],
    ['-accel', launch.accel],
    params.cpuType === undefined ? [] : ['-cpu', params.cpuType],
    ['-m', String(spec.memoryMiB)],
    ['-smp', String(spec.vcpus)],
    ['-pidfile', paths.pid],
    ['-qmp', `unix:${qemuOptionValue(paths.qmp)},server=on,wait=off`],
    serialArgs(params, paths),
    displayArgs(params),
    diskArgs(spec, params),
    nicArgs(launch),
    bootArgs(params),
    launch.paused ? ['-S'] : [],
    launch.incoming ? ['-incoming', 'defer'] : [],
  ];
  if (uuidShape.test(spec.uuid)) args.push(['-uuid', spec.uuid]);
  return args.flat();
}

function serialArgs(params: KvmParams, paths: RuntimePaths): string[] {
  if (!params.serialConsole) return [];
  // A listening socket that `corral instance console` attaches to; wait=off lets the guest run unattended.
  return [
    '-chardev',
    `socket,id=serial0,path=${qemuOptionValue(paths.console)},server=on,wait=off`,
    '-serial',
    'chardev:serial0',
  ];
}

/** A host in a QEMU address (VNC, migration and NBD URIs): IPv6 addresses go in brackets. */
export function uriHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function displayArgs(params: KvmParams): string[] {
  if (params.vncBindAddress === undefined) return ['-display', 'none'];
  return ['-vga', 'std', '-vnc', `${uriHost(params.vncBindAddress)}:0,to=${vncDisplayMax}`];
}

/** The id of a disk's drive, by which QMP commands (mirrors, NBD exports) name it. */
export function driveId(index: number): string {
  return `disk${index}`;
}

/**
 * How long QEMU holds a mirrored disk's requests while it reconnects to the daemon's NBD server (a daemon
 * restart), before it fails them to the guest.
 */
const NBD_RECONNECT_DELAY_S = 60;

/** Where QEMU opens a disk: its image, or the export of this node's NBD server (a mirrored disk). */
function driveSource(disk: InstanceSpec['disks'][number]): string[] {
  if (disk.nbdExport === undefined) return [`file=${qemuOptionValue(disk.path)}`];
  return [
    'file.driver=nbd',
    'file.server.type=unix',
    `file.server.path=${qemuOptionValue(disk.path)}`,
    `file.export=${qemuOptionValue(disk.nbdExport)}`,
    `file.reconnect-delay=${NBD_RECONNECT_DELAY_S}`,
  ];
}

function diskArgs(spec: InstanceSpec, params: KvmParams): string[] {
  const drives = spec.disks.flatMap((disk, index) => [
    '-drive',
    [
      ...driveSource(disk),
      `format=${disk.format}`,
      `if=${diskInterfaces[params.diskType]}`,
      `index=${index}`,
      `id=${driveId(index)}`,
      `readonly=${disk.readOnly ? 'on' : 'off'}`,
    ].join(','),
  ]);
  if (params.cdromImagePath === undefined) return drives;
  return [
    ...drives,
    '-drive',
    `file=${qemuOptionValue(params.cdromImagePath)},format=raw,media=cdrom,readonly=on,if=ide,index=2`,
  ];
}

function nicArgs({ spec, params, runDir }: QemuLaunch): string[] {
  return spec.nics.flatMap((nic, index) => {
    if (!macShape.test(nic.mac)) {
      throw new CorralError(
        'bad_request',
        `NIC ${index} of ${spec.name} has a malformed MAC address ${nic.mac}`,
      );
    }
    const device = `${nicModels[params.nicType]},mac=${nic.mac},id=nic${index}`;
    // A NIC in mode none has no host side: the guest sees the device, nothing is connected to it.
    if (nic.mode === 'none') return ['-device', device];
    if (nic.mode !== 'bridged') {
      throw new CorralError('unavailable', `NIC ${index} of ${spec.name}: mode ${nic.mode} is not supported`);
    }
    const tap = tapName(runDir, spec.name, index);
    return [
      '-netdev',
      `tap,id=net${index},ifname=${tap},script=no,downscript=no`,
      '-device',
      `${device},netdev=net${index}`,
    ];
  });
}

function bootArgs(params: KvmParams): string[] {
  if (params.kernelPath === undefined) return ['-boot', `order=${bootDevices[params.bootOrder]}`];
  const kernelArgs = params.serialConsole
    ? `${params.kernelArgs} console=ttyS0,115200`.trim()
    : params.kernelArgs;
  return [
    '-kernel',
    params.kernelPath,
    ...(params.initrdPath === undefined ? [] : ['-initrd', params.initrdPath]),
    '-append',
    kernelArgs,
  ];
}
