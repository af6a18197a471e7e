import { describe, expect, it } from 'vitest';
import { config } from '../../cluster/query/fixture.js';
import { rapiOnFakeDaemon } from './fake-rapi.js';

/**
 * Ganeti's RAPI keys behind issue 22's options, passed on in the opcode now that Corral acts on them
 * (they were accepted and left out before): migrate and failover -I, --cleanup, runtime changes and
 * hypervisor versions; shutdown --ignore-offline; reboot --ignore-secondaries; export's compression and long
 * sleep; create's private OS parameters, identify-defaults and compression; activate-disks ?ignore_size;
 * create's and modify's force_variant.
 */

const ADMIN = { authorization: `Basic ${Buffer.from('admin:pw').toString('base64')}` };

describe("RAPI: issue 22's keys reach the opcode", () => {
  const { app, submitted } = rapiOnFakeDaemon(config);
  const send = async (method: 'PUT' | 'POST', url: string, payload?: object) => {
    const response = await app.inject({ method, url, headers: ADMIN, ...(payload && { payload }) });
    expect(response.statusCode, response.body).toBe(200);
    const [op] = submitted.at(-1) ?? [];
    expect(op).toBeDefined();
    const { reason: _reason, ...rest } = op as { reason?: unknown };
    return rest;
  };

  it('migrate, failover, shutdown, reboot, export, activate-disks', async () => {
    expect(
      await send('PUT', '/2/instances/inst1/migrate', {
        iallocator: 'hail',
        allow_runtime_changes: false,
        ignore_hvversions: true,
      }),
    ).toEqual({
      OP_ID: 'OP_INSTANCE_MIGRATE',
      instance_name: 'inst1',
      iallocator: 'hail',
      allow_runtime_changes: false,
      ignore_hvversions: true,
    });
    expect(await send('PUT', '/2/instances/inst1/failover', { iallocator: '.', cleanup: true })).toEqual({
      OP_ID: 'OP_INSTANCE_FAILOVER',
      instance_name: 'inst1',
      iallocator: '.',
      cleanup: true,
    });
    expect(await send('PUT', '/2/instances/inst1/shutdown', { ignore_offline_nodes: true })).toMatchObject({
      ignore_offline_nodes: true,
    });
    expect(await send('POST', '/2/instances/inst1/reboot', { ignore_secondaries: true })).toMatchObject({
      ignore_secondaries: true,
    });
    expect(
      await send('PUT', '/2/instances/inst1/export', {
        destination: 'node2',
        compress: 'gzip',
        long_sleep: true,
      }),
    ).toMatchObject({ OP_ID: 'OP_BACKUP_EXPORT', compress: 'gzip', long_sleep: true });
    expect(await send('PUT', '/2/instances/inst1/activate-disks?ignore_size=1')).toMatchObject({
      ignore_size: true,
    });
  });

  it('create and modify take private OS parameters', async () => {
    expect(
      await send('POST', '/2/instances', {
        __version__: 1,
        mode: 'create',
        name: 'new1',
        disk_template: 'diskless',
        disks: [],
        os_type: 'noop',
        osparams_private: { pw: 'x' },
        identify_defaults: true,
        compress: 'none',
      }),
    ).toMatchObject({ OP_ID: 'OP_INSTANCE_CREATE', osparams_private: { pw: 'x' }, identify_defaults: true });
    expect(await send('PUT', '/2/instances/inst1/modify', { osparams_private: { pw: 'y' } })).toMatchObject({
      osparams_private: { pw: 'y' },
    });
  });

  it('create and modify pass force_variant on', async () => {
    expect(
      await send('POST', '/2/instances', {
        __version__: 1,
        mode: 'create',
        name: 'new2',
        disk_template: 'diskless',
        disks: [],
        os_type: 'noop+new',
        force_variant: true,
      }),
    ).toMatchObject({ OP_ID: 'OP_INSTANCE_CREATE', os_type: 'noop+new', force_variant: true });
    expect(
      await send('PUT', '/2/instances/inst1/modify', { os_name: 'noop+new', force_variant: true }),
    ).toMatchObject({ os_name: 'noop+new', force_variant: true });
  });
});

describe('RAPI /2/info: allocator parameters and data collectors', () => {
  it("shows the cluster's settings in Ganeti's keys and units", async () => {
    const { app } = rapiOnFakeDaemon({
      ...config,
      cluster: {
        ...config.cluster,
        defaultIallocator: 'hail',
        defaultIallocatorParams: { 'no-capacity-checks': '1' },
        dataCollectors: { diskstats: { active: false }, 'cpu-avg-load': { intervalMs: 30_000 } },
      },
    });
    const info = (await app.inject({ method: 'GET', url: '/2/info' })).json();
    expect(info).toMatchObject({
      default_iallocator_params: { 'no-capacity-checks': '1' },
      enabled_data_collectors: { diskstats: false },
      data_collector_interval: { 'cpu-avg-load': 30_000_000 },
    });
  });
});
