/**
 * bench:mirror — the mirrored template (drbd, notes/mirror.md) against the `file` template, on three
 * `corral daemon`s on loopback (127.0.0.216–218) with the fake hypervisor. The fake guest does no I/O, so
 * qemu-io plays the guest: on a `file` instance it opens the image file itself, on a drbd instance it goes
 * through the primary's NBD socket, as QEMU would; both raw with cache=writeback, as Corral's kvm -drive
 * (qemu-io's own default is writethrough, which would add a flush to every write).
 *
 * - 4 KiB synchronous writes (FUA) at scattered offsets, in one qemu-io process: p50 and p99 latency, each
 *   write's latency taken from qemu-io's own ops/sec figure for it;
 * - a sequential 256 MiB write followed by a flush: MiB/s (and the write alone, before the flush);
 * - resync after changes: the secondary's daemon is killed (SIGKILL), 1 GiB is written degraded through the
 *   primary (after the same 4 KiB writes, which show the NBD path without the peer), the daemon is started
 *   again; the time until the config holds both copies current, and the bytes the resync sent (the
 *   primary's `resyncBytesSent`) against the bytes changed;
 * - a full sync of a 1 GiB disk holding 1 GiB of data: the initial checksummed sync of a drbd instance whose
 *   OS create script filled the primary's copy, and `replace-disks -n node3` of that instance (a new
 *   secondary, filled by the same checksummed pass), when the master carries it out.
 *
 * The last line printed is one JSON object.
 */

import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Opcode } from '../src/cluster/opcodes.js';
import { type ConfigView, configViewSchema } from '../src/cluster/views.js';
import { percentile } from '../src/common/stats.js';
import { waitFor } from '../src/common/wait.js';
import { type DaemonCall, runJob } from '../src/daemon/job-client.js';
import { DaemonProcess, startLocalCluster } from '../src/daemon/local-cluster.js';

const run = promisify(execFile);

const NODES = 3;
/** Nodes listen on 127.0.0.216–218: the addresses set aside for this benchmark. */
const FIRST_HOST = 216;
const DISK_MIB = 1024;
const GRANULE = 4096;
/** Synchronous 4 KiB writes measured, after a few that warm the path up (not counted). */
const SYNC_WRITES = 500;
const WARMUP_WRITES = 10;
const SEQ_MIB = 256;
/** Bytes written through the primary while its secondary is down. */
const CHANGED_MIB = 1024;
const FULL_SYNC_MIB = 1024;
const OS_NAME = 'benchfill';
const RESYNC_TIMEOUT_MS = 30 * 60_000;

const log = (line: string) => process.stderr.write(`${line}\n`);
const round = (value: number) => Math.round(value * 100) / 100;
const ratio = (value: number) => Math.round(value * 1000) / 1000;
const seconds = (ms: number) => Math.round(ms) / 1000;

/** Every qemu-io the bench starts ends with it. */
const qemuRuns = new AbortController();

/** Runs qemu-io on one image with the given commands; its stdout. */
async function qemuIo(target: string, commands: readonly string[]): Promise<string> {
  const args = ['-f', 'raw', '-t', 'writeback', target, ...commands.flatMap((command) => ['-c', command])];
  const { stdout, stderr } = await run('qemu-io', args, {
    maxBuffer: 64 * 1024 * 1024,
    signal: qemuRuns.signal,
  });
  if (/failed|error/i.test(stdout + stderr)) throw new Error(`qemu-io on ${target}: ${stdout}${stderr}`);
  return stdout;
}

/** Each command's latency in ms, from qemu-io's "(… and X ops/sec)" line for it (one op per command). */
function latencies(stdout: string, expected: number): number[] {
  const found = [...stdout.matchAll(/and ([\d.]+) ops\/sec\)/g)].map((match) => 1000 / Number(match[1]));
  if (found.length !== expected)
    throw new Error(`qemu-io reported ${found.length} commands, not ${expected}:\n${stdout.slice(-2000)}`);
  return found;
}

/** A small deterministic generator (mulberry32), so that both templates get the same offsets. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Distinct 4 KiB-aligned offsets scattered over the disk. */
function scatteredOffsets(count: number): number[] {
  const next = random(20);
  const granules = (DISK_MIB * 1024 * 1024) / GRANULE;
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(Math.floor(next() * granules));
  return [...chosen].map((granule) => granule * GRANULE);
}

interface WriteLatency {
  readonly write_p50_ms: number;
  readonly write_p99_ms: number;
  readonly write_max_ms: number;
}

