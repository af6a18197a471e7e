/**
 * bench:instances — instances end to end on three `corral daemon`s on loopback (127.0.0.210–212), every job
 * submitted from a node that is not necessarily the master:
 *
 * - time from `instance add` to running: fake hypervisor (diskless, no OS install), and kvm under TCG with
 *   the test guest (scripts/test-guest.sh), both as the job's end and, for kvm, until the guest prints its
 *   ready marker on the serial console;
 * - live migration of that kvm guest to another node: total time and downtime, QMP's own figures, at
 *   Ganeti's default bandwidth (32 MiB/s);
 * - live migration of a kvm guest on a 1 GiB `file` disk, which only its node holds, so that the disk is
 *   copied as the guest runs (NBD mirror), at 256 MiB/s: total time (disk and memory) and downtime;
 * - 100 fake instance adds submitted at once: time until all are running;
 * - `instance move` of a running fake instance whose 2 GiB file disk holds 100 MiB, and of one whose disk holds
 *   nothing: the time it is down (stopped, copied, started on the other node), which copying only the data
 *   the source's map of the disk shows keeps short.
 *
 * Ganeti cannot be set up here (it needs real machines with its daemons), so its figures are constants
 * quoted from measurements on this kind of machine. The last line printed is one JSON object.
 */

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Opcode } from '../src/cluster/opcodes.js';
import { percentile } from '../src/common/stats.js';
import { waitFor } from '../src/common/wait.js';
import { type DaemonCall, runJob } from '../src/daemon/job-client.js';
import { type DaemonProcess, startLocalCluster } from '../src/daemon/local-cluster.js';

const NODES = 3;
const FIRST_HOST = 210;
const FAKE_ADDS = 20;
const CONCURRENT_ADDS = 100;
const FILE_DISK_MIB = 1024;
const FILE_MIGRATION_MIBPS = 256;
const SPARSE_DISK_MIB = 2048;
/** Written in 1 MiB pieces spread over the disk, so that data and holes alternate as in a used filesystem. */
const SPARSE_DATA_MIB = 100;
const GUEST_DIR = process.env.CORRAL_TEST_GUEST_DIR ?? '/var/cache/corral/test-guest';
const READY_MARKER = 'CORRAL-GUEST-READY';
/** Ganeti's figures on this kind of machine, quoted: a diskless instance add end to end, 60 adds at once. */
const GANETI_REFERENCE = { instance_add_ms: 1100, concurrent_60_adds_s: 19 } as const;

const log = (line: string) => process.stderr.write(`${line}\n`);
const round = (value: number) => Math.round(value * 100) / 100;

function fakeAdd(name: string): Opcode {
  return {
    OP_ID: 'OP_INSTANCE_CREATE',
    instance_name: name,
    disk_template: 'diskless',
    disks: [],
    hypervisor: 'fake',
    no_install: true,
    start: true,
    beparams: { memory: 32 },
  };
}

