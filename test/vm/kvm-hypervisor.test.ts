import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/common/clock.js';
import { silentLogger } from '../../src/common/log.js';
import { driveId } from '../../src/vm/kvm-devices.js';
import { createKvmHypervisor } from '../../src/vm/kvm-hypervisor.js';
import { runtimePaths } from '../../src/vm/kvm-runtime.js';
import { connectQmp } from '../../src/vm/qmp.js';
import { hypervisorCompliance, specOfDevices } from './hypervisor-compliance.js';
import { attachConsole, guestReadyMarker, guestSpec, testGuest } from './kvm-guest.js';

const guest = testGuest();
/** Boots take about 3 s under TCG here; a slow CI machine gets room, a hung guest does not get forever. */
const bootTimeoutMs = 30_000;

function kvmNode(runDir: string, accel: 'kvm' | 'tcg' = 'tcg') {
  return createKvmHypervisor({ runDir, clock: systemClock, log: silentLogger, accel });
}

hypervisorCompliance(
  'kvm',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'corral-kvm-'));
    // One shared disk, as a sharedfile or mirrored template gives both nodes, so that migration copies no data.
    const disk = join(dir, 'disk0.raw');
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', disk, '16M']);
    return {
      make: (index) => kvmNode(join(dir, `node${index}`)),
      spec: (name) =>
        guestSpec(guest, name, { disks: [{ uuid: 'disk0', path: disk, format: 'raw', readOnly: false }] }),
      bindHost: '127.0.0.1',
      newDisk: async (uuid) => {
        const path = join(dir, `${uuid}.raw`);
        execFileSync('qemu-img', ['create', '-q', '-f', 'raw', path, '8M']);
        return { uuid, path, format: 'raw', readOnly: false };
      },
      guestReady: async (hv, name) => {
        const console = await attachConsole(hv.consolePath(name)!);
        try {
          await console.waitFor(guestReadyMarker, bootTimeoutMs);
        } finally {
          console.close();
        }
      },
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
  120_000,
);

