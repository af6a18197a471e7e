import { runHaSimulation } from './ha-sim.js';
import { runMasterSimulation } from './master-sim.js';
import { runMembershipSimulation } from './membership-sim.js';
import type { PartitionMode } from './partition-net.js';
import { type ScenarioName, scenarioNames } from './partition-scenarios.js';
import { runPartitionSimulation } from './partition-sim.js';
import { runRaftSimulation } from './raft-sim.js';

/**
 * `npm run sim -- raft --seeds N [--nodes K] [--seed S]`: runs N seeds from S (or one seed S), prints each
 * violation with the command that replays it, and ends with `seeds: N, violations: V`.
 */
async function main(argv: readonly string[]): Promise<number> {
  const [simulation, ...rest] = argv;
  if (simulation === 'membership') return membership(rest);
  if (simulation === 'partition') return partition(rest);
  if (simulation === 'master') return master(rest);
  if (simulation === 'ha') return ha(rest);
  if (simulation !== 'raft') {
    process.stderr.write(
      `usage: npm run sim -- raft --seeds N [--nodes K] [--seed S]\n       npm run sim -- membership [--nodes N] [--seed S]\n       ${partitionUsage}\n       ${masterUsage}\n       ${haUsage}\n`,
    );
    return 2;
  }
  const flags = parseFlags(rest);
  if (flags === undefined) {
    process.stderr.write(
      'usage: npm run sim -- raft --seeds N [--nodes K] [--seed S] (flags take positive integers)\n',
    );
    return 2;
  }
  const nodes = flags.get('nodes') ?? 5;
  const first = flags.get('seed') ?? Date.now() % 1_000_000;
  const seeds = flags.get('seeds') ?? 1;
  let violations = 0;
  const started = performance.now();
  for (let i = 0; i < seeds; i++) {
    const seed = first + i;
    const result = runRaftSimulation({ seed, nodes });
    if (result.violations.length > 0) {
      violations++;
      process.stdout.write(`seed ${seed}: ${result.violations.length} violation(s) [${result.faults}]\n`);
      for (const violation of result.violations) process.stdout.write(`  ${violation}\n`);
      process.stdout.write(`  replay: npm run sim -- raft --seed ${seed} --nodes ${nodes}\n`);
    } else if (seeds === 1) {
      const ops = result.operations;
      process.stdout.write(
        `seed ${seed}: ok [${result.faults}] ops ${ops.total} (${ops.unknown} unknown), crashes ${result.crashes}, snapshots restored ${result.snapshotsRestored}, max term ${result.maxTerm}, history ${result.linearizability}\n`,
      );
    }
  }
  const perSeedMs = (performance.now() - started) / Math.max(1, seeds);
  process.stdout.write(`(${perSeedMs.toFixed(0)} ms per seed, first seed ${first})\n`);
  process.stdout.write(`seeds: ${seeds}, violations: ${violations}\n`);
  return violations === 0 ? 0 : 1;
}

/**
 * `npm run sim -- membership [--nodes N] [--seed S]`: the gossip service on N simulated nodes (200 by
 * default); prints one JSON line with the detection time of a killed node and the traffic per node.
 */
