import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type JobView, jobViewSchema } from '../../src/cluster/job-views.js';
import { type ConfigView, configViewSchema } from '../../src/cluster/views.js';
import { CorralError } from '../../src/common/errors.js';
import { waitFor } from '../../src/common/wait.js';
import type { ControlRequest } from '../../src/daemon/control-protocol.js';
import type { ControlResponse } from '../../src/daemon/control-replies.js';
import { type DaemonCall, runJob } from '../../src/daemon/job-client.js';
import { DaemonProcess, formLocalCluster, type SpawnOptions } from '../../src/daemon/local-cluster.js';
import { guestReadyMarker, seqInImage, seqWriterLoop, type TestGuest } from '../vm/kvm-guest.js';
import { HaNet } from './ha-net.js';

/**
 * The real-daemon HA proof shared by bench:ha and test/vm/ha-kvm.test.ts: three `corral daemon`s, each in a
 * network namespace of its own (ha-net.ts), with QEMU (TCG) guests on drbd disks that write sequence numbers,
 * and a fault injected into the node that is primary to a guest:
 *
 * - `power_loss`: every process of the node's namespace (daemon, fence watchdog, QEMUs) gets SIGKILL at once;
 * - `cut`: iptables in the node's namespace drops everything in and out of it; its QEMUs keep running;
 * - `hang`: the node's daemon gets SIGSTOP; its QEMUs (and any watchdog process) keep running.
 *
 * What is observed, independently of what the daemons say about themselves:
 * - **Which QEMUs run, every ~100 ms**, from /proc: every process named qemu-system-* whose command line holds
 *   this run's directory, attributed to the node whose data dir its runtime paths are in, and to the guest its
 *   `-name guest=` names. A QEMU counts as running unless it is a zombie or stopped (state Z, X, T or t). Two
 *   running QEMUs of one guest in one sample is a double run. This is conservative: a QEMU whose guest is
 *   paused counts as running too (no failover here starts a paused QEMU).
 * - **Each QEMU's serial console**, attached straight to its socket (`kvm/instances/NAME/console.sock`, a unix
 *   socket that works across namespaces and while the daemon hangs), as soon as the process appears: the boot
 *   marker, the sequence numbers the guest printed, and a heartbeat it prints every 250 ms without touching
 *   its disk. Two QEMUs of one guest whose consoles both printed within the last 500 ms is a console double
 *   run: evidence that both guests' CPUs ran, reported beside the process count.
 * - **The new primary's copy**: once the guest prints its boot marker elsewhere, the sequence sector of the
 *   image file on that node is read; it must hold at least the last number the old guest printed (a number is
 *   printed only after the write and a flush returned).
 *
 * The failover time is from the fault (just before it is applied) to the boot marker on another node's
 * console, as the harness received it.
 */

export const faultKinds = ['power_loss', 'cut', 'hang'] as const;
export type FaultKind = (typeof faultKinds)[number];

/** Where the guest writes its sequence numbers: 8 MiB into its disk, one 512-byte sector. */
const SAMPLE_MS = 100;
/** Two consoles that both printed within this window count as two guests running at once. */
const CONSOLE_WINDOW_MS = 500;
/** A call to a daemon that does not answer in this long counts as no answer (a hung daemon never does). */
const CALL_TIMEOUT_MS = 10_000;
const NODES = 3;

export interface HaClusterOptions {
  readonly guest: TestGuest;
  readonly out: (line: string) => void;
  readonly logLevel?: SpawnOptions['logLevel'];
  /** Aborting it ends every wait, so that the caller's cleanup runs. */
  readonly signal?: AbortSignal;
}

/** One QEMU process of a guest, as /proc and its console show it. */
interface QemuRun {
  readonly key: string;
  readonly pid: number;
  readonly node: number;
  readonly instance: string;
  readonly firstSeenMs: number;
  endedMs?: number;
  output: string;
  /** The part of the last line not yet ended by a newline. */
  tail: string;
  lastPrinted: number;
  lastOutputMs?: number;
  markerMs?: number;
  socket?: Socket;
  attaching: boolean;
}

