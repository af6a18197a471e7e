import { describe, expect, it } from 'vitest';
import type { InstanceSpec } from '../../src/vm/hypervisor.js';
import { type QemuLaunch, qemuArgs } from '../../src/vm/kvm-command.js';
import { diskDeviceId, driveId, hotplugRefusal, nicDeviceId } from '../../src/vm/kvm-devices.js';
import { parseKvmParams } from '../../src/vm/kvm-params.js';
import { runtimePaths } from '../../src/vm/kvm-runtime.js';
import { tapName } from '../../src/vm/kvm-taps.js';

function launch(spec: Partial<InstanceSpec> = {}, options: Partial<QemuLaunch> = {}): QemuLaunch {
  const full: InstanceSpec = {
    name: 'web1',
    uuid: '0d4c4a5e-6f5e-4a52-9d0a-1c2b3a4d5e6f',
    memoryMiB: 512,
    vcpus: 2,
    disks: [],
    nics: [],
    hvParams: {},
    ...spec,
  };
  return {
    spec: full,
    params: parseKvmParams(full.hvParams),
    paths: runtimePaths('/run/corral/kvm', full.name),
    runDir: '/run/corral/kvm',
    accel: 'tcg',
    paused: false,
    incoming: false,
    ...options,
  };
}

/** The values that follow each occurrence of an option. */
function values(args: string[], option: string): string[] {
  return args.flatMap((arg, index) => (arg === option ? [args[index + 1] ?? ''] : []));
}

