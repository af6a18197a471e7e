import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DaemonProcess } from '../src/daemon/local-cluster.js';
import { startLocalCluster } from '../src/daemon/local-cluster.js';
import type { HealthRow } from '../src/membership/health-view.js';
import { minSuspicionTimeoutMs } from '../src/membership/suspicion.js';
import { defaultSwimConfig } from '../src/membership/swim-config.js';
import { type DeadVerdict, type Link, LinkTimeline, range, wrongVerdict } from './partition-links.js';
import {
  type GatedNode,
  hostAddress,
  openPartitionNet,
  type PartitionMode,
  type PartitionNet,
} from './partition-net.js';

/** How often every node's view is sampled. */
const SAMPLE_INTERVAL_MS = 250;
/** A health call that takes longer than this counts as no view from that node this round. */
const VIEW_TIMEOUT_MS = 2_000;

/** What one node concluded about one other. */
export interface Seen {
  readonly state: HealthRow['state'];
  readonly incarnation: number;
  readonly stateAgeMs: number;
}

/** One node's view at one moment: by node index; absent when the node did not answer. */
export interface View {
  readonly observer: number;
  readonly atMs: number;
  readonly rows: ReadonlyMap<number, Seen>;
}

export interface Violation {
  readonly atMs: number;
  readonly text: string;
}

/**
 * K real daemons, formed into one cluster, whose links the scenario cuts; every node's health view is
 * sampled all along, and every new dead verdict is judged against the history of partitions.
 */
export class PartitionCluster {
  readonly timeline: LinkTimeline;
  readonly violations: Violation[] = [];
  /** Each verdict once, by observer and subject, the latest first seen. */
  readonly verdicts = new Map<string, DeadVerdict>();
  /** The least a suspicion lasts at this size: a dead verdict needs the subject unreachable before it. */
  readonly suspicionFloorMs: number;
  private readonly startedMs = performance.now();
  private latest: View[] = [];
  private waiters: { resolve: (views: View[]) => void; reject: (reason: unknown) => void }[] = [];
  private sampling: Promise<void> | undefined;
  private stopped = false;

  private constructor(
    readonly net: PartitionNet,
    readonly daemons: readonly DaemonProcess[],
    private readonly gated: readonly GatedNode[],
    private readonly baseDir: string,
    private readonly out: (line: string) => void,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.timeline = new LinkTimeline(daemons.length, this.nowMs());
    this.suspicionFloorMs = minSuspicionTimeoutMs(
      defaultSwimConfig.suspicionMult,
      daemons.length,
      defaultSwimConfig.probeIntervalMs,
    );
  }

  /** Starts the daemons inside the chosen net; on any failure everything made so far is removed. */
  static async start(options: {
    nodes: number;
    mode?: PartitionMode;
    out: (line: string) => void;
    /** Aborting it ends the scenario's waits, so that the caller's cleanup runs (Ctrl-C). */
    signal?: AbortSignal;
  }): Promise<PartitionCluster> {
    const net = await openPartitionNet(options.nodes, options.mode);
    const baseDir = await mkdtemp(join(tmpdir(), 'corral-partition-'));
    try {
      const daemons = await startLocalCluster({
        baseDir,
        nodes: options.nodes,
        listenOf: (i) => `/ip4/${hostAddress(i)}/tcp/7400`,
        logLevel: 'warn',
        enabledHypervisors: ['fake'],
        enabledDiskTemplates: ['diskless'],
        ...(net.launcher !== undefined && { launcher: net.launcher }),
      });
      const gated = await Promise.all(
        daemons.map(async (daemon) => {
          const { nodeId } = await daemon.status();
          return {
            id: nodeId,
            block: async (peers: readonly string[]) => {
              await daemon.call({ op: 'debug-partition', peers: [...peers] });
            },
          };
        }),
      );
      const cluster = new PartitionCluster(net, daemons, gated, baseDir, options.out, options.signal);
      cluster.sampling = cluster.sampleLoop();
      return cluster;
    } catch (error) {
      await net.close();
      await rm(baseDir, { recursive: true, force: true });
      throw error;
    }
  }

  get size(): number {
    return this.daemons.length;
  }

  /** Milliseconds since the cluster was formed. */
  nowMs(): number {
    return performance.now() - this.startedMs;
  }

  name(index: number): string {
    return `node${index + 1}`;
  }

  /** Puts exactly these links in place; returns when they are. */
  async cut(links: readonly Link[], label: string): Promise<number> {
    const startMs = this.nowMs();
    await this.net.apply(links, this.gated);
    const appliedMs = this.nowMs();
    this.timeline.record(startMs, appliedMs, links);
    this.out(`t=${seconds(appliedMs)} ${label}`);
    return appliedMs;
  }

  heal(): Promise<number> {
    return this.cut([], 'heal: every link open');
  }

  violation(text: string): void {
    this.violations.push({ atMs: this.nowMs(), text });
    this.out(`t=${seconds(this.nowMs())} VIOLATION: ${text}`);
  }

  /** The next full round of views. */
  nextViews(): Promise<View[]> {
    return new Promise((resolve, reject) => {
      if (this.signal?.aborted) reject(this.signal.reason);
      else this.waiters.push({ resolve, reject });
    });
  }