export interface TrialResult {
  readonly kind: FaultKind;
  readonly instance: string;
  readonly victim: string;
  readonly victimWasMaster: boolean;
  /** Where the guest ran again, if it did. */
  newNode?: string;
  /** Fault to the boot marker on the new node's console. */
  failoverS?: number;
  /** Fault to the first sample that saw the new QEMU. */
  qemuStartedS?: number;
  /** Fault to the moment another node's view held the victim dead. */
  deadS?: number;
  /** Fault to the submission of the failover job (by the master's wall clock). */
  jobSubmittedS?: number;
  failoverJobs?: number;
  /** Fault to the first sample that no longer saw the old QEMU running. */
  oldGuestGoneS?: number;
  /** The old QEMU still ran when the node was restored, and what ended it. */
  oldGuestOutlivedFailover?: boolean;
  oldGuestKilledByHarness?: boolean;
  /** The last sequence number the old guest printed (after its write and flush returned). */
  lastPrinted: number;
  /** Numbers the old guest printed after its successor booted: writes made while a successor ran. */
  printedAfterFailover?: number;
  /** The sequence number on the new primary's copy when the guest booted there. */
  onDisk?: number;
  lostWrites: number;
  doubleRuns: number;
  doubleRunsConsole: number;
  /** Fault repaired to the mirror current on both nodes again. */
  restoredS?: number;
  error?: string;
}

const seconds = (ms: number) => Math.round(ms) / 1000;

/** The guest's loops: flushed sequence numbers from `start` on, and a heartbeat that never touches the disk. */
function loops(start: number): string {
  return `${seqWriterLoop(start)}h=0; while true; do h=$((h+1)); echo HB-$h; sleep 0.25; done &\n`;
}

/** Watches every QEMU of this run through /proc and their consoles, and counts double runs. */
class GuestWatch {
  readonly runs = new Map<string, QemuRun>();
  doubleRuns = 0;
  doubleRunsConsole = 0;
  samples = 0;
  maxGapMs = 0;
  private lastSampleMs: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private reported = new Set<string>();

