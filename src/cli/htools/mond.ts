import { readFileSync } from 'node:fs';
import { buildState, type DynUtil, type LoadOptions } from '../../alloc/state.js';
import type { ClusterSnapshot } from '../../alloc/types.js';
import type { ConfigView } from '../../cluster/views.js';
import type { HtoolsOptions } from './options.js';
import { exitErr, type ToolOutput } from './tool.js';

/**
 * htools' --mond: the CPU load each node's monitoring daemon measures (its cpu-avg-load collector, or with
 * --mond-xen the Xen one) spread over the node's instances by their vCPUs, as Ganeti's Backend/MonD.hs does.
 * The reports come from each node's mond (port 1815, as Ganeti's) or, with --mond-data, from a file of
 * `[{"node": name, "reports": [report, ...]}, ...]`. When a node does not answer, the collector's data is
 * ignored (or, with --exit-on-missing-mond-data, the tool stops).
 */
const MOND_PORT = 1815;
const QUERY_TIMEOUT_MS = 5_000;

interface Report {
  readonly name?: unknown;
  readonly data?: unknown;
}

function cpuTotal(report: Report | undefined): number | undefined {
  const data = report?.data as { cpu_total?: unknown } | undefined;
  return typeof data?.cpu_total === 'number' ? data.cpu_total : undefined;
}

function reportsFromFile(path: string): Map<string, Report[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    return exitErr(`Parsing MonD's answer: cannot read ${path}: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed)) return exitErr(`Parsing MonD's answer: ${path} is not a JSON list`);
  const byNode = new Map<string, Report[]>();
  for (const entry of parsed as { node?: unknown; reports?: unknown }[]) {
    if (typeof entry?.node !== 'string' || !Array.isArray(entry.reports))
      exitErr(`Parsing MonD's answer: each entry of ${path} needs "node" and "reports"`);
    byNode.set(entry.node as string, entry.reports as Report[]);
  }
  return byNode;
}

async function queryMonD(host: string, collector: string): Promise<Report | undefined> {
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${MOND_PORT}/1/report/default/${collector}`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(QUERY_TIMEOUT_MS) });
    return response.ok ? ((await response.json()) as Report) : undefined;
  } catch {
    return undefined;
  }
}

/** The instance loads with the measured CPU load in place, or the same loads when a node did not answer. */
export async function withMonDLoads(
  o: HtoolsOptions,
  snapshot: ClusterSnapshot,
  loadOptions: LoadOptions,
  config: ConfigView | undefined,
  io: ToolOutput,
): Promise<LoadOptions> {
  if (!o.monD || o.ignoreDynu) return loadOptions;
  const collector = o.monDXen ? 'xen-cpu-avg-load' : 'cpu-avg-load';
  const fromFile = o.monDFile === undefined ? undefined : reportsFromFile(o.monDFile);
  const address = new Map(config?.nodes.map((n) => [n.name as string, n.primaryIp]) ?? []);
  const totals = await Promise.all(
    snapshot.nodes.map(async (node) =>
      cpuTotal(
        fromFile === undefined
          ? await queryMonD(address.get(node.name) ?? node.name, collector)
          : fromFile.get(node.name)?.find((r) => r.name === collector),
      ),
    ),
  );
  if (totals.some((t) => t === undefined)) {
    io.err(`Warning: Didn't receive an answer by all MonDs, ${collector}'s data will be ignored.\n`);
    if (o.monDExitMissing) exitErr('Not all required data available');
    return loadOptions;
  }
  const state = buildState(snapshot, loadOptions);
  const loads = new Map<string, DynUtil>(loadOptions.instanceUtil ?? []);
  for (const inst of state.instances) {
    const node = state.nodes[inst.pNode];
    const total = totals[inst.pNode];
    if (node === undefined || total === undefined || node.uCpu === 0) continue;
    loads.set(inst.name, { ...inst.util, cpu: (total / node.uCpu) * inst.vcpus });
  }
  return { ...loadOptions, instanceUtil: loads };
}
