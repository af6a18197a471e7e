/**
 * bench:raft — Corral's Raft against etcd 3.4 (Debian's etcd-server), three members each on loopback, same
 * timeouts (100 ms heartbeat, 1,000 ms election), same client work: sequential writes (commit latency),
 * 16 concurrent writers (throughput), and leader failover (kill -9 the leader, time until a write succeeds,
 * median of 5). The last line printed is one JSON object with both systems' figures and Corral/etcd ratios.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentile } from '../src/common/stats.js';
import { waitFor } from '../src/common/wait.js';
import { DaemonProcess, type SpawnOptions, startLocalCluster } from '../src/daemon/local-cluster.js';
import { ControlPool } from './control-pool.js';
import { ensureDebianPackage } from './debian.js';

const MEMBERS = 3;
const SEQUENTIAL_WRITES = 1000;
const CONCURRENT_WRITERS = 16;
const CONCURRENT_WRITES = 8000;
const FAILOVER_TRIALS = 5;
const VALUE = 'x'.repeat(64);
/** A write attempt during failover gives up after this long; it bounds how finely failover is measured. */
const ATTEMPT_TIMEOUT_MS = 250;

const log = (line: string) => process.stderr.write(`${line}\n`);
const round = (value: number) => Math.round(value * 100) / 100;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the benchmark needs of a replicated store. */
interface System {
  readonly name: string;
  put(member: number, key: string, signal?: AbortSignal): Promise<void>;
  leader(): Promise<number>;
  kill(member: number): Promise<void>;
  restart(member: number): Promise<void>;
  alive(member: number): boolean;
  stop(): Promise<void>;
}

class Etcd implements System {
  readonly name = 'etcd';
  private readonly processes: (ChildProcess | undefined)[] = [];

  private constructor(private readonly baseDir: string) {}

  static async start(baseDir: string): Promise<Etcd> {
    const etcd = new Etcd(baseDir);
    for (let i = 0; i < MEMBERS; i++) etcd.spawnMember(i);
    await etcd.waitHealthy();
    return etcd;
  }

  private ip(i: number): string {
    return `127.0.0.${150 + i}`;
  }

  private spawnMember(i: number): void {
    const cluster = Array.from({ length: MEMBERS }, (_, j) => `e${j}=http://${this.ip(j)}:2380`).join(',');
    const args = [
      `--name=e${i}`,
      `--data-dir=${join(this.baseDir, `e${i}`)}`,
      `--listen-peer-urls=http://${this.ip(i)}:2380`,
      `--initial-advertise-peer-urls=http://${this.ip(i)}:2380`,
      `--listen-client-urls=http://${this.ip(i)}:2379`,
      `--advertise-client-urls=http://${this.ip(i)}:2379`,
      `--initial-cluster=${cluster}`,
      '--initial-cluster-state=new',
      '--initial-cluster-token=corral-bench',
      '--heartbeat-interval=100',
      '--election-timeout=1000',
      '--logger=zap',
      '--log-level=error',
    ];
    this.processes[i] = spawn('etcd', args, { stdio: 'ignore' });
  }

  private async call(
    i: number,
    path: string,
    body: unknown,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const response = await fetch(`http://${this.ip(i)}:2379${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
      signal: signal ?? AbortSignal.timeout(5000),
    });
    const json = (await response.json()) as Record<string, unknown>;
    if (!response.ok || 'error' in json) throw new Error(`etcd ${path}: ${JSON.stringify(json)}`);
    return json;
  }

  async put(member: number, key: string, signal?: AbortSignal): Promise<void> {
    const b64 = (text: string) => Buffer.from(text).toString('base64');
    await this.call(member, '/v3/kv/put', { key: b64(key), value: b64(VALUE) }, signal);
  }

  async leader(): Promise<number> {
    return waitFor(
      async () => {
        for (let i = 0; i < MEMBERS; i++) {
          if (!this.alive(i)) continue;
          const status = await this.call(i, '/v3/maintenance/status', {}).catch(() => undefined);
          const header = status?.header as { member_id?: string } | undefined;
          if (status !== undefined && status.leader === header?.member_id) return i;
        }
        return undefined;
      },
      { timeoutMs: 30_000, what: 'an etcd leader' },
    );
  }

  async kill(member: number): Promise<void> {
    const child = this.processes[member];
    if (child === undefined) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    this.processes[member] = undefined;
  }

  async restart(member: number): Promise<void> {
    this.spawnMember(member);
    await this.waitHealthy();
  }

  alive(member: number): boolean {
    return this.processes[member] !== undefined;
  }

  private async waitHealthy(): Promise<void> {
    await waitFor(
      async () => {
        const health = await Promise.all(
          Array.from({ length: MEMBERS }, (_, i) =>
            fetch(`http://${this.ip(i)}:2379/health`, { signal: AbortSignal.timeout(2000) })
              .then((r) => r.json() as Promise<{ health?: string }>)
              .catch(() => undefined),
          ),
        );
        return health.every((h) => h?.health === 'true') ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: 'etcd to be healthy' },
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((_, i) => this.kill(i)));
  }
}

class Corral implements System {
  readonly name = 'corral';

  /** How to start each member again after it is killed: it comes back a member, from its data dir. */
  private readonly restartOptions: SpawnOptions[];
  /** Each member's clients keep their connections, as etcd's do over HTTP. */
  private readonly pools: ControlPool[];