describe('the QEMU command line', () => {
  it('says everything the guest gets and nothing else', () => {
    const args = qemuArgs(launch());
    expect(args).toContain('-nodefaults');
    expect(values(args, '-m')).toEqual(['512']);
    expect(values(args, '-smp')).toEqual(['2']);
    expect(values(args, '-accel')).toEqual(['tcg']);
    expect(values(args, '-machine')).toEqual(['pc']);
    expect(values(args, '-uuid')).toEqual(['0d4c4a5e-6f5e-4a52-9d0a-1c2b3a4d5e6f']);
    expect(values(args, '-pidfile')).toEqual(['/run/corral/kvm/instances/web1/qemu.pid']);
    expect(values(args, '-qmp')).toEqual(['unix:/run/corral/kvm/instances/web1/qmp.sock,server=on,wait=off']);
    expect(values(args, '-chardev')).toEqual([
      'socket,id=serial0,path=/run/corral/kvm/instances/web1/console.sock,server=on,wait=off',
    ]);
    expect(values(args, '-display')).toEqual(['none']);
    expect(values(args, '-boot')).toEqual(['order=c']);
    expect(args).not.toContain('-vnc');
    expect(args).not.toContain('-S');
    expect(args).not.toContain('-incoming');
  });

  it('boots a kernel with the serial console appended, as Ganeti does', () => {
    const hvParams = { kernel_path: '/boot/vmlinuz', initrd_path: '/boot/initrd', kernel_args: 'ro quiet' };
    const args = qemuArgs(launch({ hvParams }));
    expect(values(args, '-kernel')).toEqual(['/boot/vmlinuz']);
    expect(values(args, '-initrd')).toEqual(['/boot/initrd']);
    expect(values(args, '-append')).toEqual(['ro quiet console=ttyS0,115200']);
    expect(args).not.toContain('-boot');
    const quiet = qemuArgs(launch({ hvParams: { ...hvParams, serial_console: 'False' } }));
    expect(values(quiet, '-append')).toEqual(['ro quiet']);
    expect(quiet).not.toContain('-chardev');
  });

  it('attaches IDE and SCSI disks in order, as block nodes QMP can name, escaping commas in their paths', () => {
    const disks = [
      { uuid: 'a1', path: '/srv/a,b.img', format: 'qcow2' as const, readOnly: false },
      { uuid: 'c3', path: '/srv/c.img', format: 'raw' as const, readOnly: true },
      { uuid: 'd4', path: '/srv/d.img', format: 'raw' as const, readOnly: false },
    ];
    const args = qemuArgs(launch({ disks, hvParams: { disk_type: 'ide', boot_order: 'cdrom' } }));
    expect(values(args, '-blockdev')).toEqual([
      `driver=qcow2,node-name=${driveId('a1')},read-only=off,file.driver=file,file.filename=/srv/a,,b.img`,
      `driver=raw,node-name=${driveId('c3')},read-only=on,file.driver=file,file.filename=/srv/c.img`,
      `driver=raw,node-name=${driveId('d4')},read-only=off,file.driver=file,file.filename=/srv/d.img`,
    ]);
    expect(values(args, '-device')).toEqual([
      `ide-hd,id=${diskDeviceId('a1')},drive=${driveId('a1')},bus=ide.0,unit=0`,
      `ide-hd,id=${diskDeviceId('c3')},drive=${driveId('c3')},bus=ide.0,unit=1`,
      `ide-hd,id=${diskDeviceId('d4')},drive=${driveId('d4')},bus=ide.1,unit=0`,
    ]);
    expect(values(args, '-boot')).toEqual(['order=d']);
    const scsi = qemuArgs(launch({ disks: disks.slice(0, 2), hvParams: { disk_type: 'scsi' } }));
    expect(values(scsi, '-device')).toEqual([
      'lsi53c895a,id=scsi',
      `scsi-hd,id=${diskDeviceId('a1')},drive=${driveId('a1')},bus=scsi.0,scsi-id=0`,
      `scsi-hd,id=${diskDeviceId('c3')},drive=${driveId('c3')},bus=scsi.0,scsi-id=1`,
    ]);
  });

  it('puts paravirtual disks, then NICs, on their own PCI slots above the reserved ones', () => {
    const disks = [
      { uuid: 'a1', path: '/srv/a.img', format: 'raw' as const, readOnly: false },
      { uuid: 'b2', path: '/run/nbd.sock', nbdExport: 'b2', format: 'raw' as const, readOnly: true },
    ];
    const nics = [{ uuid: 'n1', mac: 'aa:00:00:12:34:56', mode: 'none' as const, link: '' }];
    const args = qemuArgs(launch({ disks, nics }));
    expect(values(args, '-blockdev')).toEqual([
      `driver=raw,node-name=${driveId('a1')},read-only=off,file.driver=file,file.filename=/srv/a.img`,
      `driver=raw,node-name=${driveId('b2')},read-only=on,file.driver=nbd,file.server.type=unix,file.server.path=/run/nbd.sock,file.export=b2,file.reconnect-delay=60`,
    ]);
    expect(values(args, '-device')).toEqual([
      `virtio-blk-pci,id=${diskDeviceId('a1')},drive=${driveId('a1')},bus=pci.0,addr=0xc`,
      `virtio-blk-pci,id=${diskDeviceId('b2')},drive=${driveId('b2')},bus=pci.0,addr=0xd`,
      `virtio-net-pci,id=${nicDeviceId('n1')},mac=aa:00:00:12:34:56,bus=pci.0,addr=0xe`,
    ]);
    // A migration target is given the source's slots; kvm_pci_reservations moves the others; q35's bus is PCIe.
    const pinned = qemuArgs(
      launch({
        disks: [{ ...disks[0]!, pciSlot: 20 }, disks[1]!],
        nics,
        hvParams: { kvm_pci_reservations: '3', machine_type: 'q35' },
      }),
    );
    expect(values(pinned, '-device').map((device) => device.replace(/^.*,bus=/, 'bus='))).toEqual([
      'bus=pcie.0,addr=0x14',
      'bus=pcie.0,addr=0x3',
      'bus=pcie.0,addr=0x4',
    ]);
    expect(() =>
      qemuArgs(launch({ disks: [{ ...disks[0]!, pciSlot: 5 }], hvParams: { kvm_pci_reservations: '8' } })),
    ).toThrow(/PCI slot 5 of web1 is outside slots 8 to 31/);
    expect(() => parseKvmParams({ kvm_pci_reservations: '33' })).toThrow(
      /kvm_pci_reservations=33 is invalid: expected a number of PCI slots from 0 to 32/,
    );
  });

  it('listens for VNC only when asked, on the first free display', () => {
    expect(values(qemuArgs(launch({ hvParams: { vnc_bind_address: '127.0.0.1' } })), '-vnc')).toEqual([
      '127.0.0.1:0,to=99',
    ]);
    expect(values(qemuArgs(launch({ hvParams: { vnc_bind_address: '::1' } })), '-vnc')).toEqual([
      '[::1]:0,to=99',
    ]);
  });

  it('says where QEMU cannot hot-plug: a q35 machine, and IDE or SCSI disks', () => {
    const refusal = (hvParams: Record<string, string>, kind: 'disk' | 'nic') =>
      hotplugRefusal(parseKvmParams(hvParams), kind);
    expect(refusal({}, 'disk')).toBeUndefined();
    expect(refusal({ nic_type: 'e1000' }, 'nic')).toBeUndefined();
    expect(refusal({ disk_type: 'ide' }, 'disk')).toBe(
      'disk_type ide disks cannot be hot-plugged; only paravirtual ones can',
    );
    expect(refusal({ disk_type: 'scsi' }, 'nic')).toBeUndefined();
    expect(refusal({ machine_type: 'pc-q35-7.2' }, 'nic')).toBe(
      'machine type pc-q35-7.2 has a PCI Express root bus, into which QEMU cannot hot-plug',
    );
  });

  it('gives NICs in mode none a device with no host side, and bridged ones a tap named by their slot', () => {
    const nic = { uuid: 'n1', mac: 'aa:00:00:12:34:56', mode: 'none' as const, link: '' };
    const bridged = { uuid: 'n2', mac: 'aa:00:00:12:34:57', mode: 'bridged' as const, link: 'br0' };
    const args = qemuArgs(launch({ nics: [nic, bridged], hvParams: { nic_type: 'e1000' } }));
    const tap = tapName('/run/corral/kvm', 'web1', 13);
    expect(tap.length).toBeLessThanOrEqual(15);
    const net = values(args, '-netdev');
    expect(values(args, '-device')).toEqual([
      `e1000,id=${nicDeviceId('n1')},mac=aa:00:00:12:34:56,bus=pci.0,addr=0xc`,
      `e1000,id=${nicDeviceId('n2')},mac=aa:00:00:12:34:57,netdev=${net[0]?.split(',')[1]?.slice(3)},bus=pci.0,addr=0xd`,
    ]);
    expect(net).toEqual([
      expect.stringMatching(`^tap,id=net-[0-9a-f]{20},ifname=${tap},script=no,downscript=no$`),
    ]);
    expect(() => qemuArgs(launch({ nics: [{ ...nic, mode: 'routed' }] }))).toThrow(
      /mode routed is not supported/,
    );
    expect(() => qemuArgs(launch({ nics: [{ ...nic, mac: 'aa:00' }] }))).toThrow(
      /malformed MAC address aa:00/,
    );
  });

  it('starts paused, or waiting for a migration, when asked', () => {
    const args = qemuArgs(launch({}, { paused: true, incoming: true, accel: 'kvm' }));
    expect(args).toContain('-S');
    expect(values(args, '-incoming')).toEqual(['defer']);
    expect(values(args, '-accel')).toEqual(['kvm']);
  });
});
