/**
 * bench:membership — Corral's gossip membership against serf (Debian's package: hashicorp memberlist), N
 * members each on loopback (N = 20; `--nodes 50` for more), one system after the other in the same run, both
 * with their LAN defaults (probe 1 s, suspicion multiplier 4):
 * - join: from the first join request until every member has heard first-hand from every other;
 * - detection: kill -9 one member, until every survivor reports it failed/dead (3 trials, median);
 * - delivery: a user event from one member, until the last other member has it (5 events, median);
 * - false positives: failed/dead reports of live members while busy loops hog both cores for 20 s (and 10 s
 *   after);
 * - form: from the start of the first member's process until every member has heard from every other;
 * - idle: once formed, each member's resident memory (mean, MiB) and its CPU over 10 s of nothing to do (mean %
 *   of a core); Corral's fence watchdog (a child process of each daemon) is reported apart.
 * The last line printed is one JSON object with both systems' figures and the Corral/serf ratios.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { waitFor } from '../src/common/wait.js';
import { allSeeAll, DaemonProcess, formLocalCluster, spawnLocalNodes } from '../src/daemon/local-cluster.js';
import { ensureDebianPackage } from './debian.js';

const nodesAt = process.argv.indexOf('--nodes');
const N = nodesAt < 0 ? 20 : Number(process.argv[nodesAt + 1]);
const DETECTION_TRIALS = 3;
const EVENTS = 5;
const HOG_MS = 20_000;
/** Reports of a live member as dead are still counted this long after the hog stops. */
const AFTER_HOG_MS = 10_000;
const SERF_HOST = '127.0.0.253';
const CORRAL_HOST = '127.0.0.252';

const log = (line: string) => process.stderr.write(`${line}\n`);
const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const round = (value: number) => Math.round(value * 100) / 100;
/** Wall-clock ms with sub-ms resolution, comparable with the daemons' own timestamps. */
const wallMs = () => performance.timeOrigin + performance.now();

/** What the benchmark does to a membership system; times are wall-clock ms. */
interface System {
  /**
   * Joins every member through the first: ms until all have heard from all, from the join request and from the
   * start of the first member's process.
   */
  join(): Promise<{ joinMs: number; formMs: number }>;
  /** The members' processes, and their helper processes (Corral's fence watchdogs). */
  processes(): { members: number[]; helpers: number[] };
  /** Kills a member with SIGKILL; resolves to ms until every survivor reports it failed or dead. */
  detect(victim: number): Promise<number>;
  /** Brings a killed member back and waits until all see all again. */
  restart(victim: number): Promise<void>;
  /** Sends one user event from member 0; resolves to ms until every other member has it. */
  deliver(name: string): Promise<number>;
  /** Failed or dead reports about members that were alive, between the two times. */
  falseReports(fromMs: number, toMs: number): Promise<number>;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------- serf

interface SerfAgent {
  child: ChildProcess;
  /** What this agent believes of each member, by name, from its log. */
  readonly alive: Set<string>;
  readonly failedAt: { name: string; atMs: number }[];
  readonly eventsAt: Map<string, number>;
  /** When its log first showed all N members. */
  allSeenAtMs?: number;
}

class Serf implements System {
  private readonly agents: SerfAgent[] = [];
  private readonly startedMs = wallMs();

  static async start(): Promise<Serf> {
    const serf = new Serf();
    for (let i = 0; i < N; i++) serf.agents.push(serf.spawnAgent(i, false));
    await waitFor(() => (serf.agents.every((a) => a.alive.size === 1) ? true : undefined), {
      timeoutMs: 30_000,
      what: 'every serf agent to start',
    });
    return serf;
  }

  private bind = (i: number) => `${SERF_HOST}:${7946 + i}`;
  private rpc = (i: number) => `${SERF_HOST}:${17373 + i}`;