  private constructor(private readonly daemons: (DaemonProcess | undefined)[]) {
    this.restartOptions = daemons.map((daemon) => daemon!.options);
    this.pools = daemons.map((daemon) => new ControlPool(daemon!.socketPath));
  }

  static async start(baseDir: string): Promise<Corral> {
    return new Corral(await startLocalCluster({ baseDir, nodes: MEMBERS, firstHost: 160, logLevel: 'warn' }));
  }

  private member(i: number): DaemonProcess {
    const daemon = this.daemons[i];
    if (daemon === undefined) throw new Error(`member ${i} is down`);
    return daemon;
  }

  async put(member: number, key: string, signal?: AbortSignal): Promise<void> {
    if (!this.alive(member)) throw new Error(`member ${member} is down`);
    await this.pools[member]!.call({ op: 'kv-put', key, value: Buffer.from(VALUE) }, signal);
  }

  async leader(): Promise<number> {
    return waitFor(
      async () => {
        for (const [i, daemon] of this.daemons.entries()) {
          const status = await daemon?.call({ op: 'raft-status' }).catch(() => undefined);
          if (status?.role === 'leader') return i;
        }
        return undefined;
      },
      { timeoutMs: 30_000, what: 'a Corral leader' },
    );
  }

  async kill(member: number): Promise<void> {
    await this.member(member).stop('SIGKILL');
    this.daemons[member] = undefined;
    this.pools[member]!.close();
  }

  async restart(member: number): Promise<void> {
    const daemon = await DaemonProcess.spawn(this.restartOptions[member]!);
    this.daemons[member] = daemon;
    const target = (await daemon.call({ op: 'raft-status' })).commit;
    await waitFor(
      async () => {
        const status = await daemon.call({ op: 'raft-status' });
        return status.leader !== undefined && status.applied >= target ? true : undefined;
      },
      { timeoutMs: 60_000, what: 'the restarted member to catch up' },
    );
  }

  alive(member: number): boolean {
    return this.daemons[member] !== undefined;
  }

  async stop(): Promise<void> {
    for (const pool of this.pools) pool.close();
    await Promise.all(this.daemons.map((daemon) => daemon?.stop()));
  }
}

async function sequential(system: System): Promise<{ p50: number; p99: number }> {
  const leader = await system.leader();
  for (let i = 0; i < 100; i++) await system.put(leader, `warm-${i}`);
  const samples: number[] = [];
  for (let i = 0; i < SEQUENTIAL_WRITES; i++) {
    const started = performance.now();
    await system.put(leader, `seq-${i % 100}`);
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return { p50: round(percentile(samples, 0.5)), p99: round(percentile(samples, 0.99)) };
}

async function concurrent(system: System): Promise<number> {
  const leader = await system.leader();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENT_WRITERS }, async (_, writer) => {
      while (next++ < CONCURRENT_WRITES) await system.put(leader, `c-${writer}-${next % 100}`);
    }),
  );
  return Math.round(CONCURRENT_WRITES / ((performance.now() - started) / 1000));
}

/** Kills the leader, then writes to every live member in turn until one write succeeds. */
async function failover(system: System): Promise<number[]> {
  const times: number[] = [];
  for (let trial = 0; trial < FAILOVER_TRIALS; trial++) {
    const leader = await system.leader();
    await system.put(leader, 'before-failover');
    const started = performance.now();
    await system.kill(leader);
    for (let attempt = 0; ; attempt++) {
      const member = attempt % MEMBERS;
      if (!system.alive(member)) continue;
      try {
        await system.put(member, `after-failover-${trial}`, AbortSignal.timeout(ATTEMPT_TIMEOUT_MS));
        break;
      } catch {
        // Same pacing for both systems: a short pause after each round over the members.
        if (member === MEMBERS - 1) await pause(20);
      }
    }
    times.push(round(performance.now() - started));
    log(`${system.name}: failover trial ${trial + 1}: ${times.at(-1)} ms`);
    await system.restart(leader);
  }
  return times;
}

async function measure(system: System) {
  log(`${system.name}: sequential writes…`);
  const latency = await sequential(system);
  log(`${system.name}: ${CONCURRENT_WRITERS} concurrent writers…`);
  const throughput = await concurrent(system);
  const failovers = await failover(system);
  const sorted = [...failovers].sort((a, b) => a - b);
  return {
    commit_p50_ms: latency.p50,
    commit_p99_ms: latency.p99,
    writes_per_s_16_clients: throughput,
    failover_ms_median: sorted[Math.floor(sorted.length / 2)]!,
    failover_ms_trials: failovers,
  };
}

async function run<T extends System>(start: (dir: string) => Promise<T>) {
  const baseDir = await mkdtemp(join(tmpdir(), 'corral-bench-raft-'));
  const system = await start(baseDir);
  try {
    return await measure(system);
  } finally {
    await system.stop();
    await rm(baseDir, { recursive: true, force: true });
  }
}

ensureDebianPackage('etcd', 'etcd-server');
const etcdVersion = execFileSync('etcd', ['--version']).toString().split('\n')[0]?.trim();
const etcd = await run((dir) => Etcd.start(dir));
const corral = await run((dir) => Corral.start(dir));
console.log(
  JSON.stringify({
    etcd: { version: etcdVersion, ...etcd },
    corral,
    ratios: {
      failover: round(corral.failover_ms_median / etcd.failover_ms_median),
      throughput: round(corral.writes_per_s_16_clients / etcd.writes_per_s_16_clients),
      commit_p50: round(corral.commit_p50_ms / etcd.commit_p50_ms),
    },
  }),
);
