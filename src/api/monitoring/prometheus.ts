import { Gauge, Histogram, Registry } from 'prom-client';
import { CorralError } from '../../common/errors.js';
import type { DaemonCall } from '../../daemon/job-client.js';
import {
  type GaugeKey,
  gaugeSpecs,
  newOpDurations,
  opDurationSpec,
  type ScrapeAnswers,
  scrapeFigures,
} from './metrics.js';

/**
 * Asks the local daemon what one scrape shows: raft-status, health, jobs and config (both from the local
 * replica, consistent: false) and monitor-reports (this node's). None of them asks another node. raft-status's
 * `unavailable` (no cluster yet) is not a failure.
 */
export async function scrapeAnswers(call: DaemonCall): Promise<ScrapeAnswers> {
  const [raft, health, jobs, config, reports] = await Promise.all([
    call({ op: 'raft-status' }).catch((error: unknown) => {
      if (error instanceof CorralError && error.code === 'unavailable') return undefined;
      throw error;
    }),
    call({ op: 'health' }),
    call({ op: 'jobs', consistent: false }),
    call({ op: 'config', consistent: false }),
    call({ op: 'monitor-reports' }),
  ]);
  return { raft, health, jobs, config, reports };
}

export interface CorralMetrics {
  /** This server's own registry (never prom-client's global one). */
  readonly registry: Registry;
  /** The Content-Type of what scrape returns (Prometheus text format 0.0.4). */
  readonly contentType: string;
  /**
   * Asks the daemon, sets every metric and renders them in the text format. Scrapes that arrive while one
   * runs share its answer, so a burst costs one round of control calls and no two scrapes interleave.
   */
  scrape(): Promise<string>;
}

export function createCorralMetrics(call: DaemonCall): CorralMetrics {
  const registry = new Registry();
  const gauges = Object.fromEntries(
    Object.entries(gaugeSpecs).map(([key, spec]) => [
      key,
      new Gauge({ name: spec.name, help: spec.help, labelNames: spec.labelNames, registers: [registry] }),
    ]),
  ) as Record<GaugeKey, Gauge>;
  const opDurations = new Histogram({
    name: opDurationSpec.name,
    help: opDurationSpec.help,
    labelNames: opDurationSpec.labelNames,
    buckets: [...opDurationSpec.buckets],
    registers: [registry],
  });
  let seenOps = new Map<number, number>();
  let running: Promise<string> | undefined;

  async function scrapeOnce(): Promise<string> {
    const { gauges: values, jobs } = scrapeFigures(await scrapeAnswers(call));
    for (const key of Object.keys(gaugeSpecs) as GaugeKey[]) {
      const gauge = gauges[key];
      gauge.reset();
      for (const sample of values[key]) gauge.set(sample.labels, sample.value);
    }
    const counted = newOpDurations(jobs, seenOps);
    for (const op of counted.durations) opDurations.observe({ opcode: op.opcode }, op.seconds);
    seenOps = counted.seen;
    return registry.metrics();
  }

  return {
    registry,
    contentType: registry.contentType,
    scrape() {
      running ??= scrapeOnce().finally(() => {
        running = undefined;
      });
      return running;
    },
  };
}