  /**
   * Waits for a round of views that satisfies the check, for at most timeoutMs; a miss is a violation
   * (the expectation failed), and undefined comes back.
   */
  async until(
    what: string,
    check: (views: View[]) => boolean,
    timeoutMs: number,
  ): Promise<number | undefined> {
    const deadlineMs = this.nowMs() + timeoutMs;
    for (;;) {
      const views = await this.nextViews();
      if (check(views)) return this.nowMs();
      if (this.nowMs() >= deadlineMs) {
        this.violation(`${what}: not within ${seconds(timeoutMs)}`);
        this.printViews('views when it gave up', views);
        return undefined;
      }
    }
  }

  /** Keeps the current links for durationMs while the views are sampled and judged. */
  async hold(durationMs: number): Promise<void> {
    const untilMs = this.nowMs() + durationMs;
    while (this.nowMs() < untilMs) await this.nextViews();
  }

  /**
   * Waits until every node sees every node alive at one incarnation, the same on all, unchanged for two
   * heartbeats; returns when all were alive and when that settled (undefined on a miss, a violation).
   */
  async converge(timeoutMs: number): Promise<{ aliveMs?: number; settledMs?: number }> {
    let aliveMs: number | undefined;
    let agreed: { key: string; sinceMs: number } | undefined;
    const settledMs = await this.until(
      'every node alive on every node, incarnations settled',
      (views) => {
        const allAlive =
          views.length === this.size &&
          views.every((view) => range(this.size).every((s) => view.rows.get(s)?.state === 'alive'));
        if (!allAlive) {
          agreed = undefined;
          return false;
        }
        aliveMs ??= this.nowMs();
        const keys = new Set(views.map((view) => incarnations(view, this.size)));
        const key = [...keys][0]!;
        if (keys.size !== 1 || agreed?.key !== key) {
          agreed = keys.size === 1 ? { key, sinceMs: this.nowMs() } : undefined;
          return false;
        }
        return this.nowMs() - agreed.sinceMs >= 2 * defaultSwimConfig.heartbeatIntervalMs;
      },
      timeoutMs,
    );
    return { ...(aliveMs !== undefined && { aliveMs }), ...(settledMs !== undefined && { settledMs }) };
  }

  /** When `observer` began to hold `subject` dead, if it does. */
  deadSince(observer: number, subject: number): number | undefined {
    return this.verdicts.get(`${observer}>${subject}`)?.deadSinceMs;
  }

  printViews(label: string, views: readonly View[] = this.latest): void {
    this.out(`  ${label} (t=${seconds(this.nowMs())}):`);
    for (const view of views) {
      const by = (state: Seen['state']) =>
        range(this.size)
          .filter((s) => view.rows.get(s)?.state === state)
          .map((s) => `${this.name(s)}#${view.rows.get(s)!.incarnation}`)
          .join(' ');
      this.out(
        `    ${this.name(view.observer).padEnd(7)} alive[${by('alive')}] suspect[${by('suspect')}] dead[${by('dead')}]`,
      );
    }
  }

  /** Stops sampling, kills every daemon, removes the namespace and the data; safe after any failure. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.sampling?.catch(() => undefined);
    await Promise.all(this.daemons.map((daemon) => daemon.stop('SIGKILL')));
    await this.net.close();
    await rm(this.baseDir, { recursive: true, force: true });
  }

  private async sampleLoop(): Promise<void> {
    while (!this.stopped) {
      const views = (await Promise.all(range(this.size).map((i) => this.view(i)))).filter(
        (view): view is View => view !== undefined,
      );
      for (const view of views) this.judge(view);
      this.latest = views;
      const waiters = this.waiters;
      this.waiters = [];
      for (const waiter of waiters)
        this.signal?.aborted ? waiter.reject(this.signal.reason) : waiter.resolve(views);
      // The sampling pace, not a synchronisation: every wait above is on the views themselves.
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_INTERVAL_MS));
    }
  }

  private async view(observer: number): Promise<View | undefined> {
    const daemon = this.daemons[observer]!;
    const atMs = this.nowMs();
    const answer = await Promise.race([
      daemon.call({ op: 'health' }).catch(() => undefined),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), VIEW_TIMEOUT_MS)),
    ]);
    if (answer === undefined) return undefined;
    const rows = new Map<number, Seen>();
    for (const row of answer.rows) {
      const index = Number(row.node.replace(/^node/, '')) - 1;
      if (Number.isInteger(index) && index >= 0 && index < this.size)
        rows.set(index, { state: row.state, incarnation: row.incarnation, stateAgeMs: row.stateAgeMs });
    }
    return { observer, atMs, rows };
  }

  /** Judges each dead verdict once, when first seen. */
  private judge(view: View): void {
    for (const [subject, seen] of view.rows) {
      if (seen.state !== 'dead') continue;
      const key = `${view.observer}>${subject}`;
      const deadSinceMs = view.atMs - seen.stateAgeMs;
      const known = this.verdicts.get(key);
      // The same verdict seen again (the sampled age drifts by the call's latency).
      if (known !== undefined && Math.abs(known.deadSinceMs - deadSinceMs) < 1_000) continue;
      const verdict = { observer: view.observer, subject, deadSinceMs };
      this.verdicts.set(key, verdict);
      if (wrongVerdict(this.timeline, verdict, this.suspicionFloorMs))
        this.violation(
          `${this.name(view.observer)} declared ${this.name(subject)} dead at t=${seconds(deadSinceMs)} though it could reach it for the ${seconds(this.suspicionFloorMs)} before`,
        );
    }
  }
}

function incarnations(view: View, size: number): string {
  return range(size)
    .map((s) => view.rows.get(s)?.incarnation ?? -1)
    .join(',');
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
