import { CorralError } from '../common/errors.js';
import { isFinished, type JobRecord } from './jobs.js';
import { asJobId, type JobId } from './model.js';
import type { Opcode } from './opcodes.js';

/**
 * Ganeti's job dependencies (jqueue's _JobDependencyManager), as pure decisions: an opcode that names other
 * jobs in `depends` runs once they have all finished, and only if each ended in a status it accepts.
 */

export type Dependency = NonNullable<Opcode['depends']>[number];

/**
 * The opcodes with their relative job IDs made absolute: -k is the k-th job before this one among `earlier`,
 * the jobs submitted before it in the same batch (Ganeti's SubmitManyJobs). One that reaches before the
 * batch is refused, as Ganeti refuses it.
 */
export function resolveRelativeDepends(ops: readonly Opcode[], earlier: readonly JobId[]): Opcode[] {
  return ops.map((op) => {
    if (op.depends === undefined) return op;
    const depends = op.depends.map(([job, statuses]): Dependency => {
      if (job >= 0) return [job, statuses];
      const resolved = earlier[earlier.length + job];
      if (resolved === undefined)
        throw new CorralError(
          'bad_request',
          `${op.OP_ID} depends on relative job ID ${job}, but only ${earlier.length} job(s) were submitted before it in the same batch`,
        );
      return [resolved, statuses];
    });
    return { ...op, depends };
  });
}

/** What an opcode's dependencies allow now. */
export type DependencyVerdict =
  | { readonly kind: 'run' }
  | { readonly kind: 'wait'; readonly on: JobId }
  | { readonly kind: 'cancel'; readonly message: string }
  | { readonly kind: 'fail'; readonly message: string };

/**
 * The verdict for the opcode of job `self`, given how to find a job (archived ones included). The first
 * dependency not yet finished makes it wait; a canceled one cancels it unless `canceled` was accepted; any
 * other status it does not accept, a missing job or itself fails it, with Ganeti's reasons.
 */
export function dependencyVerdict(
  self: JobId,
  depends: readonly Dependency[] | undefined,
  findJob: (id: JobId) => Pick<JobRecord, 'status'> | undefined,
): DependencyVerdict {
  for (const [id, accepted] of depends ?? []) {
    if (id === self) return { kind: 'fail', message: "a job can't depend on itself" };
    const job = id > 0 ? findJob(asJobId(id)) : undefined;
    if (job === undefined)
      return { kind: 'fail', message: `dependency error: job ${id} does not exist (or is no longer kept)` };
    if (!isFinished(job.status)) return { kind: 'wait', on: asJobId(id) };
    if (job.status === 'canceled' && !accepted.includes('canceled'))
      return { kind: 'cancel', message: `dependency job ${id} was canceled` };
    if (accepted.length > 0 && !accepted.includes(job.status as (typeof accepted)[number]))
      return {
        kind: 'fail',
        message: `dependency job ${id} finished with status '${job.status}', not one of '${accepted.join(', ')}' as required`,
      };
  }
  return { kind: 'run' };
}