describe('kvm hypervisor with the test guest', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'corral-kvm-'));
  });

  afterEach(async () => {
    const hv = kvmNode(dir);
    for (const inst of await hv.list()) await hv.stop(inst.name, { timeoutMs: 1_000, force: true });
    await rm(dir, { recursive: true, force: true });
  });

  it('shows the guest on its serial console, through a soft reboot and a clean power-off', async () => {
    const hv = kvmNode(dir);
    await hv.start(guestSpec(guest, 'con1'));
    const path = hv.consolePath('con1');
    expect(path).toBe(runtimePaths(dir, 'con1').console);
    const console = await attachConsole(path!);
    try {
      await console.waitFor(guestReadyMarker, bootTimeoutMs);
      await hv.reboot('con1', 'soft');
      await console.waitFor('CORRAL-GUEST-STOPPING (reboot)', bootTimeoutMs);
      await console.waitFor(guestReadyMarker, bootTimeoutMs, 2);
      // The guest's acpid answers the power button, so the clean stop needs no forcing.
      const stopStartMs = performance.now();
      await hv.stop('con1', { timeoutMs: bootTimeoutMs });
      expect(performance.now() - stopStartMs).toBeLessThan(bootTimeoutMs);
      await console.waitFor('CORRAL-GUEST-STOPPING (poweroff)', 1_000);
    } finally {
      console.close();
    }
    expect(hv.consolePath('con1')).toBeUndefined();
  }, 120_000);

  it('an instance outlives the daemon process that started it', async () => {
    const viteNode = join('node_modules', 'vite-node', 'vite-node.mjs');
    execFileSync(process.execPath, [viteNode, join('test', 'vm', 'kvm-daemon-stand-in.ts'), dir, 'orphan1'], {
      stdio: 'pipe',
      timeout: 60_000,
    });
    const hv = kvmNode(dir);
    expect((await hv.status('orphan1'))?.state).toBe('running');
    await hv.stop('orphan1', { timeoutMs: 1_000, force: true });
    expect(await hv.list()).toEqual([]);
  });

  it('puts a bridged NIC into its bridge through a tap, plugged in at start or later, and removes the tap when it goes', async () => {
    // In a network namespace of its own, so that the bridge touches nothing on this host.
    const viteNode = join('node_modules', 'vite-node', 'vite-node.mjs');
    const standIn = join('test', 'vm', 'kvm-bridge-stand-in.ts');
    const output = execFileSync('unshare', ['-n', process.execPath, viteNode, standIn, dir], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    const report = JSON.parse(output.trim().split('\n').at(-1)!);
    expect(report.running).toEqual([report.tap]);
    expect(report.hotTap).toBe(`${report.tap.slice(0, -2)}14`);
    expect(report.plugged.sort()).toEqual([report.tap, report.hotTap].sort());
    expect(report.unplugged).toEqual([report.tap]);
    expect(report.stopped).toEqual([]);
  });

  it('-H accel=tcg overrides the node verdict', async () => {
    // The node says kvm (which may not work here); the instance asks for tcg and gets it.
    const hv = kvmNode(dir, 'kvm');
    await hv.start(guestSpec(guest, 'tcg1', { hvParams: { accel: 'tcg' } }));
    const qmp = await connectQmp(runtimePaths(dir, 'tcg1').qmp, { timeoutMs: 5_000 });
    try {
      expect(await qmp.execute('query-kvm')).toMatchObject({ enabled: false });
    } finally {
      qmp.close();
    }
    expect((await hv.status('tcg1'))?.state).toBe('running');
  });

  it('starts paused when asked, and refuses what it cannot start with one clear line', async () => {
    const hv = kvmNode(dir);
    await hv.start(guestSpec(guest, 'paused1'), { paused: true });
    expect((await hv.status('paused1'))?.state).toBe('paused');
    await expect(hv.reboot('paused1', 'soft')).rejects.toMatchObject({ code: 'conflict' });
    await expect(
      hv.start(guestSpec(guest, 'nokernel', { hvParams: { kernel_path: join(dir, 'absent') } })),
    ).rejects.toThrow(/kernel_path of nokernel .* does not exist on this node/);
    const nic = { uuid: 'nic0', mac: 'aa:00:00:00:00:01', mode: 'bridged' as const, link: 'lo' };
    await expect(hv.start({ ...guestSpec(guest, 'bridged'), nics: [nic] })).rejects.toThrow(
      /NIC aa:00:00:00:00:01 of bridged is bridged to lo, which is not a bridge on this node/,
    );
    await expect(
      hv.start({ ...guestSpec(guest, 'routed'), nics: [{ ...nic, mode: 'routed' as const }] }),
    ).rejects.toThrow(
      /NIC aa:00:00:00:00:01 of routed is in mode routed, which the kvm hypervisor does not connect yet/,
    );
    await expect(hv.start(guestSpec(guest, '../escape'))).rejects.toMatchObject({ code: 'bad_request' });
    expect((await hv.list()).map((i) => i.name)).toEqual(['paused1']);
  });

  it('reports why QEMU did not start', async () => {
    const hv = kvmNode(dir);
    await expect(
      hv.start(guestSpec(guest, 'badmachine', { hvParams: { machine_type: 'no-such-machine' } })),
    ).rejects.toThrow(/QEMU for badmachine did not start: .*unsupported machine type/);
    expect(await hv.list()).toEqual([]);
  });

  it('migrates without a live copy: the guest is stopped, sent, and runs on the target', async () => {
    const source = kvmNode(join(dir, 'a'));
    const target = kvmNode(join(dir, 'b'));
    const spec = guestSpec(guest, 'mig1');
    await source.start(spec);
    const endpoint = await target.acceptMigration(spec, '127.0.0.1', { copyStorage: false });
    expect(endpoint.port).toBeGreaterThan(0);
    expect((await target.status('mig1'))?.state).toBe('incoming');
    const result = await source.migrate('mig1', endpoint, { live: false });
    expect(result.transferredBytes).toBeGreaterThan(0);
    // The guest was stopped for the whole copy, not only for QEMU's last step.
    expect(result.downtimeMs).toBeGreaterThanOrEqual(result.totalMs);
    await target.finishMigration('mig1', true);
    expect((await target.status('mig1'))?.state).toBe('running');
    expect(await source.list()).toEqual([]);
    const console = await attachConsole(target.consolePath('mig1')!);
    try {
      // The guest moved with its memory: it boots to the marker on the target (or has, and reboots to it).
      await target.reboot('mig1', 'hard');
      await console.waitFor(guestReadyMarker, bootTimeoutMs);
    } finally {
      console.close();
    }
    await target.stop('mig1', { timeoutMs: 1_000, force: true });
  }, 60_000);

  it('live-migrates disks only the source holds: what the guest wrote is on the target', async () => {
    const source = kvmNode(join(dir, 'a'));
    const target = kvmNode(join(dir, 'b'));
    const disk = (node: string) => {
      const path = join(dir, `${node}-disk0.qcow2`);
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path, '16M']);
      return path;
    };
    const [sourceDisk, targetDisk] = [disk('a'), disk('b')];
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 1M 4M', sourceDisk]);
    const spec = guestSpec(guest, 'mig2', {
      disks: [{ uuid: 'disk0', path: sourceDisk, format: 'qcow2', readOnly: false }],
    });
    const targetSpec = {
      ...spec,
      disks: [{ uuid: 'disk0', path: targetDisk, format: 'qcow2' as const, readOnly: false }],
    };
    await source.start(spec);
    const before = await attachConsole(source.consolePath('mig2')!);
    try {
      await before.waitFor(guestReadyMarker, bootTimeoutMs);
      // Typed as arithmetic, so that the echo of the command line does not count as the answer.
      before.write(
        'echo DISK-$((6*7)) | dd of=/dev/vda bs=512 seek=16384 conv=sync,fsync && echo WROTE-$((1+1))\n',
      );
      await before.waitFor('WROTE-2', bootTimeoutMs);
    } finally {
      before.close();
    }

    const endpoint = await target.acceptMigration(targetSpec, '127.0.0.1', { copyStorage: true });
    expect(endpoint.storage?.exports).toEqual([driveId('disk0')]);
    // A target whose disks cannot be reached fails the migration, and the guest goes on at the source.
    await expect(
      source.migrate(
        'mig2',
        { ...endpoint, storage: { port: 1, exports: [driveId('disk0')] } },
        { live: true },
      ),
    ).rejects.toThrow(/nbd|connect/i);
    expect((await source.status('mig2'))?.state).toBe('running');

    const result = await source.migrate('mig2', endpoint, { live: true });
    expect(result.transferredBytes).toBeGreaterThan(16 * 1024 * 1024);
    expect(await source.list()).toEqual([]);
    // Paused until the master's word: the source may have been the one to finish writing the disks.
    expect((await target.status('mig2'))?.state).toBe('paused');
    await target.finishMigration('mig2', true);
    expect((await target.status('mig2'))?.state).toBe('running');
    const after = await attachConsole(target.consolePath('mig2')!);
    try {
      after.write('dd if=/dev/vda bs=512 skip=16384 count=1 2>/dev/null | head -c 7; echo\n');
      await after.waitFor('DISK-42', bootTimeoutMs);
    } finally {
      after.close();
    }
    await target.stop('mig2', { timeoutMs: 1_000, force: true });
    expect(execFileSync('qemu-img', ['compare', '-q', sourceDisk, targetDisk]).toString()).toBe('');
  }, 90_000);

  it('hot-plugs a disk the guest then uses, keeps it through a live migration, and unplugs it', async () => {
    const source = kvmNode(join(dir, 'a'));
    const target = kvmNode(join(dir, 'b'));
    const image = (name: string) => {
      const path = join(dir, name);
      execFileSync('qemu-img', ['create', '-q', '-f', 'raw', path, '16M']);
      return { uuid: name, path, format: 'raw' as const, readOnly: false };
    };
    const [boot, hot] = [image('boot.raw'), image('hot.raw')];
    const spec = guestSpec(guest, 'hot1', { disks: [boot] });
    await source.start(spec);
    const before = await attachConsole(source.consolePath('hot1')!);
    try {
      await before.waitFor(guestReadyMarker, bootTimeoutMs);
      await source.hotAdd('hot1', { kind: 'disk', disk: hot });
      // Typed as arithmetic, so that the echo of the command line does not count as the answer.
      before.write(
        'while [ ! -b /dev/vdb ]; do sleep 0.2; done; echo HOT-$((6*7)) | dd of=/dev/vdb conv=sync,fsync && echo PLUGGED-$((1+1))\n',
      );
      await before.waitFor('PLUGGED-2', bootTimeoutMs);
    } finally {
      before.close();
    }
    expect(execFileSync('head', ['-c', '6', hot.path], { encoding: 'utf8' })).toBe('HOT-42');

    const devices = await source.devices('hot1');
    const endpoint = await target.acceptMigration(specOfDevices(spec, devices, [boot, hot]), '127.0.0.1', {
      copyStorage: false,
    });
    await source.migrate('hot1', endpoint, { live: true });
    await target.finishMigration('hot1', true);
    const after = await attachConsole(target.consolePath('hot1')!);
    try {
      after.write('head -c 6 /dev/vdb; echo; echo READ-$((2+2))\n');
      await after.waitFor('READ-4', bootTimeoutMs);
      expect(after.output()).toContain('HOT-42');
      await target.hotRemove('hot1', 'disk', hot.uuid);
      after.write('[ -b /dev/vdb ] || echo GONE-$((3+3))\n');
      await after.waitFor('GONE-6', bootTimeoutMs);
    } finally {
      after.close();
    }
    expect((await target.devices('hot1')).disks.map((d) => d.uuid)).toEqual([boot.uuid]);
    await target.stop('hot1', { timeoutMs: 1_000, force: true });
  });

  it('refuses malformed hypervisor parameters, naming the parameter', () => {
    const hv = kvmNode(dir);
    const refusals: [Record<string, string>, RegExp][] = [
      [{ boot_order: 'floppy' }, /boot_order=floppy .*disk, cdrom, network/],
      [{ accel: 'hvf' }, /accel=hvf/],
      [{ kernel_path: 'vmlinuz' }, /kernel_path=vmlinuz .*absolute path/],
      [{ initrd_path: '/boot/initrd' }, /initrd_path needs kernel_path/],
      [{ vnc_bind_address: 'eth0' }, /vnc_bind_address=eth0 .*IP address/],
      [{ machine_type: 'pc,accel=kvm' }, /machine_type=/],
      [{ disk_type: 'floppy' }, /disk_type=floppy/],
      [{ nic_type: 'virtio' }, /nic_type=virtio/],
      [{ serial_console: 'yes' }, /serial_console=yes .*one of true, false/],
      [{ migration_bandwidth: '0' }, /migration_bandwidth=0 .*positive integer/],
      [{ root_path: '/dev/vda1' }, /unknown hypervisor parameter root_path for kvm/],
    ];
    for (const [params, message] of refusals) {
      expect(() => hv.checkParams(params), JSON.stringify(params)).toThrow(message);
      expect(() => hv.checkParams(params)).toThrowError(expect.objectContaining({ code: 'bad_request' }));
    }
    expect(() =>
      hv.checkParams({
        kernel_path: '/boot/vmlinuz',
        initrd_path: '/boot/initrd.img',
        kernel_args: 'ro quiet',
        boot_order: 'cdrom',
        vnc_bind_address: '127.0.0.1',
        accel: 'kvm',
        machine_type: 'q35',
        cpu_type: 'Haswell,+vmx,-hle',
        disk_type: 'ide',
        nic_type: 'e1000',
        serial_console: 'false',
        migration_bandwidth: '100',
        migration_downtime: '300',
      }),
    ).not.toThrow();
  });

  it('refuses an instance with too long a runtime dir for its sockets', async () => {
    const deep = join(dir, 'x'.repeat(90));
    const hv = kvmNode(deep);
    await expect(hv.start(guestSpec(guest, 'deep1'))).rejects.toThrow(/shorter run dir/);
  });

  it('ignores a stale runtime dir left by a QEMU that died', async () => {
    const hv = kvmNode(dir);
    const p = runtimePaths(dir, 'stale1');
    await hv.start(guestSpec(guest, 'stale1'));
    const pid = (await hv.status('stale1'))!.pid!;
    process.kill(pid, 'SIGKILL');
    // A pid file that names a live process that is not this QEMU is not trusted either.
    await writeFile(p.pid, `${process.pid}\n`);
    expect(await hv.status('stale1')).toBeUndefined();
    await hv.start(guestSpec(guest, 'stale1'));
    expect((await hv.status('stale1'))?.state).toBe('running');
  });
});
