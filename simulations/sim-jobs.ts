import type { JobRecord } from '../src/cluster/jobs.js';
import type { Opcode } from '../src/cluster/opcodes.js';
import type { NodeId } from '../src/common/ids.js';
import type { MasterWorld } from './master-world.js';

/** Submits a job through a node, as its CLI would, and follows it to its end from there. */
export async function runJob(world: MasterWorld, via: NodeId, ops: readonly Opcode[]): Promise<JobRecord> {
  return world.waitJob(via, await world.submit(via, ops));
}

/** The message of the job's first failed opcode; undefined when none failed. */
export function failureOf(ended: JobRecord): string | undefined {
  return (ended.ops.find((op) => op.status === 'error')?.result as { message?: string } | undefined)?.message;
}