  constructor(
    private readonly baseDir: string,
    private readonly out: (line: string) => void,
    private readonly nowMs: () => number,
  ) {}

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      try {
        this.sample();
      } catch (error) {
        this.out(`watch: a sample failed: ${(error as Error).message}`);
      }
      this.timer = setTimeout(tick, SAMPLE_MS);
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const run of this.runs.values()) run.socket?.destroy();
  }

  /** The running QEMUs of a guest. */
  live(instance: string): QemuRun[] {
    return [...this.runs.values()].filter((run) => run.instance === instance && run.endedMs === undefined);
  }

  /** The guest's QEMUs, running or not, first seen after `afterMs`. */
  since(instance: string, afterMs: number): QemuRun[] {
    return [...this.runs.values()].filter((run) => run.instance === instance && run.firstSeenMs > afterMs);
  }

  private sample(): void {
    const now = this.nowMs();
    if (this.lastSampleMs !== undefined) this.maxGapMs = Math.max(this.maxGapMs, now - this.lastSampleMs);
    this.lastSampleMs = now;
    this.samples++;
    const seen = new Set<string>();
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const found = this.qemuOf(Number(entry));
      if (found === undefined) continue;
      seen.add(found.key);
      let run = this.runs.get(found.key);
      if (run === undefined) {
        run = {
          ...found,
          firstSeenMs: now,
          output: '',
          tail: '',
          lastPrinted: 0,
          attaching: false,
        };
        this.runs.set(found.key, run);
        this.out(
          `  watch: QEMU of ${run.instance} on node${run.node + 1} (pid ${run.pid}) at ${seconds(now)} s`,
        );
      }
      if (!found.running) this.end(run, now);
      else if (run.socket === undefined && !run.attaching) this.attach(run);
    }
    for (const run of this.runs.values()) if (!seen.has(run.key)) this.end(run, now);

    const byInstance = new Map<string, QemuRun[]>();
    for (const run of this.runs.values()) {
      if (run.endedMs !== undefined) continue;
      byInstance.set(run.instance, [...(byInstance.get(run.instance) ?? []), run]);
    }
    for (const [instance, runs] of byInstance) {
      const nodes = new Set(runs.map((run) => run.node));
      if (nodes.size >= 2) {
        this.doubleRuns++;
        this.report(`process:${runs.map((r) => r.key).join(',')}`, instance, runs, 'QEMU processes');
      }
      const printing = runs.filter(
        (run) => run.lastOutputMs !== undefined && now - run.lastOutputMs <= CONSOLE_WINDOW_MS,
      );
      if (new Set(printing.map((run) => run.node)).size >= 2) {
        this.doubleRunsConsole++;
        this.report(
          `console:${printing.map((r) => r.key).join(',')}`,
          instance,
          printing,
          'printing consoles',
        );
      }
    }
  }

  private report(key: string, instance: string, runs: readonly QemuRun[], what: string): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.out(
      `  watch: DOUBLE RUN of ${instance} at ${seconds(this.nowMs())} s: ${what} on ${runs.map((r) => `node${r.node + 1} (pid ${r.pid})`).join(' and ')}`,
    );
  }

  private end(run: QemuRun, now: number): void {
    if (run.endedMs !== undefined) return;
    run.endedMs = now;
    run.socket?.destroy();
    this.out(
      `  watch: QEMU of ${run.instance} on node${run.node + 1} (pid ${run.pid}) gone at ${seconds(now)} s`,
    );
  }

  /** A QEMU of this run's guests, from /proc; undefined for any other process. */
  private qemuOf(
    pid: number,
  ): { key: string; pid: number; node: number; instance: string; running: boolean } | undefined {
    let stat: string;
    let cmdline: string[];
    try {
      if (!readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('qemu-system')) return undefined;
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      return undefined;
    }
    const nodeMatch = cmdline
      .map((arg) => arg.indexOf(`${this.baseDir}/node`))
      .map((at, i) =>
        at < 0 ? undefined : /^node(\d+)\//.exec(cmdline[i]!.slice(at + this.baseDir.length + 1)),
      )
      .find((match) => match != null);
    const nameAt = cmdline.indexOf('-name');
    const instance = nameAt < 0 ? undefined : /^guest=([^,]+)/.exec(cmdline[nameAt + 1] ?? '')?.[1];
    if (nodeMatch == null || instance === undefined) return undefined;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0] ?? 'X';
    // Field 22 of stat, the start time: a pid reused by a later QEMU is another run.
    const startTime = fields[19] ?? '';
    return {
      key: `${pid}@${startTime}`,
      pid,
      node: Number(nodeMatch[1]) - 1,
      instance,
      running: !/^[ZXTt]/.test(state),
    };
  }

  private attach(run: QemuRun): void {
    const path = join(this.baseDir, `node${run.node + 1}`, 'kvm', 'instances', run.instance, 'console.sock');
    run.attaching = true;
    const socket = createConnection({ path });
    socket.once('connect', () => {
      run.attaching = false;
      if (run.endedMs !== undefined) {
        socket.destroy();
        return;
      }
      run.socket = socket;
    });
    socket.on('error', () => {
      run.attaching = false;
      run.socket = undefined;
    });
    socket.on('close', () => {
      run.attaching = false;
      run.socket = undefined;
    });
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      const now = this.nowMs();
      run.lastOutputMs = now;
      run.output += chunk;
      if (run.markerMs === undefined && run.output.includes(guestReadyMarker)) run.markerMs = now;
      const lines = (run.tail + chunk).split('\n');
      run.tail = lines.pop() ?? '';
      for (const line of lines) {
        const printed = /PRINTED-(\d+)/.exec(line);
        if (printed !== null) run.lastPrinted = Math.max(run.lastPrinted, Number(printed[1]));
      }
    });
  }
}

