import { describe, expect, it } from 'vitest';
import type { ConfigView } from '../../../src/cluster/views.js';
import { config as fixture } from '../../cluster/query/fixture.js';
import { rapiOnFakeDaemon } from './fake-rapi.js';

/** Node parameters over RAPI: the filled values in the cluster, group and node resources, and their changes. */

const config: ConfigView = {
  ...fixture,
  cluster: { ...fixture.cluster, ndParams: { oob_program: '/usr/lib/oob', ssh_port: 2022 } },
  groups: fixture.groups.map((group, i) => (i === 0 ? { ...group, ndParams: { spindle_count: 3 } } : group)),
  nodes: fixture.nodes.map((node, i) =>
    i === 0 ? { ...node, ndParams: { cpu_speed: 2.5 }, powered: false } : node,
  ),
};

const ADMIN = {
  authorization: `Basic ${Buffer.from('admin:pw').toString('base64')}`,
  'content-type': 'application/json',
};

describe('RAPI node parameters', () => {
  const { app, submitted } = rapiOnFakeDaemon(config);
  const get = async (url: string) =>
    (await app.inject({ method: 'GET', url })).json() as Record<string, unknown>;

  it('shows the filled values, and each level its own as custom_ndparams', async () => {
    const defaults = {
      cpu_speed: 1,
      exclusive_storage: false,
      ovs: false,
      ovs_link: '',
      ovs_name: 'switch1',
    };
    expect((await get('/2/info')).ndparams).toEqual({
      ...defaults,
      oob_program: '/usr/lib/oob',
      spindle_count: 1,
      ssh_port: 2022,
    });
    const group = config.groups[0]!;
    const groupDict = await get(`/2/groups/${group.name}`);
    expect(groupDict.custom_ndparams).toEqual({ spindle_count: 3 });
    expect(groupDict.ndparams).toEqual({
      ...defaults,
      oob_program: '/usr/lib/oob',
      spindle_count: 3,
      ssh_port: 2022,
    });
    const node = config.nodes[0]!;
    const nodeDict = await get(`/2/nodes/${node.name}`);
    expect(nodeDict.ndparams).toMatchObject({ cpu_speed: 2.5, oob_program: '/usr/lib/oob', ssh_port: 2022 });
  });

  it('passes changes on to the opcodes', async () => {
    const put = (method: 'PUT' | 'POST', url: string, payload: object) =>
      app.inject({ method, url, headers: ADMIN, payload });
    expect((await put('PUT', '/2/modify', { ndparams: { oob_program: '/bin/oob' } })).json()).toBe(42);
    expect(submitted.at(-1)?.[0]).toMatchObject({
      OP_ID: 'OP_CLUSTER_SET_PARAMS',
      ndparams: { oob_program: '/bin/oob' },
    });
    const group = config.groups[0]!.name;
    await put('PUT', `/2/groups/${group}/modify`, { ndparams: { spindle_count: 'default' } });
    expect(submitted.at(-1)?.[0]).toMatchObject({
      OP_ID: 'OP_GROUP_SET_PARAMS',
      group_name: group,
      ndparams: { spindle_count: 'default' },
    });
    const node = config.nodes[0]!.name;
    await put('POST', `/2/nodes/${node}/modify`, { ndparams: { ssh_port: 22 }, powered: true });
    expect(submitted.at(-1)?.[0]).toMatchObject({
      OP_ID: 'OP_NODE_SET_PARAMS',
      node_name: node,
      ndparams: { ssh_port: 22 },
      powered: true,
    });
  });
});
