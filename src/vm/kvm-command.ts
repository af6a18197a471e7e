import type { InstanceSpec } from './hypervisor.js';
import {
  commandLineOptions,
  deviceArgument,
  diskBackend,
  diskDevice,
  nicBackend,
  nicDevice,
  type PlacedSpec,
  placedSpec,
  qemuOptionValue,
  scsiController,
} from './kvm-devices.js';
import type { Accel, KvmParams } from './kvm-params.js';
import type { RuntimePaths } from './kvm-runtime.js';

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

const bootDevices = { disk: 'c', cdrom: 'd', network: 'n' } as const;
const uuidShape = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** VNC takes the first free display from :0 up to this one (ports 5900 to 5999). */
const vncDisplayMax = 99;

export function qemuArgs(launch: QemuLaunch): string[] {
  const { params, paths } = launch;
  const spec = placedSpec(launch.spec, params);
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
    nicArgs(launch, spec),
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

/** Every disk is a block node and a device over it (kvm-devices.ts); SCSI disks need their controller. */
function diskArgs(spec: PlacedSpec, params: KvmParams): string[] {
  const controller =
    params.diskType === 'scsi' && spec.disks.length > 0 ? ['-device', deviceArgument(scsiController)] : [];
  const drives = spec.disks.flatMap((disk, index) => [
    '-blockdev',
    commandLineOptions(diskBackend(disk)).join(','),
    '-device',
    deviceArgument(diskDevice(disk, index, params)),
  ]);
  if (params.cdromImagePath === undefined) return [...controller, ...drives];
  return [
    ...controller,
    ...drives,
    '-drive',
    `file=${qemuOptionValue(params.cdromImagePath)},format=raw,media=cdrom,readonly=on,if=ide,index=2`,
  ];
}

function nicArgs({ params, runDir }: QemuLaunch, spec: PlacedSpec): string[] {
  return spec.nics.flatMap((nic) => {
    const backend = nicBackend(nic, { runDir, instance: spec.name });
    const device = ['-device', deviceArgument(nicDevice(nic, params))];
    if (backend === undefined) return device;
    const { type, ...options } = backend;
    return ['-netdev', [String(type), ...commandLineOptions(options)].join(','), ...device];
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
