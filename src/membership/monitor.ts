import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import type { AgentResponse } from '../cluster/agent-protocols.js';
import {
  type CollectorSettings,
  collectorSetting,
  type DataCollectorName,
  dataCollectorNames,
} from '../cluster/data-collectors.js';
import type { Clock, Timer } from '../common/clock.js';
import type { Logger } from '../common/log.js';
import type { HealthRecord } from './health.js';
import { sumCpuTimes } from './health.js';
import {
  type ConfiguredInstance,
  type CpuSample,
  cpuAvgLoadReport,
  diskstatsReport,
  instanceStatusReport,
  type MonitorReport,
  nodeMemoryReport,
  type ReportSummary,
  storageDirsReport,
  summarize,
} from './monitor-reports.js';

export interface MonitorInit {
  /** Ganeti's collector thread refreshes at least every 5 s. */
  readonly intervalMs?: number;
  /** Samples in the CPU load window: 12 at 5 s is Ganeti's minute. */
  readonly cpuWindowSamples?: number;
  readonly diskstatsPath?: string;
}

export interface MonitorComponents {
  readonly clock: Clock;
  readonly log: Logger;
  /** The node agent's live view: instances the hypervisors run and the node's memory. */
  readonly agentStatus: (signal: AbortSignal) => Promise<AgentResponse<'status'>>;
  /** Instances the configuration places on this node. */
  readonly configuredHere: () => readonly ConfiguredInstance[];
  /** This node's latest health record, for the storage dirs' free space. */
  readonly health: () => HealthRecord | undefined;
  /** The cluster's data collector settings (gnt-cluster modify --enabled-data-collectors, --data-collector-interval). */
  readonly collectors?: () => CollectorSettings | undefined;
}

export interface Monitor {
  /** The full report of each collector from the last sample. */
  reports(): readonly MonitorReport[];
  /** What the node gossips of them. */
  summary(): ReportSummary[];
  /** Instances running here (paused ones hold their memory too) and the memory they hold. */
  instances(): { readonly running: number; readonly memoryBytes: number };
  stop(): void;
}

const MIB = 1024 * 1024;

/**
 * Samples the node on a timer and keeps the latest full report of each collector, as ganeti-mond does; only
 * the status codes leave the node, on the health record.
 */
export function createMonitor(init: MonitorInit, components: MonitorComponents): Monitor {
  const { clock, log } = components;
  const intervalMs = init.intervalMs ?? 5_000;
  const windowSamples = Math.max(2, init.cpuWindowSamples ?? 12);
  const cpuWindow: CpuSample[] = [];
  let latest: readonly MonitorReport[] = [];
  let instances = { running: 0, memoryBytes: 0 };
  let timer: Timer | undefined;
  let stopped = false;

  /** Each collector's last report and when it ran (the monotonic clock), kept until it is due again. */
  const kept = new Map<DataCollectorName, { readonly report: MonitorReport; readonly atMs: number }>();

  async function sample(): Promise<void> {
    const wallMs = clock.wallMs();
    const nowMs = clock.monotonicMs();
    const settings = components.collectors?.();
    // A collector runs when active and due; a tick's jitter does not make it wait a whole tick more.
    const dueNames = new Set(
      dataCollectorNames.filter((name) => {
        const { active, intervalMs: every } = collectorSetting(settings, name);
        const last = kept.get(name)?.atMs;
        return active && (last === undefined || nowMs - last + intervalMs / 2 >= every);
      }),
    );
    const due = (name: DataCollectorName) => dueNames.has(name);
    const fresh: MonitorReport[] = [];
    // The CPU window is sampled every tick, whatever the report's interval: it is a window in time.
    cpuWindow.push(cpus().map((cpu) => sumCpuTimes([cpu])));
    if (cpuWindow.length > windowSamples) cpuWindow.shift();
    if (due('cpu-avg-load')) fresh.push(cpuAvgLoadReport(cpuWindow, wallMs));
    try {
      // Asked every tick: the health record's instance figures come from it.
      const status = await components.agentStatus(AbortSignal.timeout(intervalMs));
      const holding = status.instances.filter((i) => i.state === 'running' || i.state === 'paused');
      instances = {
        running: holding.length,
        memoryBytes: holding.reduce((sum, i) => sum + i.memoryMiB * MIB, 0),
      };
      if (due('inst-status'))
        fresh.push(instanceStatusReport(components.configuredHere(), status.instances, wallMs));
      if (due('node-memory')) fresh.push(nodeMemoryReport(status, wallMs));
    } catch (error) {
      log.debug({ reason: (error as Error).message }, 'monitor: the node agent did not answer');
    }
    const storage = components.health()?.storage;
    if (storage !== undefined && due('storage-dirs')) fresh.push(storageDirsReport(storage, wallMs));
    if (due('diskstats')) {
      const diskstats = await readFile(init.diskstatsPath ?? '/proc/diskstats', 'utf8').catch(
        () => undefined,
      );
      if (diskstats !== undefined) fresh.push(diskstatsReport(diskstats, wallMs));
    }
    // A collector that was due and made nothing (the agent did not answer), or is disabled, has no report.
    for (const name of kept.keys())
      if (dueNames.has(name) || !collectorSetting(settings, name).active) kept.delete(name);
    for (const report of fresh) kept.set(report.name as DataCollectorName, { report, atMs: nowMs });
    latest = dataCollectorNames.flatMap((name) => {
      const entry = kept.get(name);
      return entry === undefined ? [] : [entry.report];
    });
  }

  function schedule(delayMs: number): void {
    if (stopped) return;
    timer = clock.setTimer(delayMs, () => {
      void sample()
        .catch((error: unknown) => log.warn({ reason: (error as Error).message }, 'monitor sample failed'))
        .finally(() => schedule(intervalMs));
    });
  }
  schedule(0);

  return {
    reports: () => latest,
    summary: () => summarize(latest),
    instances: () => instances,
    stop() {
      stopped = true;
      timer?.cancel();
    },
  };
}