  private spawnAgent(i: number, join: boolean): SerfAgent {
    const args = [
      'agent',
      `-node=s${i}`,
      `-bind=${this.bind(i)}`,
      `-rpc-addr=${this.rpc(i)}`,
      '-log-level=info',
    ];
    const child = spawn('serf', join ? [...args, `-join=${this.bind(0)}`] : args, {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const agent: SerfAgent = { child, alive: new Set(), failedAt: [], eventsAt: new Map() };
    // Serf logs each membership event and user event as it handles it; the line's arrival is its time.
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const atMs = wallMs();
      const member = /serf: EventMember(Join|Failed|Leave|Reap): (\S+)/.exec(line);
      if (member?.[1] === 'Join') {
        agent.alive.add(member[2]!);
        if (agent.alive.size === N) agent.allSeenAtMs ??= atMs;
      } else if (member !== null) {
        agent.alive.delete(member[2]!);
        if (member[1] === 'Failed') agent.failedAt.push({ name: member[2]!, atMs });
      }
      const event = /Received event: user-event: (\S+)/.exec(line);
      if (event !== null && !agent.eventsAt.has(event[1]!)) agent.eventsAt.set(event[1]!, atMs);
    });
    return agent;
  }

  private allSeeAll(): true | undefined {
    return this.agents.every((a) => a.alive.size === N) ? true : undefined;
  }

  async join(): Promise<{ joinMs: number; formMs: number }> {
    const startMs = wallMs();
    await Promise.all(
      this.agents.slice(1).map((_, i) => run('serf', ['join', `-rpc-addr=${this.rpc(i + 1)}`, this.bind(0)])),
    );
    await waitFor(() => this.allSeeAll(), { timeoutMs: 60_000, intervalMs: 10, what: 'serf: all see all' });
    // When the last agent logged its last join, not when the poll noticed.
    const allSeenMs = Math.max(...this.agents.map((a) => a.allSeenAtMs!));
    return { joinMs: allSeenMs - startMs, formMs: allSeenMs - this.startedMs };
  }

  processes() {
    return { members: this.agents.map((a) => a.child.pid!), helpers: [] };
  }

  async detect(victim: number): Promise<number> {
    const name = `s${victim}`;
    const killedMs = wallMs();
    await stopChild(this.agents[victim]!.child);
    const survivors = this.agents.filter((_, i) => i !== victim);
    const seen = await waitFor(
      () => {
        const times = survivors.map(
          (a) => a.failedAt.find((f) => f.name === name && f.atMs > killedMs)?.atMs,
        );
        return times.every((t) => t !== undefined) ? (times as number[]) : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 20, what: `serf: every survivor to report ${name} failed` },
    );
    return Math.max(...seen) - killedMs;
  }

  async restart(victim: number): Promise<void> {
    this.agents[victim] = this.spawnAgent(victim, true);
    await waitFor(() => this.allSeeAll(), { timeoutMs: 60_000, what: 'serf: all see all after a restart' });
  }

  async deliver(name: string): Promise<number> {
    await run('serf', ['event', `-rpc-addr=${this.rpc(0)}`, name, 'payload']);
    // The sender handles its own event first, as it sends it: that is the start.
    const times = await waitFor(
      () => {
        const all = this.agents.map((a) => a.eventsAt.get(name));
        return all.every((t) => t !== undefined) ? (all as number[]) : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 10, what: `serf: every agent to receive ${name}` },
    );
    return Math.max(...times.slice(1)) - times[0]!;
  }

  async falseReports(fromMs: number, toMs: number): Promise<number> {
    return this.agents.reduce(
      (sum, agent) => sum + agent.failedAt.filter((f) => f.atMs >= fromMs && f.atMs <= toMs).length,
      0,
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.agents.map((a) => stopChild(a.child)));
  }
}

// ---------------------------------------------------------------- Corral

class Corral implements System {
  private constructor(
    private readonly daemons: DaemonProcess[],
    private readonly baseDir: string,
    private readonly startedMs: number,
  ) {}