/** Synchronous (FUA) 4 KiB writes at scattered offsets, in one qemu-io process: their latencies. */
async function syncWrites(target: string, pattern: number): Promise<WriteLatency> {
  const offsets = scatteredOffsets(WARMUP_WRITES + SYNC_WRITES);
  const writes = offsets.map((offset) => `write -f -P ${pattern} ${offset} 4k`);
  const all = latencies(await qemuIo(target, writes), writes.length);
  const sorted = all.slice(WARMUP_WRITES).sort((a, b) => a - b);
  const figures = {
    write_p50_ms: round(percentile(sorted, 0.5)),
    write_p99_ms: round(percentile(sorted, 0.99)),
    write_max_ms: round(sorted.at(-1)!),
  };
  log(
    `  ${SYNC_WRITES} synchronous 4 KiB writes: p50 ${figures.write_p50_ms} ms, p99 ${figures.write_p99_ms} ms, max ${figures.write_max_ms} ms`,
  );
  return figures;
}

/** One sequential write of `mib` MiB from offset 0 and a flush: MiB/s with the flush, and of the write alone. */
async function sequential(target: string, mib: number, pattern: number) {
  // What starting qemu-io, opening the image and an idle flush cost, taken off the timed run below.
  const openStart = performance.now();
  await qemuIo(target, ['flush']);
  const openMs = performance.now() - openStart;
  const started = performance.now();
  const out = await qemuIo(target, [`write -P ${pattern} 0 ${mib}M`, 'flush']);
  const totalMs = performance.now() - started - openMs;
  const [writeMs] = latencies(out, 1);
  const figures = {
    seq_mib_s: round(mib / (totalMs / 1000)),
    seq_write_only_mib_s: round(mib / (writeMs! / 1000)),
  };
  log(
    `  sequential ${mib} MiB + flush: ${figures.seq_mib_s} MiB/s (the write alone ${figures.seq_write_only_mib_s} MiB/s) in ${seconds(totalMs)} s`,
  );
  return { ...figures, seconds: seconds(totalMs) };
}

/** The synchronous-write latencies and sequential throughput of one disk, as qemu-io reaches it. */
async function measure(target: string) {
  const writes = await syncWrites(target, 7);
  const { seq_mib_s, seq_write_only_mib_s } = await sequential(target, SEQ_MIB, 1);
  return { ...writes, seq_mib_s, seq_write_only_mib_s };
}

/** Whether two copies of a disk hold the same bytes (cmp, run asynchronously). */
async function identical(a: string, b: string): Promise<boolean> {
  try {
    await run('cmp', ['--silent', a, b], { signal: qemuRuns.signal });
    return true;
  } catch {
    return false;
  }
}

/** An OS whose create script fills the first disk with random bytes, so that no granule is zero. */
async function writeFillOs(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const script = (body: string) => `#!/bin/sh\nset -e\n${body}\n`;
  const files: Record<string, string> = {
    ganeti_api_version: '20\n',
    'parameters.list': '',
    create: script(
      `dd if=/dev/urandom of="$DISK_0_PATH" bs=1M count=${FULL_SYNC_MIB} conv=notrunc,fsync status=none`,
    ),
    import: script('cat > /dev/null'),
    export: script('exit 0'),
    rename: script('exit 0'),
    verify: script('exit 0'),
  };
  for (const [name, content] of Object.entries(files)) {
    await writeFile(join(dir, name), content);
    if (!name.includes('.') && name !== 'ganeti_api_version') await chmod(join(dir, name), 0o755);
  }
}

/**
 * What a daemon logged at warn and above (pino: 40 warn, 50 error, 60 fatal): each message with its count,
 * and after a failure the last such lines in full.
 */
async function logSummary(name: string, path: string, tail: boolean): Promise<void> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const lines = text.split('\n').filter((line) => /"level":[456]0/.test(line));
  const seen = new Map<string, { count: number; first: string }>();
  for (const line of lines) {
    const key = `${/"level":(\d+)/.exec(line)?.[1]} ${/"msg":"([^"]*)"/.exec(line)?.[1] ?? line.slice(0, 200)}`;
    const entry = seen.get(key) ?? { count: 0, first: line };
    seen.set(key, { ...entry, count: entry.count + 1 });
  }
  log(`${name}: ${lines.length} lines at warn and above`);
  for (const [key, { count, first }] of seen) log(`  ${count}× ${key}; first: ${first.slice(0, 400)}`);
  if (tail) for (const line of lines.slice(-20)) log(`  ${line.slice(0, 600)}`);
}

