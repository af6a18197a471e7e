import { beforeAll, describe, expect, it } from 'vitest';
import { MasterWorld } from '../../simulations/master-world.js';
import type { NodeId } from '../../src/common/ids.js';

/**
 * An atomic opcode (its only effect is the change committed with its end, such as a tag change) is not
 * marked running first: its job is written twice (submitted, ended), where another opcode's is written three
 * times, and its start still shows in the record.
 */
describe('atomic opcodes on simulated nodes', () => {
  const world = new MasterWorld({ seed: 11, nodes: 3 });
  let via: NodeId;

  beforeAll(async () => {
    await world.form();
    via = world.machines[1]!.id;
  }, 60_000);

  it('commits a tag change with its start in the same entry as its end', async () => {
    const job = await world.waitJob(
      via,
      await world.submit(via, [{ OP_ID: 'OP_TAGS_SET', kind: 'cluster', tags: ['atomic'] }]),
    );
    expect(job.status).toBe('success');
    const op = job.ops[0]!;
    expect(op.startMs).toBeDefined();
    expect(op.startMs!).toBeLessThanOrEqual(op.endMs!);
    expect(job.startMs).toBe(op.startMs);
    const delay = await world.waitJob(
      via,
      await world.submit(via, [{ OP_ID: 'OP_TEST_DELAY', duration: 0 }]),
    );
    expect(delay.status).toBe('success');
    // One write fewer: no separate 'running' record.
    expect(job.version).toBe(delay.version - 1);
    expect(world.machine(via).service!.localConfig()?.cluster.tags).toContain('atomic');
  });

  it('records the start of an atomic opcode that fails, too', async () => {
    const job = await world.waitJob(
      via,
      await world.submit(via, [{ OP_ID: 'OP_TAGS_SET', kind: 'node', name: 'nosuch', tags: ['x'] }]),
    );
    expect(job.status).toBe('error');
    expect(job.ops[0]!.startMs).toBeDefined();
    expect(job.startMs).toBeDefined();
  });
});
