import type { Opcode } from '../cluster/opcodes.js';
import type { OpDefinitions } from './op-context.js';

/**
 * Ganeti's OpInstanceMultiAlloc: one create job per instance, submitted together. Each create places
 * itself (its nodes, or the allocator named here or its own) under its own locks, so the creates cannot
 * overcommit a node between them; one that does not fit fails in its own job. The answer is Ganeti's:
 * the jobs, the instances submitted, and none refused here (a create is refused in its job).
 */
export const multiAllocOpDefinitions: Pick<OpDefinitions, 'OP_INSTANCE_MULTI_ALLOC'> = {
  OP_INSTANCE_MULTI_ALLOC: {
    // Resubmitting finds the jobs the first run made (child jobs are keyed by their parent and position).
    onTakeover: 'resume',
    locks: () => [{ level: 'cluster', names: ['BGL'], mode: 'shared' }],
    async run(op, ctx) {
      const creates = op.instances.map((instance): Opcode[] => [
        {
          ...instance,
          OP_ID: 'OP_INSTANCE_CREATE',
          ...(op.iallocator !== undefined &&
            instance.pnode === undefined &&
            instance.iallocator === undefined && { iallocator: op.iallocator }),
        },
      ]);
      const jobs = await ctx.submitJobs(creates);
      ctx.log(`submitted ${jobs.length} create job(s): ${jobs.join(', ')}`);
      return {
        result: {
          jobs: jobs.map((job) => [true, job]),
          allocatable: op.instances.map((instance) => instance.instance_name),
          failed: [],
        },
      };
    },
  },
};
