import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rapiContext } from '../../../src/api/rapi/context.js';
import { createRapiServer, RAPI_BODY_LIMIT } from '../../../src/api/rapi/server.js';
import { parseUsers } from '../../../src/api/rapi/users.js';
import type { Opcode } from '../../../src/cluster/opcodes.js';
import { silentLogger } from '../../../src/common/log.js';
import type { ControlRequest } from '../../../src/daemon/control-protocol.js';
import type { DaemonCall } from '../../../src/daemon/job-client.js';
import { config, jobs, live } from '../../cluster/query/fixture.js';

const golden = (name: string) =>
  JSON.parse(readFileSync(join(import.meta.dirname, 'golden', `${name}.json`), 'utf8')) as {
    status: number;
    body: unknown;
  };

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const ADMIN = { authorization: basic('admin', 'pw') };
const JSON_TYPE = { 'content-type': 'application/json' };

/** A daemon that answers from the query fixture and records what is submitted. */
function fakeDaemon() {
  const submitted: Opcode[][] = [];
  const call = (async (request: ControlRequest) => {
    switch (request.op) {
      case 'config':
        return { config, self: 'peer1' };
      case 'nodes-live':
        return { nodes: live };
      case 'jobs':
        return { jobs: jobs.filter((job) => request.ids === undefined || request.ids.includes(job.id)) };
      case 'os-diagnose':
        return { nodes: [] };
      case 'master':
        if (request.request.op !== 'submit') return {};
        submitted.push(request.request.ops);
        return { job: 42 };
      default:
        throw new Error(`unexpected ${request.op}`);
    }
  }) as DaemonCall;
  return { call, submitted };
}