async function membership(args: readonly string[]): Promise<number> {
  const flags = parseFlags(args);
  if (flags === undefined) {
    process.stderr.write(
      'usage: npm run sim -- membership [--nodes N] [--seed S] (flags take positive integers)\n',
    );
    return 2;
  }
  const result = await runMembershipSimulation({
    nodes: flags.get('nodes') ?? 200,
    seed: flags.get('seed') ?? Date.now() % 1_000_000,
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return result.converged && result.falseDead === 0 && result.undetectedBy === 0 ? 0 : 1;
}

const masterUsage = 'npm run sim -- master [--seeds N] [--seed S] [--nodes K] [--steps M]';

/**
 * `npm run sim -- master`: the master's operations on K simulated nodes (4 by default), M random operations a
 * seed (12) under partitions and crashes; prints each seed that ran an instance twice or did not recover,
 * with its replay command, and ends with `seeds: N, violations: V`.
 */
async function master(args: readonly string[]): Promise<number> {
  const flags = parseFlags(args);
  if (flags === undefined) {
    process.stderr.write(`usage: ${masterUsage} (flags take positive integers)\n`);
    return 2;
  }
  const nodes = flags.get('nodes') ?? 4;
  const steps = flags.get('steps') ?? 12;
  const first = flags.get('seed') ?? Date.now() % 1_000_000;
  const seeds = flags.get('seeds') ?? 1;
  let violations = 0;
  const started = performance.now();
  for (let seed = first; seed < first + seeds; seed++) {
    const result = await runMasterSimulation({ seed, nodes, steps });
    const failed = result.violations.length > 0 || !result.recovered;
    if (failed) violations++;
    if (failed || seeds === 1) {
      const jobs = result.jobs;
      process.stdout.write(
        `seed ${seed}: ${failed ? 'VIOLATION' : 'ok'} jobs ${jobs.success} ok, ${jobs.error} refused or failed, ${jobs.unknown} lost; ${result.instances} instances; faults [${result.faults.join(', ')}]${result.recovered ? '' : '; no job succeeded after healing'}\n`,
      );
      for (const violation of result.violations) process.stdout.write(`  ${violation}\n`);
      if (failed)
        process.stdout.write(
          `  replay: npm run sim -- master --seed ${seed} --nodes ${nodes} --steps ${steps}\n`,
        );
    }
  }
  const perSeedMs = (performance.now() - started) / Math.max(1, seeds);
  process.stdout.write(`(${perSeedMs.toFixed(0)} ms per seed, first seed ${first})\n`);
  process.stdout.write(`seeds: ${seeds}, violations: ${violations}\n`);
  return violations === 0 ? 0 : 1;
}

const haUsage = 'npm run sim -- ha [--seeds N] [--seed S] [--nodes K] [--steps M]';

/**
 * `npm run sim -- ha`: automatic failover on K simulated nodes (5 by default) with drifting clocks, M random
 * faults a seed (8), then one node's death; prints each violating seed with its replay command, the failover
 * times, and ends with `seeds: N, violations: V`.
 */
async function ha(args: readonly string[]): Promise<number> {
  const flags = parseFlags(args);
  if (flags === undefined) {
    process.stderr.write(`usage: ${haUsage} (flags take positive integers)\n`);
    return 2;
  }
  const nodes = flags.get('nodes') ?? 5;
  const steps = flags.get('steps') ?? 8;
  const first = flags.get('seed') ?? Date.now() % 1_000_000;
  const seeds = flags.get('seeds') ?? 1;
  let violations = 0;
  const failovers: number[] = [];
  const started = performance.now();
  for (let seed = first; seed < first + seeds; seed++) {
    const result = await runHaSimulation({ seed, nodes, steps });
    failovers.push(...result.failoverMs);
    const failed = result.violations.length > 0;
    if (failed) violations++;
    if (failed || seeds === 1) {
      process.stdout.write(
        `seed ${seed}: ${failed ? 'VIOLATION' : 'ok'} faults [${result.faults.join(', ')}]; ${result.death}; failovers in ${result.failoverMs.map((ms) => `${(ms / 1000).toFixed(1)}s`).join(', ') || 'none'}\n`,
      );
      for (const violation of result.violations) process.stdout.write(`  ${violation}\n`);
      if (failed)
        process.stdout.write(
          `  replay: npm run sim -- ha --seed ${seed} --nodes ${nodes} --steps ${steps}\n`,
        );
    }
  }
  failovers.sort((a, b) => a - b);
  const quantile = (q: number) => failovers[Math.min(failovers.length - 1, Math.floor(q * failovers.length))];
  const perSeedMs = (performance.now() - started) / Math.max(1, seeds);
  process.stdout.write(
    `(${perSeedMs.toFixed(0)} ms per seed, first seed ${first}; ${failovers.length} failovers, p50 ${((quantile(0.5) ?? 0) / 1000).toFixed(1)}s, p99 ${((quantile(0.99) ?? 0) / 1000).toFixed(1)}s of simulated time)\n`,
  );
  process.stdout.write(`seeds: ${seeds}, violations: ${violations}\n`);
  return violations === 0 ? 0 : 1;
}

const partitionUsage = `npm run sim -- partition ${scenarioNames.join('|')} [--nodes K] [--seed S] [--mode netns|gater]`;

/**
 * `npm run sim -- partition SCENARIO [--nodes K] [--seed S] [--mode netns|gater]`: K real daemons (7 by
 * default) partitioned as the scenario says; prints what every node concluded and one JSON line of figures,
 * and exits 1 with the replay command on a violation.
 */
async function partition(args: readonly string[]): Promise<number> {
  const [scenario, ...rest] = args;
  const modeAt = rest.indexOf('--mode');
  const mode = modeAt < 0 ? undefined : rest[modeAt + 1];
  const flags = parseFlags(modeAt < 0 ? rest : [...rest.slice(0, modeAt), ...rest.slice(modeAt + 2)]);
  if (
    !scenarioNames.includes(scenario as ScenarioName) ||
    flags === undefined ||
    (mode !== undefined && mode !== 'netns' && mode !== 'gater')
  ) {
    process.stderr.write(`usage: ${partitionUsage}\n`);
    return 2;
  }
  const aborted = new AbortController();
  const abort = () => aborted.abort(new Error('interrupted'));
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  const result = await runPartitionSimulation({
    scenario: scenario as ScenarioName,
    nodes: flags.get('nodes') ?? 7,
    seed: flags.get('seed') ?? Date.now() % 1_000_000,
    ...(mode !== undefined && { mode: mode as PartitionMode }),
    out: (line) => process.stdout.write(`${line}\n`),
    signal: aborted.signal,
  });
  process.off('SIGINT', abort);
  process.off('SIGTERM', abort);
  for (const violation of result.violations) process.stdout.write(`violation: ${violation}\n`);
  if (result.violations.length > 0) process.stdout.write(`replay: ${result.replay}\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return result.violations.length === 0 ? 0 : 1;
}

function parseFlags(args: readonly string[]): Map<string, number> | undefined {
  const flags = new Map<string, number>();
  for (let i = 0; i < args.length; i += 2) {
    const name = args[i];
    const value = Number(args[i + 1]);
    if (name === undefined || !name.startsWith('--') || !Number.isInteger(value) || value < 0)
      return undefined;
    flags.set(name.slice(2), value);
  }
  return flags;
}

process.exitCode = await main(process.argv.slice(2));