async function main(): Promise<object> {
  const baseDir = await mkdtemp(join(tmpdir(), 'corral-bench-mirror-'));
  let daemons: DaemonProcess[] = [];
  let failed = false;
  const onSignal = (signal: NodeJS.Signals) => {
    qemuRuns.abort();
    for (const daemon of daemons) daemon.child.kill('SIGKILL');
    rmSync(baseDir, { recursive: true, force: true });
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const osDir = join(baseDir, 'os');
    await writeFillOs(join(osDir, OS_NAME));
    log(`starting ${NODES} daemons on 127.0.0.${FIRST_HOST}-${FIRST_HOST + NODES - 1}…`);
    daemons = await startLocalCluster({
      baseDir,
      nodes: NODES,
      firstHost: FIRST_HOST,
      logLevel: 'warn',
      fakeMemoryMiB: 4096,
      enabledHypervisors: ['fake'],
      enabledDiskTemplates: ['drbd', 'file', 'diskless'],
      daemonFlags: ['--os-search-path', osDir, '--watcher-interval', '0.5'],
    });
    // Jobs and config reads go through node3, which serves no disk here.
    const call: DaemonCall = (request) => daemons[2]!.call(request);
    const config = async (): Promise<ConfigView> =>
      configViewSchema.parse((await call({ op: 'config', consistent: true })).config);
    const instance = async (name: string) => {
      const found = (await config()).instances.find((i) => i.name === name);
      if (found === undefined) throw new Error(`no instance ${name}`);
      return found;
    };
    const currentCopies = async (name: string) => (await instance(name)).mirror?.current.length ?? 0;
    /** The primary's figures for the instance's first disk, as node1's `nodes-live` reports them. */
    const primaryStatus = async (name: string) => {
      const disk = (await instance(name)).disks[0]!.uuid;
      const { nodes } = await daemons[0]!.call({ op: 'nodes-live' });
      const entry = nodes
        .find((node) => node.name === 'node1')
        ?.status?.mirrors.find((mirror) => mirror.uuid === disk);
      if (entry?.primary === undefined) throw new Error(`node1 does not serve disk ${disk} of ${name}`);
      return entry.primary;
    };
    const copyOf = async (node: string, name: string) => {
      const found = await instance(name);
      return join(baseDir, node, 'mirror-storage', found.uuid, found.disks[0]!.uuid);
    };
    const nbdTarget = async (name: string) =>
      `nbd+unix:///${(await instance(name)).disks[0]!.uuid}?socket=${join(baseDir, 'node1', 'mirror', 'nbd.sock')}`;
    const create = (name: string, template: 'file' | 'drbd', extra: Partial<Opcode> = {}): Opcode =>
      ({
        OP_ID: 'OP_INSTANCE_CREATE',
        instance_name: name,
        disk_template: template,
        disks: [{ size: DISK_MIB }],
        hypervisor: 'fake',
        beparams: { memory: 128 },
        pnode: 'node1',
        ...(template === 'drbd' && { snode: 'node2' }),
        no_install: true,
        start: true,
        ...extra,
      }) as Opcode;

    log(`file: a ${DISK_MIB} MiB disk on node1, qemu-io on its image file…`);
    await runJob(call, [create('file1', 'file')]);
    const file1 = await instance('file1');
    const file = await measure(join(baseDir, 'node1', 'file-storage', file1.uuid, file1.disks[0]!.uuid));

    log(`drbd: a ${DISK_MIB} MiB disk on node1 mirrored to node2, qemu-io through node1's NBD socket…`);
    await runJob(call, [create('db1', 'drbd')]);
    const drbd = await measure(await nbdTarget('db1'));

    log(`resync: node2 killed, ${CHANGED_MIB} MiB written through node1, node2 started again…`);
    const sentBefore = (await primaryStatus('db1')).resyncBytesSent;
    const node2 = daemons[1]!;
    await node2.stop('SIGKILL');
    const target = await nbdTarget('db1');
    // The first write finds the link gone and waits for the master to record node2's copy stale.
    const outdateStart = performance.now();
    await qemuIo(target, ['write -f -P 90 0 4k']);
    const outdateMs = performance.now() - outdateStart;
    log(`  the first write after the kill took ${seconds(outdateMs)} s (it waits for the outdate)`);
    log('  degraded, node1 alone:');
    const degradedWrites = await syncWrites(target, 91);
    const degradedSeq = await sequential(target, CHANGED_MIB, 90);
    if ((await currentCopies('db1')) !== 1) throw new Error('the master did not record node2 stale');
    const respawnStart = performance.now();
    daemons[1] = await DaemonProcess.spawn(node2.options);
    const spawnMs = performance.now() - respawnStart;
    await waitFor(async () => ((await currentCopies('db1')) === 2 ? true : undefined), {
      timeoutMs: RESYNC_TIMEOUT_MS,
      intervalMs: 100,
      what: 'node2 to resync',
    });
    const resyncMs = performance.now() - respawnStart;
    const sentBytes = (await primaryStatus('db1')).resyncBytesSent - sentBefore;
    const changedBytes = CHANGED_MIB * 1024 * 1024;
    const resyncIdentical = await identical(await copyOf('node1', 'db1'), await copyOf('node2', 'db1'));
    log(
      `  current on both ${seconds(resyncMs)} s after the respawn (the daemon answered after ${seconds(spawnMs)} s); sent ${sentBytes} bytes for ${changedBytes} changed; copies identical: ${resyncIdentical}`,
    );

    log(`full sync: a drbd instance whose OS script fills its ${FULL_SYNC_MIB} MiB disk on node1…`);
    let attachedAt: number | undefined;
    await runJob(call, [create('full1', 'drbd', { no_install: false, os_type: OS_NAME })], (entry) => {
      if (attachedAt === undefined && /attached the mirrored disks of full1/.test(entry.message))
        attachedAt = performance.now();
    });
    const initialSyncS = attachedAt === undefined ? null : seconds(performance.now() - attachedAt);
    const initialSent = (await primaryStatus('full1')).resyncBytesSent;
    log(`  initial sync: ${initialSyncS} s from the attach to the job's end, ${initialSent} bytes sent`);

    log('full sync: replace-disks -n node3…');
    let replaceS: number | null = null;
    let replaceNote: string | undefined;
    let replaceCheck: object | undefined;
    try {
      const started = performance.now();
      await runJob(call, [
        {
          OP_ID: 'OP_INSTANCE_REPLACE_DISKS',
          instance_name: 'full1',
          mode: 'replace_new_secondary',
          remote_node: 'node3',
        },
      ]);
      replaceS = seconds(performance.now() - started);
      const full1 = await instance('full1');
      const secondary = (await config()).nodes.find((node) => node.uuid === full1.secondaryNodes[0])?.name;
      replaceCheck = {
        secondary,
        current_copies: full1.mirror?.current.length ?? 0,
        // The primary keeps its engine across the retarget: its count goes on from the initial sync's.
        sent_bytes: (await primaryStatus('full1')).resyncBytesSent - initialSent,
        copies_identical: await identical(await copyOf('node1', 'full1'), await copyOf('node3', 'full1')),
      };
      log(`  ${replaceS} s; ${JSON.stringify(replaceCheck)}`);
    } catch (error) {
      replaceNote = `replace-disks failed: ${(error as Error).message}; initial_full_sync_1g_s is the checksummed initial sync instead`;
      log(`  ${replaceNote}`);
    }

    return {
      file,
      drbd,
      resync: {
        changed_bytes: changedBytes,
        sent_bytes: sentBytes,
        seconds: seconds(resyncMs),
        respawn_s: seconds(spawnMs),
        first_write_after_kill_s: seconds(outdateMs),
        degraded_write_s: degradedSeq.seconds,
        copies_identical: resyncIdentical,
      },
      drbd_degraded: {
        ...degradedWrites,
        seq_mib_s: degradedSeq.seq_mib_s,
        seq_write_only_mib_s: degradedSeq.seq_write_only_mib_s,
      },
      replace_full_sync_1g_s: replaceS,
      ...(replaceCheck !== undefined && { replace: replaceCheck }),
      initial_full_sync_1g_s: initialSyncS,
      initial_full_sync_sent_bytes: initialSent,
      ...(replaceNote !== undefined && { note: replaceNote }),
      ratios: {
        write_p50: ratio(drbd.write_p50_ms / file.write_p50_ms),
        write_p99: ratio(drbd.write_p99_ms / file.write_p99_ms),
        seq: ratio(drbd.seq_mib_s / file.seq_mib_s),
        resync_bytes: ratio(sentBytes / changedBytes),
      },
      goals: {
        write_p50_within_2x: drbd.write_p50_ms <= 2 * file.write_p50_ms,
        resync_bytes_within_2x: sentBytes <= 2 * changedBytes,
      },
    };
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    // The run's directory goes with it: show what the daemons said first.
    for (const daemon of daemons) await logSummary(daemon.options.name, daemon.logPath, failed);
    qemuRuns.abort();
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    await rm(baseDir, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

console.log(JSON.stringify(await main()));