describe('RAPI server (in process, fake daemon)', () => {
  const daemon = fakeDaemon();
  const app = createRapiServer({
    context: rapiContext(daemon.call),
    users: async () => parseUsers('admin pw write\nreader pw read\n'),
    log: silentLogger,
  });
  beforeAll(() => app.ready());
  afterAll(() => app.close());
  const lastOps = () => daemon.submitted.at(-1);

  it('answers /version and / as Ganeti does', async () => {
    const version = await app.inject({ method: 'GET', url: '/version' });
    expect(version.statusCode).toBe(200);
    expect(version.headers['content-type']).toMatch(/^application\/json/);
    expect(version.json()).toBe(2);
    expect((await app.inject({ method: 'GET', url: '/' })).body).toBe('null');
  });

  it("gives Ganeti's error bodies for unknown paths and unsupported methods", async () => {
    const missing = await app.inject({ method: 'GET', url: '/2/no-such-resource' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual(golden('err-404-path').body);
    expect((await app.inject({ method: 'GET', url: '/2/instances/' })).statusCode).toBe(404);
    const method = await app.inject({ method: 'DELETE', url: '/2/info', headers: ADMIN });
    expect(method.statusCode).toBe(501);
    expect(method.json()).toEqual(golden('err-405-method').body);
    const reboot = await app.inject({ method: 'PUT', url: '/2/instances/inst1/reboot', headers: ADMIN });
    expect(reboot.json()).toEqual({
      ...(golden('put-reboot-unsupported').body as object),
      message: 'Method PUT is unsupported for path /2/instances/inst1/reboot',
    });
    expect((await app.inject({ method: 'GET', url: '/2/instances/does-not-exist' })).json()).toEqual(
      golden('err-404-instance').body,
    );
  });

  it('refuses writes without a user (401), with a read-only user (403), and changes nothing', async () => {
    const before = daemon.submitted.length;
    const anonymous = await app.inject({ method: 'PUT', url: '/2/instances/inst1/startup' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['www-authenticate']).toBe('Basic realm="Ganeti Remote API"');
    expect(anonymous.json()).toEqual({
      code: 401,
      message: 'Unauthorized',
      explain: 'No permission -- see authorization schemes',
    });
    const reader = await app.inject({
      method: 'PUT',
      url: '/2/instances/inst1/startup',
      headers: { authorization: basic('reader', 'pw') },
    });
    expect(reader.statusCode).toBe(403);
    const wrong = await app.inject({
      method: 'PUT',
      url: '/2/instances/inst1/startup',
      headers: { authorization: basic('admin', 'x') },
    });
    expect(wrong.statusCode).toBe(401);
    expect(daemon.submitted.length).toBe(before);
  });

  it('refuses bad bodies with 400, 413 and 415', async () => {
    const before = daemon.submitted.length;
    const send = (payload: string, headers: Record<string, string> = JSON_TYPE) =>
      app.inject({
        method: 'PUT',
        url: '/2/instances/inst1/modify',
        headers: { ...ADMIN, ...headers },
        payload,
      });
    const unparsable = await send('{"beparams": ');
    expect(unparsable.statusCode).toBe(400);
    expect(unparsable.json().code).toBe(400);
    expect((await send('{"beparams": {}}', { 'content-type': 'text/plain' })).statusCode).toBe(415);
    expect((await send('{}', { 'content-type': 'application/json; charset=utf-8' })).statusCode).toBe(415);
    expect((await send(`{"x": "${'a'.repeat(RAPI_BODY_LIMIT)}"}`)).statusCode).toBe(413);
    const unknown = await send('{"no_such_parameter": 1}');
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().message).toContain('no_such_parameter');
    const wrongType = await send('{"beparams": {"vcpus": "many"}}');
    expect(wrongType.statusCode).toBe(400);
    expect(wrongType.json().message).toContain('OP_INSTANCE_SET_PARAMS.beparams.vcpus');
    const fixed = await send('{"instance_name": "other"}');
    expect(fixed.statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/2/instances?bulk=yes' })).statusCode).toBe(400);
    expect(daemon.submitted.length).toBe(before);
  });

  it("creates an instance from the Python client's body", async () => {
    const sent = golden('post-2-instances') as unknown as { request: { body: object } };
    const response = await app.inject({
      method: 'POST',
      url: '/2/instances',
      headers: { ...ADMIN, ...JSON_TYPE },
      payload: JSON.stringify(sent.request.body),
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toBe(42);
    expect(lastOps()).toEqual([
      expect.objectContaining({
        OP_ID: 'OP_INSTANCE_CREATE',
        instance_name: 'rapi-inst3',
        disk_template: 'diskless',
        disks: [],
        nics: [{}],
        os_type: 'noop',
        pnode: 'vm.gnt.test',
        beparams: { memory: 128 },
      }),
    ]);
    const bad = golden('post-2-instances-bad-body') as unknown as {
      request: { body: object };
      status: number;
    };
    const refused = await app.inject({
      method: 'POST',
      url: '/2/instances',
      headers: { ...ADMIN, ...JSON_TYPE },
      payload: JSON.stringify(bad.request.body),
    });
    expect(refused.statusCode).toBe(bad.status);
    expect(refused.json().message).toMatch(/Parameter &#x27;OP_INSTANCE_CREATE\.disk.*fails validation/);
    const old = await app.inject({
      method: 'POST',
      url: '/2/instances',
      headers: { ...ADMIN, ...JSON_TYPE },
      payload: '{}',
    });
    expect(old.json().message).toMatch(/no longer supported/);
  });

  it("passes Ganeti's job dependencies on with the opcode, and refuses malformed ones", async () => {
    const modify = (body: object) =>
      app.inject({
        method: 'PUT',
        url: '/2/instances/inst1/modify',
        headers: { ...ADMIN, ...JSON_TYPE },
        payload: JSON.stringify(body),
      });
    const accepted = await modify({ beparams: { memory: 256 }, depends: [[7, ['success', 'error']]] });
    expect(accepted.statusCode).toBe(200);
    expect(lastOps()).toEqual([
      expect.objectContaining({ OP_ID: 'OP_INSTANCE_SET_PARAMS', depends: [[7, ['success', 'error']]] }),
    ]);
    const count = daemon.submitted.length;
    const refused = await modify({ beparams: { memory: 256 }, depends: [[7, ['finished']]] });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().message).toMatch(/depends/);
    expect(daemon.submitted).toHaveLength(count);
  });

  it('takes tags from the query, with the reason trail', async () => {
    const response = await app.inject({
      method: 'PUT',
      url: '/2/instances/inst1/tags?tag=a&tag=b&reason=because',
      headers: ADMIN,
    });
    expect(response.json()).toBe(42);
    const [op] = lastOps() ?? [];
    expect(op).toMatchObject({ OP_ID: 'OP_TAGS_SET', kind: 'instance', name: 'inst1', tags: ['a', 'b'] });
    expect(op?.reason?.map(([source, reason]) => [source, reason])).toEqual([
      ['gnt:library:rlib2:instances_name_tags', ''],
      ['gnt:user', 'because'],
    ]);
    expect((await app.inject({ method: 'GET', url: '/2/instances/inst1/tags' })).statusCode).toBe(200);
    const long = await app.inject({
      method: 'PUT',
      url: `/2/instances/inst1/tags?tag=a&reason=${'x'.repeat(2000)}`,
      headers: ADMIN,
    });
    expect(long.statusCode).toBe(400);
  });

  it("lists with Ganeti's keys", async () => {
    const bulk = (await app.inject({ method: 'GET', url: '/2/instances?bulk=1' })).json() as Record<
      string,
      unknown
    >[];
    const goldenKeys = Object.keys((golden('2-instances-bulk').body as Record<string, unknown>[])[0]!).sort();
    expect(Object.keys(bulk[0]!).sort()).toEqual(goldenKeys);
    const list = (await app.inject({ method: 'GET', url: '/2/instances' })).json() as {
      id: string;
      uri: string;
    }[];
    expect(list[0]).toEqual({ id: list[0]!.id, uri: `/2/instances/${list[0]!.id}` });
    const info = (await app.inject({ method: 'GET', url: '/2/info' })).json() as Record<string, unknown>;
    const infoKeys = Object.keys(golden('2-info').body as object).sort();
    expect(Object.keys(info).sort()).toEqual(infoKeys);
    const node = (await app.inject({ method: 'GET', url: '/2/nodes/node1' })).json() as Record<
      string,
      unknown
    >;
    expect(Object.keys(node).sort()).toEqual(Object.keys(golden('2-nodes-NAME').body as object).sort());
    const job = (await app.inject({ method: 'GET', url: '/2/jobs/1' })).json() as Record<string, unknown>;
    expect(Object.keys(job).sort()).toEqual(Object.keys(golden('2-jobs-ID').body as object).sort());
    expect((await app.inject({ method: 'GET', url: '/2/jobs/999' })).statusCode).toBe(404);
    const jobList = (await app.inject({ method: 'GET', url: '/2/jobs' })).json() as { id: unknown }[];
    expect(typeof jobList[0]?.id).toBe('number');
  });

  it('sets a node role from a bare JSON string, and refuses the master role', async () => {
    expect((await app.inject({ method: 'GET', url: '/2/nodes/node1/role' })).json()).toBe('master');
    const drained = await app.inject({
      method: 'PUT',
      url: '/2/nodes/node2/role?force=1',
      headers: { ...ADMIN, ...JSON_TYPE },
      payload: '"drained"',
    });
    expect(drained.json()).toBe(42);
    expect(lastOps()?.[0]).toMatchObject({
      OP_ID: 'OP_NODE_SET_PARAMS',
      node_name: 'node2',
      drained: true,
      force: true,
    });
    const master = await app.inject({
      method: 'PUT',
      url: '/2/nodes/node2/role',
      headers: { ...ADMIN, ...JSON_TYPE },
      payload: '"master"',
    });
    expect(master.statusCode).toBe(400);
  });

  it("queries a node's storage as a job", async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/2/nodes/node1/storage?storage_type=file&output_fields=name%2Csize%2Cfree',
      headers: ADMIN,
    });
    expect(response.json()).toBe(42);
    expect(lastOps()?.[0]).toMatchObject({
      OP_ID: 'OP_NODE_QUERY_STORAGE',
      nodes: ['node1'],
      storage_type: 'file',
      output_fields: ['name', 'size', 'free'],
    });
    const missing = await app.inject({
      method: 'GET',
      url: '/2/nodes/node1/storage?storage_type=file',
      headers: ADMIN,
    });
    expect(missing.statusCode).toBe(400);
    const badType = await app.inject({
      method: 'GET',
      url: '/2/nodes/node1/storage?storage_type=rados&output_fields=name',
      headers: ADMIN,
    });
    expect(badType.statusCode).toBe(400);
    expect(
      (
        await app.inject({
          method: 'GET',
          url: '/2/nodes/node1/storage?storage_type=file&output_fields=name',
        })
      ).statusCode,
    ).toBe(401);
  });

  it("answers queries with Ganeti's filter", async () => {
    const response = await app.inject({
      method: 'PUT',
      url: '/2/query/instance',
      headers: { ...ADMIN, ...JSON_TYPE },
      payload: JSON.stringify({ fields: ['name', 'admin_state'], qfilter: ['=', 'admin_state', 'up'] }),
    });
    expect(response.statusCode).toBe(200);
    const result = response.json() as { fields: { name: string }[]; data: [number, unknown][][] };
    expect(result.fields.map((f) => f.name)).toEqual(['name', 'admin_state']);
    expect(result.data.every((row) => row[1]?.[1] === 'up')).toBe(true);
    const bad = await app.inject({
      method: 'PUT',
      url: '/2/query/instance',
      headers: { ...ADMIN, ...JSON_TYPE },
      payload: JSON.stringify({ fields: ['name'], qfilter: ['=', 'no_such_field', 1] }),
    });
    expect(bad.statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/2/query/network', headers: ADMIN })).statusCode).toBe(
      404,
    );
    const fields = (await app.inject({ method: 'GET', url: '/2/query/node/fields?fields=name' })).json();
    expect(fields.fields[0]).toMatchObject({ name: 'name', kind: 'text' });
  });
});