export class HaCluster {
  readonly watch: GuestWatch;
  private readonly startedMs = performance.now();
  /** Nodes under a fault now: no call goes to them. */
  private readonly faulted = new Set<number>();

  private constructor(
    readonly baseDir: string,
    readonly net: HaNet,
    readonly daemons: DaemonProcess[],
    private readonly options: HaClusterOptions,
  ) {
    this.watch = new GuestWatch(baseDir, options.out, () => this.nowMs());
  }

  /** Makes the namespaces, starts a daemon in each and forms the cluster; on a failure removes everything. */
  static async start(options: HaClusterOptions): Promise<HaCluster> {
    const baseDir = await mkdtemp(join(tmpdir(), 'corral-ha-'));
    let net: HaNet | undefined;
    const daemons: DaemonProcess[] = [];
    try {
      net = await HaNet.open(NODES);
      options.out(`namespaces ${net.namespaces.join(', ')}; nodes at ${net.address(0)}-${NODES}`);
      for (let i = 0; i < NODES; i++) {
        const name = `node${i + 1}`;
        daemons.push(
          await DaemonProcess.spawn({
            dataDir: join(baseDir, name),
            listen: `/ip4/${net.address(i)}/tcp/7400`,
            name,
            daemonFlags: [
              '--shared-file-storage-dir',
              join(baseDir, 'shared-file-storage'),
              '--fake-memory',
              '4096',
              '--os-search-path',
              '/usr/share/ganeti/os',
              '--watcher-interval',
              '0.5',
            ],
            logLevel: options.logLevel ?? 'info',
            launcher: net.launcher(i),
          }),
        );
      }
      await formLocalCluster(daemons, {
        enabledHypervisors: ['kvm', 'fake'],
        enabledDiskTemplates: ['drbd', 'diskless'],
      });
      const cluster = new HaCluster(baseDir, net, daemons, options);
      cluster.watch.start();
      return cluster;
    } catch (error) {
      await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
      await net?.close();
      killStragglers(baseDir);
      await rm(baseDir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Milliseconds since the cluster was formed. */
  nowMs(): number {
    return performance.now() - this.startedMs;
  }

  private log(line: string): void {
    this.options.out(`t=${seconds(this.nowMs())} ${line}`);
  }

  /** Calls a node's daemon, giving up after a while (a stopped daemon accepts and never answers). */
  private callNode<R extends ControlRequest>(index: number, request: R): Promise<ControlResponse<R['op']>> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      this.daemons[index]!.call(request),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new CorralError('timeout', `node${index + 1} did not answer ${request.op}`)),
          CALL_TIMEOUT_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /** Calls through a node under no fault, the last one first (node3 is never a primary here). */
  readonly call: DaemonCall = (request) => {
    const index = [2, 1, 0].find((i) => !this.faulted.has(i) && this.daemons[i]!.isRunning());
    if (index === undefined)
      return Promise.reject(new CorralError('unavailable', 'every node is under a fault'));
    return this.callNode(index, request);
  };

  async config(): Promise<ConfigView> {
    return configViewSchema.parse((await this.call({ op: 'config', consistent: true })).config);
  }

  private async instance(name: string) {
    const found = (await this.config()).instances.find((i) => i.name === name);
    if (found === undefined) throw new CorralError('not_found', `no instance ${name}`);
    return found;
  }

  private async nodeIndex(uuid: string): Promise<number> {
    const node = (await this.config()).nodes.find((n) => n.uuid === uuid);
    if (node === undefined) throw new CorralError('not_found', `no node ${uuid}`);
    return Number(node.name.replace(/^node/, '')) - 1;
  }

  /** The name of the node the Raft leader runs on, as a node under no fault sees it. */
  private async masterName(): Promise<string | undefined> {
    const raft = await this.call({ op: 'raft-status' });
    return (await this.config()).nodes.find((n) => n.id === raft.leader)?.name;
  }

  /** The sequence number on a node's copy of the guest's disk. */
  async seqOnDisk(node: number, name: string): Promise<number> {
    const found = await this.instance(name);
    return seqInImage(
      join(this.baseDir, `node${node + 1}`, 'mirror-storage', found.uuid, found.disks[0]!.uuid),
    );
  }

  private wait<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string) {
    return waitFor(check, {
      timeoutMs,
      intervalMs: 50,
      what,
      ...(this.options.signal !== undefined && { signal: this.options.signal }),
    });
  }

  /** Waits for the guest's boot marker on a QEMU, starts its loops there and waits until it prints. */
  private async startLoops(run: QemuRun, from: number, timeoutMs: number): Promise<void> {
    await this.wait(
      () => (run.markerMs !== undefined && run.socket !== undefined ? true : undefined),
      timeoutMs,
      `the boot marker of ${run.instance} on node${run.node + 1}`,
    );
    run.socket!.write(loops(from));
    await this.wait(
      () => (run.lastPrinted > from + 2 ? true : undefined),
      60_000,
      `${run.instance} on node${run.node + 1} to print past ${from + 2}`,
    );
  }

  /** Creates a drbd guest on pnode with its secondary on snode and starts its loops. */
  async createGuest(name: string, pnode: number, snode: number): Promise<void> {
    const before = this.nowMs();
    await runJob(this.call, [
      {
        OP_ID: 'OP_INSTANCE_CREATE',
        instance_name: name,
        disk_template: 'drbd',
        disks: [{ size: 64 }],
        os_type: 'noop',
        hypervisor: 'kvm',
        hvparams: {
          kernel_path: this.options.guest.kernel,
          initrd_path: this.options.guest.initrd,
          accel: 'tcg',
        },
        beparams: { memory: 128 },
        pnode: `node${pnode + 1}`,
        snode: `node${snode + 1}`,
      },
    ]);
    const run = await this.wait(
      () => this.watch.since(name, before).find((r) => r.node === pnode && r.endedMs === undefined),
      30_000,
      `the QEMU of ${name} on node${pnode + 1}`,
    );
    await this.startLoops(run, 0, 120_000);
    this.log(`${name} runs on node${pnode + 1} and prints`);
  }

  /** The guest's one running QEMU, printing, with both copies current: the state a trial starts from. */
  private async steady(name: string): Promise<{ run: QemuRun; primary: number }> {
    const found = await this.instance(name);
    const primary = await this.nodeIndex(found.primaryNode);
    if ((found.mirror?.current.length ?? 0) !== 2)
      throw new CorralError('conflict', `${name}'s mirror is not current on both nodes`);
    const live = this.watch.live(name);
    const run = live.find((r) => r.node === primary);
    if (live.length !== 1 || run === undefined)
      throw new CorralError('conflict', `${name} runs on ${live.map((r) => `node${r.node + 1}`).join(', ')}`);
    const from = run.lastPrinted;
    await this.wait(() => (run.lastPrinted > from + 2 ? true : undefined), 30_000, `${name} to print`);
    return { run, primary };
  }

  /** Injects one fault into the guest's primary, follows the failover, repairs the node, and reports. */
  async trial(kind: FaultKind, name: string, failoverTimeoutMs = 180_000): Promise<TrialResult> {
    const { run: old, primary: victim } = await this.steady(name);
    const victimWasMaster = (await this.masterName()) === `node${victim + 1}`;
    const result: TrialResult = {
      kind,
      instance: name,
      victim: `node${victim + 1}`,
      victimWasMaster,
      lastPrinted: 0,
      lostWrites: 0,
      doubleRuns: 0,
      doubleRunsConsole: 0,
    };
    const doublesBefore = { process: this.watch.doubleRuns, console: this.watch.doubleRunsConsole };
    this.log(`${kind} of node${victim + 1}${victimWasMaster ? ' (the master)' : ''}, primary of ${name}`);
    const wallAt = Date.now();
    const faultAt = this.nowMs();
    this.faulted.add(victim);
    await this.inject(kind, victim);
    try {
      // The new guest: a QEMU of it on another node, first seen after the fault, that printed its marker.
      let deadAt: number | undefined;
      let askedAt = Number.NEGATIVE_INFINITY;
      const fresh = await this.wait(
        async () => {
          // When the others held the victim dead, asked four times a second.
          if (deadAt === undefined && this.nowMs() - askedAt >= 250) {
            askedAt = this.nowMs();
            const health = await this.call({ op: 'health' }).catch(() => undefined);
            const row = health?.rows.find((r) => r.node === `node${victim + 1}`);
            if (row?.state === 'dead') deadAt = this.nowMs() - row.stateAgeMs;
          }
          return this.watch.since(name, faultAt).find((r) => r.node !== victim && r.markerMs !== undefined);
        },
        failoverTimeoutMs,
        `${name} to print its boot marker on another node after the ${kind}`,
      );
      result.newNode = `node${fresh.node + 1}`;
      result.failoverS = seconds(fresh.markerMs! - faultAt);
      result.qemuStartedS = seconds(fresh.firstSeenMs - faultAt);
      if (deadAt !== undefined) result.deadS = seconds(deadAt - faultAt);
      result.lastPrinted = old.lastPrinted;
      result.onDisk = await this.seqOnDisk(fresh.node, name);
      this.log(
        `${name} booted on ${result.newNode} ${result.failoverS} s after the fault (QEMU at ${result.qemuStartedS} s); printed ${result.lastPrinted}, on disk ${result.onDisk}`,
      );
      await this.startLoops(fresh, result.onDisk, 30_000);
      const jobs = await this.printJobs(name, wallAt);
      result.failoverJobs = jobs.length;
      if (jobs[0] !== undefined) result.jobSubmittedS = seconds(jobs[0].receivedMs - wallAt);
    } catch (error) {
      result.error = (error as Error).message;
      this.log(`trial failed: ${result.error}`);
      await this.printJobs(name, wallAt).catch(() => undefined);
    } finally {
      result.oldGuestOutlivedFailover = old.endedMs === undefined;
      const repairAt = this.nowMs();
      await this.repair(kind, victim);
      this.faulted.delete(victim);
      try {
        await this.settle(name, victim, old);
        result.restoredS = seconds(this.nowMs() - repairAt);
      } catch (error) {
        // The old QEMU outlived every fence: end it, so that the next trial starts from one guest.
        if (old.endedMs === undefined) {
          result.oldGuestKilledByHarness = true;
          try {
            process.kill(old.pid, 'SIGKILL');
          } catch {
            // Gone already.
          }
        }
        result.error ??= `not restored: ${(error as Error).message}`;
        this.log(`restore failed: ${(error as Error).message}`);
      }
      if (old.endedMs !== undefined) result.oldGuestGoneS = seconds(old.endedMs - faultAt);
      // Whatever the old guest printed, even after its successor booted, must be on the successor's copy.
      if (old.lastPrinted > result.lastPrinted) {
        result.printedAfterFailover = old.lastPrinted - result.lastPrinted;
        result.lastPrinted = old.lastPrinted;
      }
      if (result.onDisk !== undefined) result.lostWrites = Math.max(0, result.lastPrinted - result.onDisk);
      result.doubleRuns = this.watch.doubleRuns - doublesBefore.process;
      result.doubleRunsConsole = this.watch.doubleRunsConsole - doublesBefore.console;
    }
    return result;
  }

  private async inject(kind: FaultKind, node: number): Promise<void> {
    const daemon = this.daemons[node]!;
    switch (kind) {
      case 'power_loss': {
        // Everything of the node at once: its daemon, its fence watchdog, its QEMUs.
        const pids = await this.net.pids(node);
        for (const pid of [daemon.pid!, ...pids]) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // Gone already.
          }
        }
        await daemon.whenExited();
        return;
      }
      case 'cut':
        return this.net.cut(node);
      case 'hang':
        process.kill(daemon.pid!, 'SIGSTOP');
        return;
    }
  }

  private async repair(kind: FaultKind, node: number): Promise<void> {
    switch (kind) {
      case 'power_loss':
        // What power loss left running in the namespace, if anything, goes too: the node boots afresh.
        for (const pid of await this.net.pids(node).catch(() => [])) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // Gone already.
          }
        }
        this.daemons[node] = await DaemonProcess.spawn(this.daemons[node]!.options);
        return;
      case 'cut':
        return this.net.heal(node);
      case 'hang':
        process.kill(this.daemons[node]!.pid!, 'SIGCONT');
        return;
    }
  }

  /** Waits until all see all alive, the old QEMU is gone, and the guest's copies are both current again. */
  private async settle(name: string, victim: number, old: QemuRun): Promise<void> {
    let pending = '';
    let saidAt = this.nowMs();
    const missing = async (): Promise<string> => {
      if (old.endedMs === undefined) return 'the old QEMU still runs';
      const unseen = await this.unseen();
      if (unseen !== '') return `not every node sees every node alive: ${unseen}`;
      const found = await this.instance(name);
      const secondary = found.secondaryNodes[0];
      if (secondary === undefined || (await this.nodeIndex(secondary)) !== victim)
        return `node${victim + 1} is not the secondary`;
      if ((found.mirror?.current.length ?? 0) !== 2) return 'the mirror is current on one node only';
      if (this.watch.live(name).length !== 1) return `${this.watch.live(name).length} QEMUs run`;
      return '';
    };
    await this.wait(
      async () => {
        const now = await missing().catch((error: Error) => `no answer: ${error.message}`);
        if (now !== pending || this.nowMs() - saidAt > 10_000) {
          if (now !== '') this.log(`  restoring node${victim + 1}: ${now}`);
          pending = now;
          saidAt = this.nowMs();
        }
        return now === '' ? true : undefined;
      },
      180_000,
      `node${victim + 1} back, its old guest gone and ${name}'s copies current on both nodes`,
    );
    this.log(`node${victim + 1} is back and ${name}'s mirror is current on both nodes`);
  }

  /**
   * Who does not see whom alive, heard first-hand lately (local-cluster's allSeeAll, with timeouts and the
   * reason); empty when every daemon sees every node so.
   */
  private async unseen(): Promise<string> {
    const views = await Promise.all(
      this.daemons.map((_, i) => this.callNode(i, { op: 'health' }).catch(() => undefined)),
    );
    return views
      .flatMap((view, i) => {
        if (view === undefined) return [`node${i + 1} does not answer`];
        if (view.rows.length !== this.daemons.length) return [`node${i + 1} knows ${view.rows.length} nodes`];
        return view.rows
          .filter((row) => row.state !== 'alive' || (row.id !== view.self && row.stale))
          .map((row) => `node${i + 1} holds ${row.node} ${row.state}${row.stale ? ' (stale)' : ''}`);
      })
      .join('; ');
  }

  /** Prints the guest's failover jobs since `wallAt` with their logs, times from then; returns them. */
  private async printJobs(name: string, wallAt: number): Promise<JobView[]> {
    const all = await this.jobsSince(wallAt);
    const at = (ms: number | undefined) => (ms === undefined ? '-' : `${seconds(ms - wallAt)}`);
    // Every job of the trial, in one line each: a failover held by another job's locks shows here.
    for (const job of all)
      this.log(
        `job ${job.id} ${job.ops.map((op) => op.input.OP_ID).join(',')} ${job.status}: received ${at(job.receivedMs)} s, started ${at(job.startMs)} s, ended ${at(job.endMs)} s`,
      );
    const jobs = all.filter((job) => isFailoverOf(job, name));
    for (const job of jobs) {
      this.log(`failover job ${job.id} (${job.status}), received at ${seconds(job.receivedMs - wallAt)} s:`);
      for (const entry of job.log)
        this.options.out(
          `    ${seconds(entry.tsMs - wallAt)} s ${entry.type}: ${entry.message.slice(0, 300)}`,
        );
    }
    return jobs;
  }

  /** The jobs received since `wallAt` (by the master's wall clock), oldest first. */
  private async jobsSince(wallAt: number): Promise<JobView[]> {
    const { jobs } = await this.call({ op: 'jobs', consistent: false });
    return jobs
      .map((job) => jobViewSchema.parse(job))
      .filter((job) => job.receivedMs >= wallAt - 1_000)
      .sort((a, b) => a.receivedMs - b.receivedMs);
  }

  /** What each daemon logged at warn and above, and the fence watchdog's log: counts, for the report. */
  async logSummary(tail: boolean): Promise<void> {
    for (const daemon of this.daemons) {
      const text = await readFileOr(daemon.logPath);
      const lines = text.split('\n').filter((line) => /"level":[456]0/.test(line));
      const seen = new Map<string, number>();
      for (const line of lines) {
        // The message with its reason, peer IDs and numbers blurred, so that alike lines count together.
        const reason = /"(?:reason|message)":"([^"]{0,160})/.exec(line)?.[1];
        const key = `${/"level":(\d+)/.exec(line)?.[1]} ${/"msg":"([^"]*)"/.exec(line)?.[1] ?? line.slice(0, 200)}${
          reason === undefined
            ? ''
            : ` (${reason
                .replace(/12D3KooW\w+/g, 'PEER')
                .replace(/[0-9a-f-]{36}/g, 'UUID')
                .replace(/\d+/g, 'N')})`
        }`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
      this.options.out(`${daemon.options.name}: ${lines.length} lines at warn and above`);
      for (const [key, count] of seen) this.options.out(`  ${count}× ${key}`);
      if (tail) for (const line of lines.slice(-15)) this.options.out(`  ${line.slice(0, 500)}`);
      const watchdog = (await readFileOr(join(daemon.options.dataDir, 'fence-watchdog.log'))).trim();
      if (watchdog !== '')
        this.options.out(`  fence watchdog: ${watchdog.split('\n').slice(-5).join(' | ')}`);
    }
  }

  /** Stops everything: the watch, the daemons (a stopped one too), the namespaces and the data (unless kept). */
  async stop(keepDir = false): Promise<void> {
    this.watch.stop();
    for (const daemon of this.daemons) {
      if (daemon.pid !== undefined && daemon.isRunning()) {
        try {
          process.kill(daemon.pid, 'SIGCONT');
        } catch {
          // Gone already.
        }
      }
    }
    await Promise.all(this.daemons.map((daemon) => daemon.stop('SIGKILL')));
    await this.net.close();
    killStragglers(this.baseDir);
    if (keepDir) this.options.out(`kept ${this.baseDir}`);
    else await rm(this.baseDir, { recursive: true, force: true });
  }
}

function isFailoverOf(job: JobView, name: string): boolean {
  return job.ops.some(
    (op) =>
      op.input.OP_ID === 'OP_INSTANCE_FAILOVER' &&
      'instance_name' in op.input &&
      op.input.instance_name === name,
  );
}

function readFileOr(path: string): Promise<string> {
  return readFile(path, 'utf8').catch(() => '');
}

/** Kills any process whose command line names the run's directory (a QEMU that left its namespace, say). */
export function killStragglers(baseDir: string): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(baseDir))
        process.kill(Number(entry), 'SIGKILL');
    } catch {
      // Gone, or not ours to read.
    }
  }
}
