/**
 * bench:jobs — the control plane end to end: three `corral daemon`s on loopback, jobs submitted from a node
 * that is not the master (so every submission is forwarded to the Raft leader) and followed to the end from
 * that node's replica.
 *
 * - latency of one job (submit, then follow until it succeeds): `debug delay 0` and a cluster tag change;
 * - jobs per second with 1 and 32 submitters, each submitting a job, waiting for it to end, and repeating, for
 *   a fixed time: `debug delay 0`, and config-only jobs (cluster tag add / remove, see `tagWork`);
 * - `gnt-cluster getmaster`-like read latency: the `config` control op with a leader-confirmed read;
 * - master failover under load: with submitters running on both other nodes, kill -9 the master and time
 *   until a job submitted after the kill, from a surviving node, succeeds (median of 5).
 *
 * Ganeti cannot be set up here (it needs a real cluster of machines with its own daemons), so its figures
 * are constants quoted from measurements on this kind of machine (see GANETI_REFERENCE), and etcd's leader
 * failover is the figure bench:raft measures on this machine. The last line printed is one JSON object.
 */

import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Opcode } from '../src/cluster/opcodes.js';
import { untilAborted } from '../src/common/abort.js';
import { percentile } from '../src/common/stats.js';
import { waitFor } from '../src/common/wait.js';
import { type DaemonCall, runJob } from '../src/daemon/job-client.js';
import {
  cliEntryPoint,
  DaemonProcess,
  type SpawnOptions,
  startLocalCluster,
} from '../src/daemon/local-cluster.js';
import { ControlPool } from './control-pool.js';

const NODES = 3;
/** Nodes listen on 127.0.0.190–192: the addresses set aside for this benchmark. */
const FIRST_HOST = 190;
const WARMUP_JOBS = 20;
const LATENCY_JOBS = 200;
const GETMASTER_READS = 100;
/** Whole `corral cluster getmaster` processes timed, after two that fill V8's compile cache. */
const CLI_CALLS = 20;
const THROUGHPUT_SECONDS = 5;
const FAILOVER_TRIALS = 5;
/** Submitters kept busy on each surviving node while the master is killed. */
const FAILOVER_LOAD_PER_NODE = 2;
/** During failover a new probe job is submitted this often, alternating between the survivors. */
const PROBE_INTERVAL_MS = 50;
const FAILOVER_GIVE_UP_MS = 30_000;

/**
 * Ganeti's figures, quoted (Ganeti is not installed here): a diskless instance add job end to end, 60
 * concurrent instance adds, and `gnt-cluster getmaster`, on this kind of machine.
 */
const GANETI_REFERENCE = {
  source: 'quoted figures (no Ganeti cluster can be set up here)',
  job_e2e_ms: 1100,
  concurrent_60_adds_s: 19,
  getmaster_ms: 560,
} as const;
/** etcd 3.4's leader failover (kill -9, until a write succeeds), median of 5, as bench:raft measures here. */
const ETCD_FAILOVER_MS = 1400;

const log = (line: string) => process.stderr.write(`${line}\n`);
const round = (value: number) => Math.round(value * 100) / 100;
const ratio = (value: number) => Math.round(value * 1000) / 1000;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor(sorted.length / 2)]!;
};

const delayOp: Opcode = { OP_ID: 'OP_TEST_DELAY', duration: 0 };

/** What one submitter runs, job after job: the n-th job it submits. */
type Work = (submitter: number, n: number) => Opcode[];

const delayWork: Work = () => [delayOp];

/**
 * Config-only jobs: each submitter adds a tag of its own to the cluster, then removes it, then adds the next,
 * so the cluster never holds more than one tag per submitter (Ganeti allows 4,096 per object). Both the add
 * and the remove are one replicated config change, and both are counted.
 */
function tagWork(run: string): Work {
  return (submitter, n) => {
    const tag = `bench-${run}-${submitter}-${n >> 1}`;
    return [{ OP_ID: n % 2 === 0 ? 'OP_TAGS_SET' : 'OP_TAGS_DEL', kind: 'cluster', tags: [tag] }];
  };
}