  static async start(): Promise<Corral> {
    const startedMs = wallMs();
    const baseDir = await mkdtemp(join(tmpdir(), 'corral-bench-membership-'));
    const daemons = await spawnLocalNodes({
      baseDir,
      nodes: N,
      listenOf: (i) => `/ip4/${CORRAL_HOST}/tcp/${7500 + i}`,
      logLevel: 'info',
      // Twenty daemons share one address here, so only their libp2p ports differ: no RAPI or monitoring port.
      daemonFlags: ['--no-rapi', '--no-mond'],
    });
    return new Corral(daemons, baseDir, startedMs);
  }

  async join(): Promise<{ joinMs: number; formMs: number }> {
    const startMs = wallMs();
    await formLocalCluster(this.daemons, {
      enabledHypervisors: ['fake'],
      enabledDiskTemplates: ['diskless'],
    });
    await waitFor(async () => ((await allSeeAll(this.daemons)) ? true : undefined), {
      timeoutMs: 120_000,
      intervalMs: 100,
      what: 'corral: all see all',
    });
    const allSeenMs = wallMs();
    return { joinMs: allSeenMs - startMs, formMs: allSeenMs - this.startedMs };
  }

  processes() {
    const members = this.daemons.map((d) => d.child.pid!);
    return { members, helpers: members.flatMap(childProcesses) };
  }

  async detect(victim: number): Promise<number> {
    const name = `node${victim + 1}`;
    const killedMs = wallMs();
    await this.daemons[victim]!.stop('SIGKILL');
    const survivors = this.daemons.filter((_, i) => i !== victim);
    const deadSince = await waitFor(
      async () => {
        const rows = await Promise.all(
          survivors.map(async (d) => {
            const askedMs = wallMs();
            const row = (await d.call({ op: 'health', node: name })).rows[0]!;
            return row.state === 'dead' ? askedMs - row.stateAgeMs : undefined;
          }),
        );
        return rows.every((t) => t !== undefined) ? (rows as number[]) : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 100, what: `corral: every survivor to hold ${name} dead` },
    );
    return Math.max(...deadSince) - killedMs;
  }

  async restart(victim: number): Promise<void> {
    this.daemons[victim] = await DaemonProcess.spawn(this.daemons[victim]!.options);
    await waitFor(async () => ((await allSeeAll(this.daemons)) ? true : undefined), {
      timeoutMs: 60_000,
      what: 'corral: all see all after a restart',
    });
  }

  async deliver(name: string): Promise<number> {
    const { sentAtMs } = await this.daemons[0]!.call({ op: 'event', name, payload: 'payload' });
    const times = await waitFor(
      async () => {
        const got = await Promise.all(
          this.daemons
            .slice(1)
            .map(async (d) => (await d.call({ op: 'events', name })).events[0]?.receivedAtMs),
        );
        return got.every((t) => t !== undefined) ? (got as number[]) : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 20, what: `corral: every node to receive ${name}` },
    );
    return Math.max(...times) - sentAtMs;
  }

  /** Counted from the daemons' own logs: every change of a member to dead, with its time. */
  async falseReports(fromMs: number, toMs: number): Promise<number> {
    let count = 0;
    for (const daemon of this.daemons) {
      const text = await readFile(daemon.logPath, 'utf8');
      for (const line of text.split('\n')) {
        if (!line.includes('member state changed')) continue;
        const entry = JSON.parse(line) as { time: number; state: string };
        if (entry.state === 'dead' && entry.time >= fromMs && entry.time <= toMs) count++;
      }
    }
    return count;
  }

