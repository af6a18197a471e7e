import { z } from 'zod';

/**
 * Ganeti's data collectors (gnt-cluster modify --enabled-data-collectors, --data-collector-interval): which
 * of the monitor's collectors run on every node, and how often. All run every 5 s unless the cluster says
 * otherwise. Pure: the configuration keeps the settings, each node's monitor reads them.
 */

/** The monitor's collectors (src/membership/monitor-reports.ts), by their report names. */
export const dataCollectorNames = [
  'cpu-avg-load',
  'inst-status',
  'node-memory',
  'storage-dirs',
  'diskstats',
] as const;
export type DataCollectorName = (typeof dataCollectorNames)[number];

/** Ganeti mond's default collection interval. */
export const DEFAULT_COLLECTOR_INTERVAL_MS = 5_000;

export const collectorSettingSchema = z
  .object({
    active: z.boolean().optional(),
    intervalMs: z.number().int().min(DEFAULT_COLLECTOR_INTERVAL_MS).max(86_400_000).optional(),
  })
  .strict();
export type CollectorSetting = z.infer<typeof collectorSettingSchema>;
export type CollectorSettings = Readonly<Partial<Record<DataCollectorName, CollectorSetting>>>;

/** The settings after Ganeti's changes: each collector's flag and interval (seconds) replace what it had. */
export function changedCollectors(
  current: CollectorSettings | undefined,
  enabled: Readonly<Partial<Record<DataCollectorName, boolean>>> | undefined,
  intervalS: Readonly<Partial<Record<DataCollectorName, number>>> | undefined,
): CollectorSettings {
  const out: Partial<Record<DataCollectorName, CollectorSetting>> = { ...current };
  for (const [name, active] of Object.entries(enabled ?? {}) as [DataCollectorName, boolean][])
    out[name] = { ...out[name], active };
  for (const [name, seconds] of Object.entries(intervalS ?? {}) as [DataCollectorName, number][])
    out[name] = { ...out[name], intervalMs: Math.round(seconds * 1000) };
  return out;
}

/** Whether a collector runs, and every how many milliseconds. */
export function collectorSetting(
  settings: CollectorSettings | undefined,
  name: DataCollectorName,
): { readonly active: boolean; readonly intervalMs: number } {
  const setting = settings?.[name];
  return {
    active: setting?.active ?? true,
    intervalMs: setting?.intervalMs ?? DEFAULT_COLLECTOR_INTERVAL_MS,
  };
}
