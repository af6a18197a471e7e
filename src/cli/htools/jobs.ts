import type { BalanceResult } from '../../alloc/balance.js';
import { jobSetOpcodes } from '../../alloc/report.js';
import type { ClusterState } from '../../alloc/state.js';
import { corralOpcode } from '../../cluster/alloc-answers.js';
import type { Opcode } from '../../cluster/opcodes.js';
import type { ConfigView } from '../../cluster/views.js';
import { CorralError } from '../../common/errors.js';
import { type DaemonCall, priorities, submitJob } from '../../daemon/job-client.js';
import { follow } from '../cluster-client.js';
import type { SubmitPriority } from './options.js';
import type { ToolOutput } from './tool.js';

/** The htools' -X: their plans carried out on the live cluster as job sets, as Ganeti's execWithCancel does. */

export interface JobAnnotation {
  /** The tool, as the reason trail names it. */
  readonly tool: string;
  readonly reason?: string;
  readonly priority?: SubmitPriority;
}

/** The balancing moves of a run as job sets of Corral's opcodes, refused if any is one the cluster cannot do. */
export function movesAsJobs(state: ClusterState, config: ConfigView, result: BalanceResult): Opcode[][][] {
  const instances = new Map(config.instances.map((i) => [i.name, i]));
  const nodes = new Set(config.nodes.map((n) => n.name));
  return jobSetOpcodes(state, result).map((set) =>
    set.map((job) => job.map((op) => corralOpcode(op, 'balance', instances, nodes))),
  );
}

/**
 * Runs the job sets in order, the jobs of one set in parallel; a failed job stops the run before the next
 * set. Each opcode's reason trail gets the tool's entry (its --reason, or that the tool called), as Ganeti's.
 */
export async function executeJobSets(
  call: DaemonCall,
  sets: readonly Opcode[][][],
  io: ToolOutput,
  annotation: JobAnnotation,
): Promise<void> {
  const entry: [string, string, number] = [
    annotation.tool,
    annotation.reason ?? `${annotation.tool} called`,
    Date.now() / 1000,
  ];
  const annotate = (ops: readonly Opcode[]): Opcode[] =>
    ops.map((op) => ({ ...op, reason: [...(op.reason ?? []), entry] }) as Opcode);
  const priority = priorities[annotation.priority ?? 'normal'];
  for (const [k, set] of sets.entries()) {
    io.out(`Job set ${k + 1} of ${sets.length}: ${set.length} job(s)\n`);
    const jobs = await Promise.all(set.map((ops) => submitJob(call, annotate(ops), priority)));
    const outcomes = await Promise.allSettled(jobs.map((job) => follow(call, job)));
    const failures = outcomes.flatMap((outcome, j) =>
      outcome.status === 'rejected' ? [`job ${jobs[j]}: ${(outcome.reason as Error).message}`] : [],
    );
    if (failures.length > 0)
      throw new CorralError(
        'conflict',
        `job set ${k + 1} failed (${failures.join('; ')}); the later sets were not run: run ${annotation.tool} again`,
      );
  }
}