class Cluster {
  private readonly restartOptions: SpawnOptions[];
  /** Submitters keep their connections to a node between calls, as a RAPI or HTTP client would. */
  private readonly pools: ControlPool[];
  private ids: string[] = [];

  constructor(readonly daemons: (DaemonProcess | undefined)[]) {
    this.restartOptions = daemons.map((daemon) => daemon!.options);
    this.pools = daemons.map((daemon) => new ControlPool(daemon!.socketPath));
  }

  async learnIds(): Promise<void> {
    this.ids = await Promise.all(this.daemons.map(async (d) => (await d!.call({ op: 'raft-status' })).id));
  }

  node(i: number): DaemonProcess {
    const daemon = this.daemons[i];
    if (daemon === undefined) throw new Error(`node${i + 1} is down`);
    return daemon;
  }

  caller(i: number): DaemonCall {
    if (!this.alive().includes(i)) throw new Error(`node${i + 1} is down`);
    const pool = this.pools[i]!;
    return (request) => pool.call(request);
  }

  alive(): number[] {
    return this.daemons.flatMap((daemon, i) => (daemon === undefined ? [] : [i]));
  }

  /** The node every live member agrees is master (the Raft leader). */
  async master(): Promise<number> {
    return waitFor(
      async () => {
        const leaders = await Promise.all(
          this.alive().map(async (i) => (await this.node(i).call({ op: 'raft-status' })).leader),
        );
        const leader = leaders[0];
        if (leader === undefined || leaders.some((l) => l !== leader)) return undefined;
        const index = this.ids.indexOf(leader);
        return index >= 0 && this.daemons[index] !== undefined ? index : undefined;
      },
      { timeoutMs: 30_000, what: 'all nodes to agree on a master' },
    );
  }

  async nonMaster(): Promise<number> {
    const master = await this.master();
    return this.alive().find((i) => i !== master)!;
  }

  async kill(i: number): Promise<void> {
    await this.node(i).stop('SIGKILL');
    this.daemons[i] = undefined;
    this.pools[i]!.close();
  }

  /** Starts a killed node again from its data dir and waits until it has caught up and sees everyone. */
  async restart(i: number): Promise<void> {
    const daemon = await DaemonProcess.spawn(this.restartOptions[i]!);
    this.daemons[i] = daemon;
    const master = await this.master();
    const target = (await this.node(master).call({ op: 'raft-status' })).commit;
    await waitFor(
      async () => {
        const raft = await daemon.call({ op: 'raft-status' });
        if (raft.leader === undefined || raft.applied < target) return undefined;
        const statuses = await Promise.all(this.alive().map((j) => this.node(j).status()));
        const connected = statuses.every(
          (s) => s.members.length === NODES && s.members.every((member) => member.connected),
        );
        return connected ? true : undefined;
      },
      { timeoutMs: 60_000, what: `node${i + 1} to catch up and reconnect` },
    );
  }

  /** Ends every daemon at once (also from a signal handler, so it is synchronous). */
  killAll(): void {
    for (const daemon of this.daemons) {
      if (daemon?.isRunning()) daemon.child.kill('SIGKILL');
    }
  }

  async stop(): Promise<void> {
    for (const pool of this.pools) pool.close();
    await Promise.all(this.daemons.map((daemon) => daemon?.stop('SIGKILL')));
  }

  /** Warnings and errors the daemons logged, a few per node, for the report. */
  async logSummary(): Promise<string[]> {
    const lines: string[] = [];
    for (const options of this.restartOptions) {
      const text = await readFile(join(options.dataDir, 'daemon.log'), 'utf8').catch(() => '');
      const entries = text.split('\n').filter((line) => line.trim() !== '');
      const counts = new Map<string, number>();
      for (const entry of entries) {
        let message = entry.slice(0, 160);
        try {
          const parsed = JSON.parse(entry) as { level?: number; msg?: string; err?: { message?: string } };
          const why = parsed.err?.message === undefined ? '' : `: ${parsed.err.message.slice(0, 200)}`;
          message = `${parsed.level ?? '?'} ${parsed.msg ?? ''}${why}`;
        } catch {
          // Not pino's JSON: keep the raw line.
        }
        counts.set(message, (counts.get(message) ?? 0) + 1);
      }
      const top = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 5);
      lines.push(
        `${options.name}: ${entries.length} log lines${top.map(([m, c]) => `\n    ${c}× ${m}`).join('')}`,
      );
    }
    return lines;
  }
}

