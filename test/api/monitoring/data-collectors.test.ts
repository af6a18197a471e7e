import { describe, expect, it } from 'vitest';
import type { CollectorSettings } from '../../../src/cluster/data-collectors.js';
import { changedCollectors } from '../../../src/cluster/data-collectors.js';
import { silentLogger } from '../../../src/common/log.js';
import { SimClock } from '../../../src/common/sim-clock.js';
import { createMonitor } from '../../../src/membership/monitor.js';

/**
 * Ganeti's --enabled-data-collectors and --data-collector-interval as each node's monitor applies them: a
 * disabled collector is neither run nor reported, and one with a longer interval keeps its last report until
 * it is due again.
 */

const status = {
  instances: [],
  mirrors: [],
  memoryTotalMiB: 1024,
  memoryFreeMiB: 512,
  memoryInstancesMiB: 0,
  cpus: 2,
  storage: [],
};

/** Lets the monitor's sample (a few awaits on resolved promises) run to its end. */
async function drain(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** diskstats off throughout: it reads a file, which the simulated clock cannot wait for. */
const noDiskstats = changedCollectors(undefined, { diskstats: false }, undefined);

function monitorWith(settings: () => CollectorSettings | undefined) {
  const clock = new SimClock();
  const monitor = createMonitor(
    {},
    {
      clock,
      log: silentLogger,
      agentStatus: async () => status,
      configuredHere: () => [],
      health: () => undefined,
      collectors: settings,
    },
  );
  const tick = async (ms: number) => {
    clock.advanceBy(ms);
    await drain();
  };
  return { monitor, tick };
}

const names = (reports: readonly { name: string }[]) => reports.map((report) => report.name);

describe("the cluster's data collector settings on a node's monitor", () => {
  it('runs every collector by default, and drops one once disabled', async () => {
    let settings: CollectorSettings = noDiskstats;
    const { monitor, tick } = monitorWith(() => settings);
    await tick(0);
    expect(names(monitor.reports())).toEqual(['cpu-avg-load', 'inst-status', 'node-memory']);
    settings = changedCollectors(settings, { 'node-memory': false }, undefined);
    await tick(5_000);
    expect(names(monitor.reports())).toEqual(['cpu-avg-load', 'inst-status']);
    expect(monitor.summary().map((s) => s.name)).not.toContain('node-memory');
    monitor.stop();
  });

  it('runs a collector only as often as its interval says', async () => {
    const settings = changedCollectors(noDiskstats, undefined, { 'inst-status': 20 });
    expect(settings).toEqual({ diskstats: { active: false }, 'inst-status': { intervalMs: 20_000 } });
    const { monitor, tick } = monitorWith(() => settings);
    const stamp = (name: string) => monitor.reports().find((report) => report.name === name)?.timestamp;
    await tick(0);
    const first = { inst: stamp('inst-status'), memory: stamp('node-memory') };
    await tick(5_000);
    expect(stamp('inst-status')).toBe(first.inst);
    expect(stamp('node-memory')).not.toBe(first.memory);
    // The monitor ticks every 5 s: at 10 and 15 s it is not due yet, at 20 s it is.
    await tick(5_000);
    await tick(5_000);
    expect(stamp('inst-status')).toBe(first.inst);
    await tick(5_000);
    expect(stamp('inst-status')).not.toBe(first.inst);
    monitor.stop();
  });
});
