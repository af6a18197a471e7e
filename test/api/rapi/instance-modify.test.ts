import { describe, expect, it } from 'vitest';
import { config } from '../../cluster/query/fixture.js';
import { rapiOnFakeDaemon } from './fake-rapi.js';

/**
 * PUT /2/instances/[i]/modify with Ganeti's nics, disks, pnode, runtime_mem, force and hotplug keys (issue
 * 22): the opcode it submits, the older [op | index, params] shape upgraded as Ganeti's LU does, and refusals.
 */

const ADMIN = { authorization: `Basic ${Buffer.from('admin:pw').toString('base64')}` };

describe('RAPI instance modify: NICs, disks, primary, runtime memory', () => {
  const { app, submitted } = rapiOnFakeDaemon(config);
  const modify = (body: object) =>
    app.inject({ method: 'PUT', url: '/2/instances/inst1/modify', headers: ADMIN, payload: body });

  it("passes Ganeti's keys on in the opcode", async () => {
    const response = await modify({
      nics: [
        ['add', -1, { mac: 'generate', link: 'br1' }],
        ['modify', 'eth0', { mode: 'routed' }],
        ['remove', 1, {}],
      ],
      disks: [
        ['add', 0, { size: 1024, mode: 'ro' }],
        ['remove', -1, {}],
        ['modify', 1, { name: 'data' }],
      ],
      pnode: 'node2',
      runtime_mem: 512,
      force: true,
      hotplug: false,
      hotplug_if_possible: true,
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(submitted.at(-1)).toEqual([
      {
        reason: [['gnt:library:rlib2:instances_name_modify', '', expect.any(Number)]],
        OP_ID: 'OP_INSTANCE_SET_PARAMS',
        instance_name: 'inst1',
        nics: [
          ['add', -1, { mac: 'generate', link: 'br1' }],
          ['modify', 'eth0', { mode: 'routed' }],
          ['remove', 1, {}],
        ],
        disks: [
          ['add', 0, { size: 1024, mode: 'ro' }],
          ['remove', -1, {}],
          ['modify', 1, { name: 'data' }],
        ],
        pnode: 'node2',
        runtime_mem: 512,
        force: true,
        hotplug: false,
        hotplug_if_possible: true,
      },
    ]);
  });

  it("upgrades Ganeti's older [op | index, params] shape", async () => {
    expect(
      (
        await modify({
          nics: [
            ['add', { link: 'br0' }],
            [0, { ip: '10.0.0.9' }],
          ],
        })
      ).statusCode,
    ).toBe(200);
    expect(submitted.at(-1)?.[0]).toMatchObject({
      nics: [
        ['add', -1, { link: 'br0' }],
        ['modify', 0, { ip: '10.0.0.9' }],
      ],
    });
    const twice = await modify({
      disks: [
        ['add', { size: 1 }],
        ['remove', {}],
      ],
    });
    expect(twice.statusCode).toBe(400);
    expect(twice.json().message).toBe('Only one disk add or remove operation is supported at a time');
  });

  it('refuses malformed modifications with the path of the bad value', async () => {
    const before = submitted.length;
    const badMac = await modify({ nics: [['add', -1, { mac: 'zz' }]] });
    expect(badMac.statusCode).toBe(400);
    expect(badMac.json().message).toContain('OP_INSTANCE_SET_PARAMS.nics.0');
    const badOp = await modify({ disks: [['attach', 0, {}]] });
    expect(badOp.statusCode).toBe(400);
    expect(badOp.json().message).toContain('OP_INSTANCE_SET_PARAMS.disks.0');
    const badMemory = await modify({ runtime_mem: -5 });
    expect(badMemory.statusCode).toBe(400);
    expect(badMemory.json().message).toContain('OP_INSTANCE_SET_PARAMS.runtime_mem');
    expect(submitted.length).toBe(before);
  });
});
