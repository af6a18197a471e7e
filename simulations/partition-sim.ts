import { seededRng } from '../src/common/random.js';
import { PartitionCluster, seconds } from './partition-cluster.js';
import type { PartitionMode } from './partition-net.js';
import { type Figures, runScenario, type ScenarioName } from './partition-scenarios.js';

export interface PartitionSimOptions {
  readonly scenario: ScenarioName;
  readonly nodes: number;
  readonly seed: number;
  /** Forces a way of partitioning; by default the namespace when root, the gater otherwise. */
  readonly mode?: PartitionMode;
  readonly out: (line: string) => void;
  readonly signal?: AbortSignal;
}

export interface PartitionSimResult {
  readonly scenario: ScenarioName;
  readonly seed: number;
  readonly nodes: number;
  readonly mode: PartitionMode;
  readonly figures: Figures;
  /** Wrong dead verdicts, missed detections, no convergence: must be empty. */
  readonly violations: readonly string[];
  /** The command that runs this again with the same choices. */
  readonly replay: string;
}

/**
 * One scenario on K real daemons: form the cluster, wait until all see all, run the scenario while every
 * node's view is sampled and judged, then take everything down (the namespace too, whatever happened).
 */
export async function runPartitionSimulation(options: PartitionSimOptions): Promise<PartitionSimResult> {
  const cluster = await PartitionCluster.start(options);
  const replay = `npm run sim -- partition ${options.scenario} --nodes ${options.nodes} --seed ${options.seed} --mode ${cluster.net.mode}`;
  options.out(
    `partition ${options.scenario}: ${options.nodes} daemons, seed ${options.seed}, ${cluster.net.mode} (${cluster.net.reason})`,
  );
  try {
    const formed = await cluster.converge(60_000);
    if (formed.settledMs === undefined) return result(cluster, options, replay, {});
    options.out(`t=${seconds(formed.settledMs)} all see all alive`);
    const figures = await runScenario(options.scenario, cluster, seededRng(options.seed));
    return result(cluster, options, replay, figures);
  } finally {
    await cluster.stop();
  }
}

function result(
  cluster: PartitionCluster,
  options: PartitionSimOptions,
  replay: string,
  figures: Figures,
): PartitionSimResult {
  return {
    scenario: options.scenario,
    seed: options.seed,
    nodes: options.nodes,
    mode: cluster.net.mode,
    figures,
    violations: cluster.violations.map((v) => `t=${seconds(v.atMs)} ${v.text}`),
    replay,
  };
}
