import { describe, expect, it } from 'vitest';
import type { Opcode } from '../../../src/cluster/opcodes.js';
import { config } from '../../cluster/query/fixture.js';
import { rapiOnFakeDaemon } from './fake-rapi.js';

/** POST /2/instances/[name]/recreate-disks: Ganeti's body (disks, nodes, iallocator) as Corral's opcode. */

const basic = (user: string) => `Basic ${Buffer.from(`${user}:pw`).toString('base64')}`;
const JSON_TYPE = { 'content-type': 'application/json' };

describe('RAPI recreate-disks', () => {
  const { app, submitted } = rapiOnFakeDaemon(config);

  const post = (body: unknown, user = 'admin') =>
    app.inject({
      method: 'POST',
      url: '/2/instances/inst1/recreate-disks',
      headers: { authorization: basic(user), ...JSON_TYPE },
      payload: JSON.stringify(body),
    });
  /** The opcode of the last job, without the reason trail RAPI adds. */
  const lastOp = () => {
    const { reason: _reason, ...op } = submitted.at(-1)![0] as Opcode & { reason?: unknown };
    return op;
  };

  it("submits one job with the body's disks, nodes and allocator, and answers its ID", async () => {
    const response = await post({ disks: [[0, { size: 2048, mode: 'ro' }]], nodes: ['node2', 'node3'] });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toBe(42);
    expect(lastOp()).toEqual({
      OP_ID: 'OP_INSTANCE_RECREATE_DISKS',
      instance_name: 'inst1',
      disks: [[0, { size: 2048, mode: 'ro' }]],
      nodes: ['node2', 'node3'],
    });
    // The Python client's body: a list of indices, and an allocator.
    expect((await post({ disks: [0, 1], iallocator: 'hail' })).statusCode).toBe(200);
    expect(lastOp()).toEqual({
      OP_ID: 'OP_INSTANCE_RECREATE_DISKS',
      instance_name: 'inst1',
      disks: [0, 1],
      iallocator: 'hail',
    });
    expect((await post({})).statusCode).toBe(200);
    expect(lastOp()).toEqual({ OP_ID: 'OP_INSTANCE_RECREATE_DISKS', instance_name: 'inst1' });
  });

  it('refuses unknown parameters, wrong types, a read-only user, and submits nothing then', async () => {
    const before = submitted.length;
    const unknown = await post({ disk: [0] });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().message).toContain(
      'unknown parameter &#x27;disk&#x27; for OP_INSTANCE_RECREATE_DISKS',
    );
    const spindles = await post({ disks: [[0, { spindles: 2 }]] });
    expect(spindles.statusCode).toBe(400);
    expect(spindles.json().message).toContain('OP_INSTANCE_RECREATE_DISKS.disks');
    expect((await post({ nodes: 'node2' })).statusCode).toBe(400);
    expect((await post({ instance_name: 'other' })).statusCode).toBe(400);
    expect((await post({}, 'reader')).statusCode).toBe(403);
    expect(submitted.length).toBe(before);
  });
});