async function latency(call: DaemonCall, work: Work, count: number): Promise<{ p50: number; p99: number }> {
  const samples: number[] = [];
  for (let n = 0; n < count; n++) {
    const started = performance.now();
    await runJob(call, work(0, n));
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return { p50: round(percentile(samples, 0.5)), p99: round(percentile(samples, 0.99)) };
}

/** CPU seconds (user + system) a process has used so far, from /proc; 0 where that cannot be read. */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // Fields after the command name (which may hold spaces, hence the last ')'); utime and stime are 14 and 15.
  const fields = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields === undefined) return 0;
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Runs the work and says how busy each daemon and this process were meanwhile, in cores. */
async function withCpu<T>(cluster: Cluster, work: () => Promise<T>): Promise<{ result: T; cpu: string }> {
  const pids = cluster.daemons.map((daemon) => daemon?.child.pid);
  const before = await Promise.all(pids.map(cpuSeconds));
  const ownBefore = process.cpuUsage();
  const started = performance.now();
  const result = await work();
  const seconds = (performance.now() - started) / 1000;
  const after = await Promise.all(pids.map(cpuSeconds));
  const own = process.cpuUsage(ownBefore);
  const cores = pids.map((_, i) => `node${i + 1} ${round((after[i]! - before[i]!) / seconds)}`);
  cores.push(`bench ${round((own.user + own.system) / 1e6 / seconds)}`);
  return { result, cpu: `cores busy: ${cores.join(', ')}` };
}

/** Submitters each run one job at a time until the time is up; jobs per second over the whole run. */
async function throughput(call: DaemonCall, work: Work, submitters: number): Promise<number> {
  const started = performance.now();
  const deadline = started + THROUGHPUT_SECONDS * 1000;
  let completed = 0;
  await Promise.all(
    Array.from({ length: submitters }, async (_, submitter) => {
      for (let n = 0; performance.now() < deadline; n++) {
        await runJob(call, work(submitter, n));
        completed++;
      }
    }),
  );
  return Math.round(completed / ((performance.now() - started) / 1000));
}

