import { describe, expect, it } from 'vitest';
import { livePolicy, liveSnapshot, type NodeFigures } from '../../src/alloc/live-snapshot.js';
import { buildState } from '../../src/alloc/state.js';
import { DEFAULT_HA_PARAMS } from '../../src/cluster/lease.js';
import { DEFAULT_BE_PARAMS } from '../../src/cluster/model.js';
import type { ConfigView } from '../../src/cluster/views.js';

const times = { ctimeMs: 0, mtimeMs: 0 };
const node = (
  name: string,
  extra: Partial<ConfigView['nodes'][number]> = {},
): ConfigView['nodes'][number] => ({
  uuid: `u-${name}`,
  name,
  id: `peer-${name}`,
  addrs: [],
  primaryIp: '127.0.0.1',
  secondaryIp: '127.0.0.1',
  group: 'g1',
  masterCandidate: true,
  masterCapable: true,
  vmCapable: true,
  drained: false,
  offline: false,
  tags: [],
  serial: 1,
  ...times,
  ...extra,
});
const instance = (
  name: string,
  primary: string,
  extra: Partial<ConfigView['instances'][number]> = {},
): ConfigView['instances'][number] => ({
  uuid: `i-${name}`,
  name,
  primaryNode: `u-${primary}`,
  secondaryNodes: [],
  os: 'noop',
  hypervisor: 'fake',
  hvParams: {},
  beParams: { maxmemMiB: 256, vcpus: 2 },
  osParams: {},
  diskTemplate: 'file',
  disks: [{ uuid: 'd', sizeMiB: 100, mode: 'rw', format: 'raw' }],
  nics: [],
  adminState: 'up',
  adminStateSource: 'admin',
  disksActive: true,
  tags: ['svc:web'],
  serial: 1,
  ...times,
  ...extra,
});
const config: ConfigView = {
  cluster: {
    name: 'c',
    uuid: 'cu',
    ...times,
    candidatePoolSize: 10,
    enabledHypervisors: ['fake'],
    enabledDiskTemplates: ['file', 'diskless'],
    maxRunningJobs: 20,
    candidateDeadGraceMs: 60_000,
    ha: DEFAULT_HA_PARAMS,
    beParams: DEFAULT_BE_PARAMS,
    nicParams: { mode: 'none', link: '' },
    macPrefix: 'aa:00:00',
    tags: ['htools:iextags:svc'],
  },
  serial: 7,
  master: 'peer-n1',
  groups: [{ uuid: 'g1', name: 'default', allocPolicy: 'preferred', tags: [], serial: 1, ...times }],
  nodes: [node('n2'), node('n1'), node('n3', { drained: true }), node('n4')],
  instances: [
    instance('web1', 'n1'),
    // Should run but does not: its room is kept on n1 all the same.
    instance('web2', 'n1', { beParams: { maxmemMiB: 128 } }),
    instance('idle', 'n2', { adminState: 'down', diskTemplate: 'diskless', disks: [] }),
  ],
};
const figures = (running: { name: string; memoryMiB: number }[], freeMiB: number): NodeFigures => ({
  instances: running.map((r) => ({
    ...r,
    uuid: r.name,
    hypervisor: 'fake',
    state: 'running',
    vcpus: 1,
    startedMs: 0,
  })),
  mirrors: [],
  memoryTotalMiB: 1024,
  memoryFreeMiB: freeMiB,
  memoryInstancesMiB: running.reduce((s, r) => s + r.memoryMiB, 0),
  cpus: 4,
  storage: [{ template: 'file', available: true, totalMiB: 10_000, freeMiB: 9_000 }],
});

describe('the live snapshot', () => {
  // n4 did not answer.
  const reports = new Map([
    ['n1', figures([{ name: 'web1', memoryMiB: 256 }], 1024 - 256 - 100)],
    ['n2', figures([], 1024)],
    ['n3', figures([], 1024)],
  ]);
  const snapshot = liveSnapshot(config, reports);

  it('takes memory, disk and CPUs from the nodes, keeping room for primaries that should run', () => {
    const n1 = snapshot.nodes.find((n) => n.name === 'n1')!;
    expect(n1).toMatchObject({
      totalMemoryMiB: 1024,
      // 100 MiB the node uses itself; web2's 128 MiB are kept for it although it does not run.
      nodeMemoryMiB: 100,
      freeMemoryMiB: 1024 - 256 - 100 - 128,
      totalDiskMiB: 10_000,
      freeDiskMiB: 9_000,
      totalCpus: 4,
      master: true,
      offline: false,
    });
    expect(snapshot.nodes.map((n) => [n.name, n.offline, n.drained])).toEqual([
      ['n1', false, false],
      ['n2', false, false],
      ['n3', false, true],
      ['n4', true, false],
    ]);
  });

  it("gives instances their size, template and Ganeti's run state", () => {
    expect(snapshot.instances.map((i) => [i.name, i.status, i.primary, i.memoryMiB, i.diskSpaceMiB])).toEqual(
      [
        ['idle', 'ADMIN_down', 'n2', 256, 0],
        ['web1', 'running', 'n1', 256, 100],
        ['web2', 'ERROR_down', 'n1', 128, 100],
      ],
    );
    expect(snapshot.instances[1]).toMatchObject({ vcpus: 2, diskTemplate: 'file', tags: ['svc:web'] });
  });

  it('uses the enabled templates and the cluster tags, and loads into the allocator state', () => {
    expect(snapshot.clusterPolicy).toEqual(livePolicy(['file', 'diskless']));
    expect(snapshot.clusterPolicy.diskTemplates).toEqual(['file', 'diskless']);
    const state = buildState(snapshot);
    expect(state.instances.find((i) => i.name === 'web1')?.exclTags).toEqual(['svc:web']);
    // A drained node and one that did not answer take no new instances.
    expect(state.nodes.filter((n) => n.offline).map((n) => n.name)).toEqual(['n3', 'n4']);
  });
});
