import { runMembershipSimulation } from './membership-sim.js';
import { runRaftSimulation } from './raft-sim.js';

/**
 * `npm run sim -- raft --seeds N [--nodes K] [--seed S]`: runs N seeds from S (or one seed S), prints each
 * violation with the command that replays it, and ends with `seeds: N, violations: V`.
 */
async function main(argv: readonly string[]): Promise<number> {
  const [simulation, ...rest] = argv;
  if (simulation === 'membership') return membership(rest);
  if (simulation !== 'raft') {
    process.stderr.write(
      'usage: npm run sim -- raft --seeds N [--nodes K] [--seed S]\n       npm run sim -- membership [--nodes N] [--seed S]\n',
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