async function getmaster(call: DaemonCall): Promise<{ p50: number; p99: number }> {
  const samples: number[] = [];
  for (let i = 0; i < GETMASTER_READS; i++) {
    const started = performance.now();
    const view = await call({ op: 'config', consistent: true });
    if (view.master === undefined) throw new Error('the config read named no master');
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return { p50: round(percentile(samples, 0.5)), p99: round(percentile(samples, 0.99)) };
}

/**
 * A user's CLI call as a whole process, from start to exit: `corral cluster getmaster` against a node that is
 * not the master, beside `node -e 0` (the floor any Node program pays) on the same machine.
 */
async function cliCalls(socketPath: string): Promise<{ p50: number; nodeFloorP50: number }> {
  const time = async (args: readonly string[]) => {
    const started = performance.now();
    await new Promise<void>((resolve, reject) =>
      execFile(process.execPath, args, (error) => (error ? reject(error) : resolve())),
    );
    return performance.now() - started;
  };
  const getmaster = [cliEntryPoint(), 'cluster', 'getmaster', '--socket', socketPath];
  await time(getmaster);
  await time(getmaster);
  const cli: number[] = [];
  const floor: number[] = [];
  for (let i = 0; i < CLI_CALLS; i++) {
    cli.push(await time(getmaster));
    floor.push(await time(['-e', '0']));
  }
  cli.sort((a, b) => a - b);
  floor.sort((a, b) => a - b);
  return { p50: round(percentile(cli, 0.5)), nodeFloorP50: round(percentile(floor, 0.5)) };
}

interface LoadStats {
  completed: number;
  failed: number;
  errors: Map<string, number>;
}

/** Submitters that keep running delay-0 jobs on the given nodes until stopped, counting what goes wrong. */
function startLoad(cluster: Cluster, nodes: readonly number[], stats: LoadStats) {
  let stopped = false;
  const loops = nodes.flatMap((node) =>
    Array.from({ length: FAILOVER_LOAD_PER_NODE }, async () => {
      const call = cluster.caller(node);
      while (!stopped) {
        try {
          await runJob(call, [delayOp]);
          stats.completed++;
        } catch (error) {
          stats.failed++;
          const message = (error as Error).message.slice(0, 120);
          stats.errors.set(message, (stats.errors.get(message) ?? 0) + 1);
          await pause(50);
        }
      }
    }),
  );
  return async () => {
    stopped = true;
    // A submitter whose call was cut off by the kill may still be retrying inside a daemon: do not wait on it.
    await Promise.race([Promise.all(loops), pause(15_000)]);
  };
}

/** Kills the master under load; time until a job submitted after the kill, from a survivor, succeeds. */
async function failoverTrial(cluster: Cluster, trial: number, stats: LoadStats): Promise<number | undefined> {
  const master = await cluster.master();
  const survivors = cluster.alive().filter((i) => i !== master);
  const stopLoad = startLoad(cluster, survivors, stats);
  await pause(1000);
  const give = new AbortController();
  const started = performance.now();
  const before = stats.completed;
  await cluster.kill(master);
  let elapsed: number | undefined;
  const succeeded = new Promise<void>((resolve) => {
    let probe = 0;
    const launch = () => {
      if (give.signal.aborted || performance.now() - started > FAILOVER_GIVE_UP_MS) {
        clearInterval(timer);
        resolve();
        return;
      }
      const node = survivors[probe++ % survivors.length]!;
      untilAborted(runJob(cluster.caller(node), [delayOp]), give.signal).then(
        () => {
          elapsed ??= performance.now() - started;
          give.abort();
        },
        () => undefined,
      );
    };
    const timer = setInterval(launch, PROBE_INTERVAL_MS);
    launch();
  });
  await succeeded;
  give.abort();
  await stopLoad();
  log(
    `failover trial ${trial + 1}: killed node${master + 1}, ` +
      (elapsed === undefined ? `no job succeeded within ${FAILOVER_GIVE_UP_MS} ms` : `${round(elapsed)} ms`) +
      ` (load jobs that ended after the kill: ${stats.completed - before})`,
  );
  log(`failover trial ${trial + 1}: restarting node${master + 1}…`);
  await cluster.restart(master);
  return elapsed === undefined ? undefined : round(elapsed);
}

async function main(): Promise<object> {
  const baseDir = await mkdtemp(join(tmpdir(), 'corral-bench-jobs-'));
  let cluster: Cluster | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    cluster?.killAll();
    rmSync(baseDir, { recursive: true, force: true });
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    log(`starting ${NODES} daemons on 127.0.0.${FIRST_HOST}-${FIRST_HOST + NODES - 1}…`);
    const daemons = await startLocalCluster({
      baseDir,
      nodes: NODES,
      firstHost: FIRST_HOST,
      logLevel: 'warn',
    });
    cluster = new Cluster(daemons);
    await cluster.learnIds();
    const master = await cluster.master();
    const submitter = await cluster.nonMaster();
    const call = cluster.caller(submitter);
    log(`master node${master + 1}; submitting from node${submitter + 1}`);

    for (let n = 0; n < WARMUP_JOBS; n++) await runJob(call, [delayOp]);
    log(`latency: ${LATENCY_JOBS} sequential delay-0 jobs…`);
    const delayLatency = await latency(call, delayWork, LATENCY_JOBS);
    log(`  p50 ${delayLatency.p50} ms, p99 ${delayLatency.p99} ms`);
    log(`latency: ${LATENCY_JOBS} sequential tag jobs…`);
    const tagLatency = await latency(call, tagWork('lat'), LATENCY_JOBS);
    log(`  p50 ${tagLatency.p50} ms, p99 ${tagLatency.p99} ms`);
    log(`getmaster: ${GETMASTER_READS} leader-confirmed config reads…`);
    const read = await getmaster(call);
    log(`  p50 ${read.p50} ms, p99 ${read.p99} ms`);
    log(`cli: ${CLI_CALLS} whole 'corral cluster getmaster' processes…`);
    const cli = await cliCalls(cluster.daemons[submitter]!.socketPath);
    log(`  p50 ${cli.p50} ms (node -e 0: ${cli.nodeFloorP50} ms)`);

    const rates: Record<string, number> = {};
    for (const [name, work] of [
      ['delay', delayWork],
      ['tag', null],
    ] as const) {
      for (const submitters of [1, 32]) {
        log(`throughput: ${name} jobs, ${submitters} submitter(s), ${THROUGHPUT_SECONDS} s…`);
        const { result: rate, cpu } = await withCpu(cluster, () =>
          throughput(call, work ?? tagWork(`t${submitters}`), submitters),
        );
        rates[`${name}_jobs_per_s_${submitters}`] = rate;
        log(`  ${rate} jobs/s; ${cpu}`);
      }
    }

    const stats: LoadStats = { completed: 0, failed: 0, errors: new Map() };
    const trials: (number | undefined)[] = [];
    // A trial that cannot finish (say, the killed node does not come back) ends the failover part: without it
    // the next kill would leave no quorum. The error goes into the figures instead of ending the run.
    let failoverError: string | undefined;
    for (let trial = 0; trial < FAILOVER_TRIALS; trial++) {
      try {
        trials.push(await failoverTrial(cluster, trial, stats));
      } catch (error) {
        failoverError = `trial ${trial + 1}: ${(error as Error).message}`;
        log(`failover ${failoverError}`);
        break;
      }
    }
    const measured = trials.filter((t): t is number => t !== undefined);
    const failoverMedian = round(median(measured));
    for (const [message, count] of stats.errors) log(`  load error ${count}×: ${message}`);

    const tagRate32 = rates.tag_jobs_per_s_32!;
    return {
      corral: {
        job_e2e_p50_ms: delayLatency.p50,
        job_e2e_p99_ms: delayLatency.p99,
        tag_job_e2e_p50_ms: tagLatency.p50,
        tag_job_e2e_p99_ms: tagLatency.p99,
        getmaster_p50_ms: read.p50,
        getmaster_p99_ms: read.p99,
        cli_call_p50_ms: cli.p50,
        node_startup_p50_ms: cli.nodeFloorP50,
        ...rates,
        failover_ms_median: failoverMedian,
        failover_ms_trials: trials.map((t) => t ?? null),
        failover_load_jobs_completed: stats.completed,
        failover_load_jobs_failed: stats.failed,
        ...(failoverError !== undefined && { failover_error: failoverError }),
      },
      ganeti_reference: GANETI_REFERENCE,
      etcd_failover_reference_ms: ETCD_FAILOVER_MS,
      latency_ratio: ratio(delayLatency.p50 / GANETI_REFERENCE.job_e2e_ms),
      getmaster_ratio: ratio(read.p50 / GANETI_REFERENCE.getmaster_ms),
      failover_ratio: ratio(failoverMedian / ETCD_FAILOVER_MS),
      tag_jobs_per_s_32: tagRate32,
      goals: {
        latency_tenth_of_ganeti: delayLatency.p50 <= GANETI_REFERENCE.job_e2e_ms / 10,
        tag_jobs_1000_per_s_32: tagRate32 >= 1000,
        failover_as_fast_as_etcd: measured.length === FAILOVER_TRIALS && failoverMedian <= ETCD_FAILOVER_MS,
        cli_call_150_ms: cli.p50 <= 150,
      },
    };
  } finally {
    if (cluster !== undefined) {
      log('daemon logs (lines by level and message; pino levels: 40 warn, 50 error, 60 fatal):');
      for (const line of await cluster.logSummary()) log(`  ${line}`);
    }
    await cluster?.stop();
    await rm(baseDir, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

console.log(JSON.stringify(await main()));
