import type { BalanceResult } from './balance.js';
import { showFFloat } from './haskell-show.js';
import { moveToCommands, moveToOpcodes, type OpCode, splitJobSets } from './jobs.js';
import { moveNotation } from './moves.js';
import type { ClusterState, InstState } from './state.js';

/** hbal's human output for a balancing run: each step, then the commands by job set. */

export function stepLines(before: ClusterState, result: BalanceResult): string[] {
  const nodeName = (idx: number): string => before.nodes[idx]?.name ?? '';
  const instName = (idx: number): string => before.instances[idx]?.name ?? '';
  const nameWidth = Math.max(0, ...result.steps.map((s) => instName(s.instance).length));
  const nodeWidth = 2 * Math.max(0, ...before.nodes.map((n) => n.name.length)) + 1;
  const pair = (p: number, s: number): string => (s < 0 ? nodeName(p) : `${nodeName(p)}:${nodeName(s)}`);
  return result.steps.map(
    (s, k) =>
      `  ${String(k + 1).padStart(3)}. ${instName(s.instance).padEnd(nameWidth)} ${pair(s.from.primary, s.from.secondary).padEnd(nodeWidth)} => ${pair(s.to.primary, s.to.secondary).padEnd(nodeWidth)} ${showFFloat(s.score, 8).padStart(12)} a=${moveNotation(s.move, nodeName)}`,
  );
}

export function commandLines(before: ClusterState, result: BalanceResult): string[] {
  const nodeName = (idx: number): string => before.nodes[idx]?.name ?? '';
  const lines: string[] = [];
  splitJobSets(result.steps).forEach((set, k) => {
    lines.push('', `echo jobset ${k + 1}, ${set.length} jobs`);
    set.forEach((step, j) => {
      const inst = before.instances[step.instance] as InstState;
      lines.push(`  echo job ${k + 1}/${j + 1}`, '  check');
      for (const cmd of moveToCommands(inst, step.move, nodeName)) lines.push(`  gnt-instance ${cmd}`);
    });
  });
  return lines;
}

/** The run as jobs to submit: job sets in order, each a list of jobs (one per step) that may run in parallel. */
export function jobSetOpcodes(before: ClusterState, result: BalanceResult): OpCode[][][] {
  const nodeName = (idx: number): string => before.nodes[idx]?.name ?? '';
  return splitJobSets(result.steps).map((set) =>
    set.map((step) => moveToOpcodes(before.instances[step.instance] as InstState, step.move, nodeName)),
  );
}

/** The same run as one JSON-ready object. */
export function balanceJson(before: ClusterState, group: string, result: BalanceResult): object {
  const nodeName = (idx: number): string | null => (idx < 0 ? null : (before.nodes[idx]?.name ?? null));
  const toStep = (s: BalanceResult['steps'][number]) => ({
    instance: before.instances[s.instance]?.name,
    from: [nodeName(s.from.primary), nodeName(s.from.secondary)],
    to: [nodeName(s.to.primary), nodeName(s.to.secondary)],
    moves: moveNotation(s.move, (i) => nodeName(i) ?? ''),
    score: s.score,
  });
  return {
    group,
    initialScore: result.initialScore,
    finalScore: result.finalScore,
    steps: result.steps.map(toStep),
    jobSets: splitJobSets(result.steps).map((set) => set.map(toStep)),
  };
}
