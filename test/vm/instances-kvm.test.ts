import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configViewSchema } from '../../src/cluster/views.js';
import { type DaemonCall, runJob } from '../../src/daemon/job-client.js';
import type { DaemonProcess } from '../../src/daemon/local-cluster.js';
import { startLocalCluster } from '../../src/daemon/local-cluster.js';
import { attachConsole, guestReadyMarker, testGuest } from './kvm-guest.js';

const run = promisify(execFile);

/**
 * A real guest through the whole cluster: two daemons on 127.0.0.140-141, Debian's cloud kernel and a busybox
 * initramfs under QEMU (TCG), installed with Debian's ganeti-os-noop, on a file disk that only its node holds,
 * given a second disk and a NIC while it runs, live-migrated from node1 to node2 with its disks copied as it
 * runs, and relieved of the second disk there.
 */
describe('a QEMU instance on a real cluster', () => {
  let baseDir: string;
  let daemons: DaemonProcess[] = [];
  let call: DaemonCall;
  const guest = testGuest();

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-kvm-'));
    daemons = await startLocalCluster({
      baseDir,
      nodes: 2,
      firstHost: 140,
      enabledHypervisors: ['kvm', 'fake'],
      enabledDiskTemplates: ['sharedfile', 'file', 'diskless'],
      daemonFlags: ['--os-search-path', '/usr/share/ganeti/os'],
    });
    call = (request) => daemons[1]!.call(request);
  }, 90_000);

  afterAll(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    // QEMU outlives its daemon by design: end any guest a failed step left behind.
    await run('pkill', ['-KILL', '-f', baseDir]).catch(() => undefined);
    await rm(baseDir, { recursive: true, force: true });
  });

  const qemuOn = async (node: string) =>
    // QEMU's own command line, not the node's fence watchdog, which names the same directory.
    (
      await run('pgrep', ['-f', `qemu-system.*${join(baseDir, node)}/kvm`]).catch(() => ({ stdout: '' }))
    ).stdout.trim();
  const runningOn = async (node: string) => {
    const live = (await call({ op: 'nodes-live' })).nodes.find((n) => n.name === node);
    return (live?.status?.instances ?? []).filter((i) => i.state === 'running').map((i) => i.name);
  };
  const instanceDirs = (node: string) => readdir(join(baseDir, node, 'file-storage')).catch(() => []);
  const openConsole = async (daemon: DaemonProcess) =>
    attachConsole((await daemon.call({ op: 'console', instance: 'vm1' })).path);

  it('adds, boots, live-migrates, shuts down and removes a guest', { timeout: 180_000 }, async () => {
    await runJob(call, [
      {
        OP_ID: 'OP_INSTANCE_CREATE',
        instance_name: 'vm1',
        disk_template: 'file',
        disks: [{ size: 64 }],
        os_type: 'noop',
        hypervisor: 'kvm',
        hvparams: {
          kernel_path: guest.kernel,
          initrd_path: guest.initrd,
          accel: 'tcg',
          migration_bandwidth: '1000',
        },
        beparams: { memory: 128 },
        pnode: 'node1',
      },
    ]);
    expect(await runningOn('node1')).toEqual(['vm1']);
    const first = await openConsole(daemons[0]!);
    await first.waitFor(guestReadyMarker, 60_000);
    // Typed as arithmetic, so that the echo of the command line does not count as the answer.
    first.write(
      'echo DISK-$((6*7)) | dd of=/dev/vda bs=512 seek=16384 conv=sync,fsync && echo WROTE-$((1+1))\n',
    );
    await first.waitFor('WROTE-2', 30_000);
    // A disk and a NIC plugged into the running guest (gnt-instance modify --hotplug): it writes the disk, and
    // sees a network controller in PCI slot 15, after the boot disk (12), boot NIC (13) and new disk (14).
    const plugged = await runJob(call, [
      {
        OP_ID: 'OP_INSTANCE_SET_PARAMS',
        instance_name: 'vm1',
        disks: [['add', -1, { size: 16 }]],
        nics: [['add', -1, { mode: 'none' }]],
        hotplug: true,
      },
    ]);
    expect(plugged.log.map((entry) => entry.message)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^hot-plugged: disk .* plugged in$/)]),
    );
    first.write(
      'while [ ! -b /dev/vdb ]; do sleep 0.2; done; echo HOT-$((6*7)) | dd of=/dev/vdb conv=sync,fsync && until grep -q 0x0200 /sys/bus/pci/devices/0000:00:0f.0/class; do sleep 0.2; done 2>/dev/null && echo PLUGGED-$((1+1))\n',
    );
    await first.waitFor('PLUGGED-2', 30_000);
    first.close();

    await runJob(call, [{ OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: 'vm1', target_node: 'node2' }]);
    expect(await runningOn('node2')).toEqual(['vm1']);
    expect(await runningOn('node1')).toEqual([]);
    expect(await qemuOn('node1')).toBe('');
    // The same guest answers on the target: its shell still runs, with its memory intact, and its disk
    // holds what it wrote on the source. The console is opened through node1, which forwards it to node2.
    const second = await openConsole(daemons[0]!);
    second.write('echo ALIVE-$((40+2))\n');
    await second.waitFor('ALIVE-42', 30_000);
    second.write('dd if=/dev/vda bs=512 skip=16384 count=1 2>/dev/null | head -c 7; echo\n');
    await second.waitFor('DISK-42', 30_000);
    // The plugged disk came along, copied as it ran; unplugged, it leaves the guest and the node.
    second.write('head -c 6 /dev/vdb; echo\n');
    await second.waitFor('HOT-42', 30_000);
    await runJob(call, [
      { OP_ID: 'OP_INSTANCE_SET_PARAMS', instance_name: 'vm1', disks: [['remove', 1, {}]], hotplug: true },
    ]);
    second.write('[ -b /dev/vdb ] || echo GONE-$((3+3))\n');
    await second.waitFor('GONE-6', 30_000);
    second.close();
    expect(await instanceDirs('node1')).toEqual([]);
    expect(await instanceDirs('node2')).toHaveLength(1);
    const view = configViewSchema.parse((await call({ op: 'config', consistent: true })).config);
    const node2 = view.nodes.find((n) => n.name === 'node2')!;
    expect(view.instances[0]?.primaryNode).toBe(node2.uuid);

    // The one-time socket node1 opened for that console is gone once used.
    expect(await readdir(join(baseDir, 'node1', 'console'))).toEqual([]);

    await runJob(call, [{ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: 'vm1', timeout: 60 }]);
    expect(await runningOn('node2')).toEqual([]);
    await expect(daemons[0]!.call({ op: 'console', instance: 'vm1' })).rejects.toThrow(
      /vm1 is not running on node2, so it has no console/,
    );
    expect(await qemuOn('node2')).toBe('');
    await runJob(call, [{ OP_ID: 'OP_INSTANCE_REMOVE', instance_name: 'vm1' }]);
    expect(await instanceDirs('node1')).toEqual([]);
    expect(await instanceDirs('node2')).toEqual([]);
  });
});