/** Resolves once the console socket has shown the marker; the socket only carries output from now on. */
function consoleMarker(path: string, timeoutMs: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    let seen = '';
    const socket = connect(path);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no ${READY_MARKER} on the console within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk) => {
      seen = (seen + chunk.toString('latin1')).slice(-4096);
      if (seen.includes(READY_MARKER)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(performance.now() - started);
      }
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

async function kvmFigures(daemons: DaemonProcess[], call: DaemonCall) {
  const kernel = join(GUEST_DIR, 'vmlinuz');
  const initrd = join(GUEST_DIR, 'initramfs.cpio.gz');
  if (!existsSync(kernel) || !existsSync(initrd))
    return { kvm_error: `no test guest in ${GUEST_DIR}: run scripts/test-guest.sh` };
  const node1 = daemons[0]!;
  const hvparams = { kernel_path: kernel, initrd_path: initrd, kernel_args: 'console=ttyS0', accel: 'tcg' };
  const started = performance.now();
  await runJob(call, [
    {
      OP_ID: 'OP_INSTANCE_CREATE',
      instance_name: 'kvm1',
      disk_template: 'diskless',
      disks: [],
      hypervisor: 'kvm',
      hvparams,
      beparams: { memory: 256 },
      pnode: 'node1',
      no_install: true,
      start: true,
    },
  ]);
  const addMs = performance.now() - started;
  const { path } = await node1.call({ op: 'console', instance: 'kvm1' });
  const bootMs = addMs + (await consoleMarker(path, 60_000));
  log(`  kvm: add ${round(addMs)} ms, guest ready ${round(bootMs)} ms after the add`);
  const shared = await migrate(call, 'kvm1');
  log(`  kvm: migration ${shared.totalMs} ms, downtime ${shared.downtimeMs} ms`);
  await runJob(call, [{ OP_ID: 'OP_INSTANCE_REMOVE', instance_name: 'kvm1' }]);

  await runJob(call, [
    {
      OP_ID: 'OP_INSTANCE_CREATE',
      instance_name: 'kvm2',
      disk_template: 'file',
      disks: [{ size: FILE_DISK_MIB }],
      hypervisor: 'kvm',
      hvparams: { ...hvparams, migration_bandwidth: String(FILE_MIGRATION_MIBPS) },
      beparams: { memory: 256 },
      pnode: 'node1',
      no_install: true,
      start: true,
    },
  ]);
  await consoleMarker((await node1.call({ op: 'console', instance: 'kvm2' })).path, 60_000);
  const copied = await migrate(call, 'kvm2');
  log(`  kvm, file disk: migration ${copied.totalMs} ms, downtime ${copied.downtimeMs} ms`);
  await runJob(call, [{ OP_ID: 'OP_INSTANCE_REMOVE', instance_name: 'kvm2' }]);
  return {
    kvm_add_to_running_ms: round(addMs),
    kvm_add_to_guest_ready_ms: round(bootMs),
    kvm_migration_total_ms: round(shared.totalMs),
    kvm_migration_downtime_ms: round(shared.downtimeMs),
    kvm_migration_bytes: shared.transferredBytes,
    kvm_file_1g_migration_total_ms: round(copied.totalMs),
    kvm_file_1g_migration_downtime_ms: round(copied.downtimeMs),
    kvm_file_1g_migration_bytes: copied.transferredBytes,
  };
}

async function migrate(call: DaemonCall, instance: string) {
  const job = await runJob(call, [
    { OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: instance, target_node: 'node2' },
  ]);
  return job.ops[0]?.result as { totalMs: number; downtimeMs: number; transferredBytes: number };
}

/**
 * Moves a running fake instance whose sparse 2 GiB disk holds `dataMiB` to another node; its downtime in s.
 */
async function sparseMove(
  daemons: DaemonProcess[],
  call: DaemonCall,
  name: string,
  dataMiB: number,
): Promise<number> {
  const storage = join(daemons[0]!.options.dataDir, 'file-storage');
  const before = await readdir(storage).catch(() => [] as string[]);
  await runJob(call, [
    {
      OP_ID: 'OP_INSTANCE_CREATE',
      instance_name: name,
      disk_template: 'file',
      disks: [{ size: SPARSE_DISK_MIB }],
      hypervisor: 'fake',
      no_install: true,
      start: true,
      beparams: { memory: 32 },
      pnode: 'node1',
    },
  ]);
  // Disks live under the instance's UUID: the directory that was not there before is this instance's.
  const instanceDir = (await readdir(storage)).find((entry) => !before.includes(entry))!;
  const [diskFile] = await readdir(join(storage, instanceDir));
  const disk = await open(join(storage, instanceDir, diskFile!), 'r+');
  try {
    const stride = Math.floor(SPARSE_DISK_MIB / Math.max(dataMiB, 1));
    for (let i = 0; i < dataMiB; i++)
      await disk.write(randomBytes(1024 * 1024), 0, 1024 * 1024, i * stride * 1024 * 1024);
  } finally {
    await disk.close();
  }
  const started = performance.now();
  await runJob(call, [{ OP_ID: 'OP_INSTANCE_MOVE', instance_name: name, target_node: 'node3' }]);
  return round((performance.now() - started) / 1000);
}

async function main(): Promise<object> {
  const baseDir = await mkdtemp(join(tmpdir(), 'corral-bench-instances-'));
  let daemons: DaemonProcess[] = [];
  try {
    log(`starting ${NODES} daemons on 127.0.0.${FIRST_HOST}-${FIRST_HOST + NODES - 1}…`);
    daemons = await startLocalCluster({
      baseDir,
      nodes: NODES,
      firstHost: FIRST_HOST,
      logLevel: 'warn',
      fakeMemoryMiB: 64 * 1024,
      // 100 one-vCPU instances on 3 nodes: the allocator's vCPU ratio (4 per CPU) needs more than 2 CPUs each.
      fakeCpus: 32,
      enabledHypervisors: ['fake', 'kvm'],
    });
    const call: DaemonCall = (request) => daemons[1]!.call(request);

    log(`fake: ${FAKE_ADDS} sequential adds…`);
    const addMs: number[] = [];
    for (let n = 0; n < FAKE_ADDS; n++) {
      const started = performance.now();
      await runJob(call, [fakeAdd(`seq${n}`)]);
      addMs.push(performance.now() - started);
    }
    const fakeP50 = round(
      percentile(
        [...addMs].sort((a, b) => a - b),
        0.5,
      ),
    );
    log(`  p50 ${fakeP50} ms`);

    log(`fake: ${CONCURRENT_ADDS} adds submitted at once, from all nodes…`);
    const burstStart = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENT_ADDS }, (_, n) =>
        runJob((request) => daemons[n % NODES]!.call(request), [fakeAdd(`burst${n}`)]),
      ),
    );
    await waitFor(
      async () => {
        const live = (await call({ op: 'nodes-live' })).nodes;
        const running = live
          .flatMap((node) => node.status?.instances ?? [])
          .filter((i) => i.state === 'running');
        return running.filter((i) => i.name.startsWith('burst')).length === CONCURRENT_ADDS
          ? true
          : undefined;
      },
      { timeoutMs: 120_000, what: 'every burst instance to run' },
    );
    const burstS = round((performance.now() - burstStart) / 1000);
    log(`  ${burstS} s`);

    log(
      `fake: move of a running instance with a ${SPARSE_DISK_MIB} MiB disk holding ${SPARSE_DATA_MIB} MiB, then none…`,
    );
    const moveSparseS = await sparseMove(daemons, call, 'sparse1', SPARSE_DATA_MIB);
    const moveEmptyS = await sparseMove(daemons, call, 'empty1', 0);
    log(`  down for ${moveSparseS} s; ${moveEmptyS} s with an empty disk`);

    log('kvm under TCG: add, boot, live migration…');
    const kvm = await kvmFigures(daemons, call).catch((error: Error) => ({ kvm_error: error.message }));

    return {
      corral: {
        fake_add_to_running_p50_ms: fakeP50,
        fake_add_to_running_max_ms: round(Math.max(...addMs)),
        [`fake_${CONCURRENT_ADDS}_concurrent_adds_s`]: burstS,
        move_sparse_2g_downtime_s: moveSparseS,
        move_empty_2g_downtime_s: moveEmptyS,
        ...kvm,
      },
      ganeti_reference: {
        source: 'quoted figures (no Ganeti cluster can be set up here)',
        ...GANETI_REFERENCE,
      },
      add_ratio: round(fakeP50 / GANETI_REFERENCE.instance_add_ms),
    };
  } finally {
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    // QEMU outlives its daemon by design: end any guest a failed step left under this run's directory.
    spawnSync('pkill', ['-KILL', '-f', baseDir]);
    await rm(baseDir, { recursive: true, force: true });
  }
}

console.log(JSON.stringify(await main()));
