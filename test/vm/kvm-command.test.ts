import { describe, expect, it } from 'vitest';
import type { InstanceSpec } from '../../src/vm/hypervisor.js';
import { type QemuLaunch, qemuArgs } from '../../src/vm/kvm-command.js';
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

  it('attaches disks in order under ids QMP can name, escaping commas in their paths', () => {
    const disks = [
      { path: '/srv/a,b.img', format: 'qcow2' as const, readOnly: false },
      { path: '/srv/c.img', format: 'raw' as const, readOnly: true },
    ];
    const args = qemuArgs(launch({ disks, hvParams: { disk_type: 'ide', boot_order: 'cdrom' } }));
    expect(values(args, '-drive')).toEqual([
      'file=/srv/a,,b.img,format=qcow2,if=ide,index=0,id=disk0,readonly=off',
      'file=/srv/c.img,format=raw,if=ide,index=1,id=disk1,readonly=on',
    ]);
    expect(values(args, '-boot')).toEqual(['order=d']);
  });

  it('listens for VNC only when asked, on the first free display', () => {
    expect(values(qemuArgs(launch({ hvParams: { vnc_bind_address: '127.0.0.1' } })), '-vnc')).toEqual([
      '127.0.0.1:0,to=99',
    ]);
    expect(values(qemuArgs(launch({ hvParams: { vnc_bind_address: '::1' } })), '-vnc')).toEqual([
      '[::1]:0,to=99',
    ]);
  });

  it('gives NICs in mode none a device with no host side, and bridged ones a tap', () => {
    const nic = { mac: 'aa:00:00:12:34:56', mode: 'none', link: '' };
    const bridged = { mac: 'aa:00:00:12:34:57', mode: 'bridged', link: 'br0' };
    const args = qemuArgs(launch({ nics: [nic, bridged], hvParams: { nic_type: 'e1000' } }));
    const tap = tapName('/run/corral/kvm', 'web1', 1);
    expect(tap.length).toBeLessThanOrEqual(15);
    expect(values(args, '-device')).toEqual([
      'e1000,mac=aa:00:00:12:34:56,id=nic0',
      'e1000,mac=aa:00:00:12:34:57,id=nic1,netdev=net1',
    ]);
    expect(values(args, '-netdev')).toEqual([`tap,id=net1,ifname=${tap},script=no,downscript=no`]);
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
