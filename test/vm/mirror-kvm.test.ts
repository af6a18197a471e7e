import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configViewSchema } from '../../src/cluster/views.js';
import { waitFor } from '../../src/common/wait.js';
import { type DaemonCall, runJob } from '../../src/daemon/job-client.js';
import { DaemonProcess, startLocalCluster } from '../../src/daemon/local-cluster.js';
import {
  attachConsole,
  type ConsoleReader,
  guestReadyMarker,
  seqInImage,
  seqWriterLoop,
  testGuest,
} from './kvm-guest.js';

const run = promisify(execFile);

/**
 * A real guest (QEMU, TCG) on a mirrored disk, on three daemons (127.0.0.144-146): it writes a sequence
 * number with a flush after each and prints it once the flush returns. Its secondary's daemon is killed and
 * comes back (the guest runs on, degraded, then resyncs); it live-migrates to the secondary with no disk
 * copied; a failover back leaves on the disk at least the last number it printed; and it gets a new
 * secondary while it runs, then live-migrates there.
 */
describe('a QEMU guest on a mirrored disk', () => {
  let baseDir: string;
  let daemons: DaemonProcess[] = [];
  let call: DaemonCall;
  const guest = testGuest();

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-mirror-kvm-'));
    daemons = await startLocalCluster({
      baseDir,
      nodes: 3,
      firstHost: 144,
      enabledHypervisors: ['kvm', 'fake'],
      enabledDiskTemplates: ['drbd', 'file', 'diskless'],
      daemonFlags: ['--os-search-path', '/usr/share/ganeti/os', '--watcher-interval', '0.5'],
    });
    call = (request) => daemons[2]!.call(request);
  }, 90_000);

  afterAll(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    await run('pkill', ['-KILL', '-f', baseDir]).catch(() => undefined);
    await rm(baseDir, { recursive: true, force: true });
  });

  const config = async () => configViewSchema.parse((await call({ op: 'config', consistent: true })).config);
  const vm = async () => (await config()).instances.find((i) => i.name === 'vm1')!;
  const nodeName = async (uuid: string) => (await config()).nodes.find((n) => n.uuid === uuid)!.name;
  const currentCopies = async () => (await vm()).mirror!.current.length;
  /** The sequence number on a node's copy of the disk. */
  const seqOnDisk = async (node: string) => {
    const found = await vm();
    return seqInImage(join(baseDir, node, 'mirror-storage', found.uuid, found.disks[0]!.uuid));
  };
  const lastPrinted = (console: ConsoleReader) =>
    Math.max(0, ...[...console.output().matchAll(/PRINTED-(\d+)/g)].map((m) => Number(m[1])));
  const printsPast = (console: ConsoleReader, after: number, timeoutMs: number) =>
    waitFor(() => (lastPrinted(console) > after + 2 ? true : undefined), {
      timeoutMs,
      what: `the guest to print past ${after}`,
    });
  const openConsole = async () => attachConsole((await call({ op: 'console', instance: 'vm1' })).path);

  it('survives its secondary, migrates without a disk copy, loses no printed write, and moves to a new secondary', {
    timeout: 300_000,
  }, async () => {
    await runJob(call, [
      {
        OP_ID: 'OP_INSTANCE_CREATE',
        instance_name: 'vm1',
        disk_template: 'drbd',
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
        snode: 'node2',
      },
    ]);
    let console = await openConsole();
    await console.waitFor(guestReadyMarker, 90_000);
    console.write(seqWriterLoop(0));
    await printsPast(console, 0, 30_000);

    // The secondary's daemon dies: the guest runs on once the master has recorded its copy stale.
    const node2 = daemons[1]!;
    await node2.stop('SIGKILL');
    await printsPast(console, lastPrinted(console), 30_000);
    expect(await currentCopies()).toBe(1);
    daemons[1] = await DaemonProcess.spawn(node2.options);
    await waitFor(async () => ((await currentCopies()) === 2 ? true : undefined), {
      timeoutMs: 60_000,
      what: 'the secondary to resync',
    });

    // Live migration to the secondary: the same guest, still counting, now writing through node2.
    await runJob(call, [{ OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: 'vm1' }]);
    expect(await nodeName((await vm()).primaryNode)).toBe('node2');
    console.close();
    console = await openConsole();
    await waitFor(() => (/PRINTED-\d+/.test(console.output()) ? true : undefined), {
      timeoutMs: 30_000,
      what: 'the migrated guest to go on printing',
    });

    // A failover back: the guest stops on node2, and node1's copy holds what it printed last.
    await printsPast(console, lastPrinted(console), 30_000);
    await runJob(call, [{ OP_ID: 'OP_INSTANCE_FAILOVER', instance_name: 'vm1', shutdown_timeout: 0 }]);
    const printed = lastPrinted(console);
    console.close();
    expect(await nodeName((await vm()).primaryNode)).toBe('node1');
    expect(await seqOnDisk('node1')).toBeGreaterThanOrEqual(printed);
    expect(printed).toBeGreaterThan(0);

    // The failover booted the guest afresh on node1; once its shell is up it gets a new secondary on node3
    // while it runs (a full resync), then live-migrates there.
    const rebooted = await openConsole();
    await rebooted.waitFor(guestReadyMarker, 90_000);
    rebooted.close();
    await runJob(call, [
      {
        OP_ID: 'OP_INSTANCE_REPLACE_DISKS',
        instance_name: 'vm1',
        mode: 'replace_new_secondary',
        remote_node: 'node3',
      },
    ]);
    await runJob(call, [{ OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: 'vm1' }]);
    expect(await nodeName((await vm()).primaryNode)).toBe('node3');
    const third = await openConsole();
    third.write('echo ALIVE-$((40+2))\n');
    await third.waitFor('ALIVE-42', 30_000);
    third.close();
    expect(await seqOnDisk('node3')).toBeGreaterThanOrEqual(printed);

    await runJob(call, [{ OP_ID: 'OP_INSTANCE_REMOVE', instance_name: 'vm1' }]);
  });
});