  async stop(): Promise<void> {
    await Promise.all(this.daemons.map((d) => d.stop('SIGKILL')));
    await rm(this.baseDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- the work, the same for both

async function measure(label: string, system: System) {
  log(`${label}: joining ${N} members…`);
  const { joinMs, formMs } = await system.join();
  const idle = await idleFigures(system.processes());
  log(
    `${label}: formed in ${Math.round(formMs)} ms; idle: ${idle.idle_rss_mib} MiB and ${idle.idle_cpu_pct}% of a core per member`,
  );
  const detections: number[] = [];
  for (let trial = 0; trial < DETECTION_TRIALS; trial++) {
    const victim = N - 1 - trial;
    detections.push(await system.detect(victim));
    log(`${label}: detection trial ${trial + 1}: ${Math.round(detections.at(-1)!)} ms`);
    await system.restart(victim);
  }
  const deliveries: number[] = [];
  for (let i = 0; i < EVENTS; i++) deliveries.push(await system.deliver(`bench-${label}-${i}`));
  log(
    `${label}: deliveries ${deliveries.map(Math.round).join(' ')} ms; hogging both cores for ${HOG_MS / 1000} s…`,
  );
  const hogFromMs = wallMs();
  await hogCpus(HOG_MS);
  await new Promise((resolve) => setTimeout(resolve, AFTER_HOG_MS));
  const falsePositives = await system.falseReports(hogFromMs, wallMs());
  return {
    form_s: round(formMs / 1000),
    ...idle,
    join_ms: round(joinMs),
    detection_ms_median: round(median(detections)),
    detection_ms: detections.map(round),
    delivery_ms_median: round(median(deliveries)),
    delivery_ms: deliveries.map(round),
    false_positives: falsePositives,
  };
}

/** One busy loop per core, in child processes, for the given time. */
async function hogCpus(durationMs: number): Promise<void> {
  const hogs = [0, 1].map(() =>
    spawn(process.execPath, ['-e', `const end = Date.now() + ${durationMs}; while (Date.now() < end);`], {
      stdio: 'ignore',
    }),
  );
  await Promise.all(hogs.map((hog) => new Promise((resolve) => hog.once('exit', resolve))));
}

function run(command: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')}: exit ${code}`)),
    );
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** How long the members are watched doing nothing, once formed. */
const IDLE_MS = 10_000;
const CLOCK_TICKS_PER_S = 100;

/** A process's CPU time so far (user and system, in clock ticks) and resident memory (KiB), from /proc. */
function procFigures(pid: number): { ticks: number; rssKiB: number } {
  // The command name may hold spaces: the fields are counted after its closing parenthesis.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return { ticks: Number(fields[11]) + Number(fields[12]), rssKiB: Number(rss ?? Number.NaN) };
}

function childProcesses(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** The members' mean resident memory and CPU over IDLE_MS of doing nothing; their helpers' memory apart. */
async function idleFigures(processes: { members: number[]; helpers: number[] }) {
  const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  const before = processes.members.map(procFigures);
  await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
  const after = processes.members.map(procFigures);
  const cpuPct = after.map(
    (a, i) => ((a.ticks - before[i]!.ticks) / CLOCK_TICKS_PER_S / (IDLE_MS / 1000)) * 100,
  );
  return {
    idle_rss_mib: round(mean(after.map((a) => a.rssKiB / 1024))),
    idle_cpu_pct: round(mean(cpuPct)),
    ...(processes.helpers.length > 0 && {
      idle_helper_rss_mib: round(mean(processes.helpers.map((pid) => procFigures(pid).rssKiB / 1024))),
    }),
  };
}

async function withSystem<T extends System>(start: () => Promise<T>, label: string) {
  const system = await start();
  try {
    return await measure(label, system);
  } finally {
    await system.stop();
  }
}

ensureDebianPackage('serf', 'serf');
const serfVersion = execFileSync('serf', ['version']).toString().split('\n')[0]?.trim();
const serf = await withSystem(() => Serf.start(), 'serf');
const corral = await withSystem(() => Corral.start(), 'corral');
console.log(
  JSON.stringify({
    serf: { version: serfVersion, nodes: N, ...serf },
    corral: { nodes: N, ...corral },
    ratios: {
      join: round(corral.join_ms / serf.join_ms),
      detection: round(corral.detection_ms_median / serf.detection_ms_median),
      delivery: round(corral.delivery_ms_median / serf.delivery_ms_median),
      form: round(corral.form_s / serf.form_s),
      idle_rss: round(corral.idle_rss_mib / serf.idle_rss_mib),
    },
  }),
);
