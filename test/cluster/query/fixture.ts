import type { JobView } from '../../../src/cluster/job-views.js';
import type { LiveNode, LiveStatus, ObservedNode } from '../../../src/cluster/query/index.js';
import type { ConfigView, InstanceView, NodeView } from '../../../src/cluster/views.js';

/**
 * A small cluster shaped like the one the golden RAPI captures were taken from: one group, a master that
 * runs two of three instances (one diskless and running, one file-backed and down), plus an offline node and
 * a drained one, and a few jobs.
 */

const times = { ctimeMs: 1_795_501_585_441.886, mtimeMs: 1_795_501_585_687.592 };

function node(n: number, changes: Partial<NodeView> = {}): NodeView {
  return {
    uuid: `n-${n}`,
    name: `node${n}`,
    id: `peer${n}`,
    addrs: [`/ip4/127.0.0.${n}/tcp/7400`],
    primaryIp: `198.51.100.${n}`,
    secondaryIp: `198.51.100.${n}`,
    group: 'g-1',
    masterCandidate: true,
    masterCapable: true,
    vmCapable: true,
    drained: false,
    offline: false,
    tags: [],
    ...times,
    serial: 1,
    ...changes,
  };
}

function instance(name: string, changes: Partial<InstanceView> = {}): InstanceView {
  return {
    uuid: `uuid-${name}`,
    name,
    primaryNode: 'n-1',
    secondaryNodes: [],
    os: 'noop',
    hypervisor: 'fake',
    hvParams: {},
    beParams: { maxmemMiB: 128, minmemMiB: 128 },
    osParams: {},
    diskTemplate: 'diskless',
    disks: [],
    nics: [{ uuid: `nic-${name}`, mac: 'aa:00:00:67:58:ed', mode: 'bridged', link: 'gntbr0' }],
    adminState: 'up',
    adminStateSource: 'admin',
    disksActive: true,
    tags: [],
    ...times,
    serial: 2,
    ...changes,
  };
}

export const config: ConfigView = {
  cluster: {
    name: 'cluster.example',
    uuid: 'cluster-uuid',
    ...times,
    candidatePoolSize: 10,
    enabledHypervisors: ['fake'],
    enabledDiskTemplates: ['file', 'diskless'],
    maxRunningJobs: 20,
    candidateDeadGraceMs: 60_000,
    ha: {
      leaseMs: 30_000,
      fenceMarginMs: 5_000,
      clockDriftPpm: 1000,
      previousLeaseMs: 0,
      autoFailover: true,
    },
    beParams: {
      maxmemMiB: 128,
      minmemMiB: 128,
      vcpus: 1,
      autoBalance: true,
      alwaysFailover: false,
      spindleUse: 1,
    },
    nicParams: { mode: 'bridged', link: 'gntbr0' },
    macPrefix: 'aa:00:00',
    tags: [],
  },
  serial: 7,
  master: 'peer1',
  groups: [
    {
      uuid: 'g-1',
      name: 'default',
      allocPolicy: 'preferred',
      tags: [],
      ctimeMs: 0,
      mtimeMs: times.mtimeMs,
      serial: 1,
    },
    {
      uuid: 'g-2',
      name: 'rack2',
      allocPolicy: 'last_resort',
      diskTemplates: ['file'],
      tags: ['cold'],
      ...times,
      serial: 3,
    },
  ],
  nodes: [
    node(1),
    node(2, { offline: true, masterCandidate: false }),
    node(10, { drained: true, masterCandidate: false, group: 'g-2' }),
  ],
  instances: [
    instance('inst3', {
      nics: [{ uuid: 'nic-inst3', mac: 'aa:00:00:a3:01:16', mode: 'routed', link: 'rt0', ip: '192.0.2.9' }],
    }),
    instance('inst1', { tags: ['web'] }),
    instance('inst2', {
      adminState: 'down',
      diskTemplate: 'file',
      beParams: { maxmemMiB: 256, minmemMiB: 256, vcpus: 2 },
      disks: [{ uuid: 'disk-inst2-0', sizeMiB: 1024, mode: 'rw', format: 'raw' }],
      nics: [{ uuid: 'nic-inst2', mac: 'aa:00:00:50:d5:ab', mode: 'bridged', link: 'gntbr0' }],
      disksActive: false,
    }),
  ],
};

const running = (name: string, memoryMiB: number, vcpus: number) => ({
  name,
  uuid: `uuid-${name}`,
  hypervisor: 'fake' as const,
  state: 'running' as const,
  memoryMiB,
  vcpus,
  startedMs: 0,
});

export const node1Status: LiveStatus = {
  instances: [running('inst1', 128, 1), running('inst3', 128, 1)],
  mirrors: [],
  memoryTotalMiB: 24105,
  memoryFreeMiB: 23366,
  memoryInstancesMiB: 256,
  cpus: 2,
  cpuSockets: 1,
  numaNodes: 1,
  storage: [
    { template: 'file', available: true, totalMiB: 258019, freeMiB: 80461 },
    { template: 'diskless', available: true },
  ],
};

/** node1 answers; node2 is offline, so nobody asks it; node10 does not answer. */
export const live: LiveNode[] = [
  { name: 'node1', status: node1Status },
  { name: 'node10', error: 'timed out' },
];

export const observed: ObservedNode[] = [
  { id: 'peer1', state: 'alive', lastHeardAgeMs: 200, stale: false },
  { id: 'peer10', state: 'suspect', lastHeardAgeMs: 9000, stale: true },
];

export const jobs: JobView[] = [
  {
    id: 2,
    status: 'success',
    priority: 0,
    ops: [
      {
        input: {
          OP_ID: 'OP_INSTANCE_FAILOVER',
          instance_name: 'inst1',
          reason: [['gnt:corral:auto-failover', 'node3 is held dead', 1_795_501_590]],
        },
        status: 'success',
        result: null,
        startMs: 1_795_501_590_249.959,
        endMs: 1_795_501_591_102.908,
      },
    ],
    log: [{ serial: 1, tsMs: 1_795_501_590_634.334, type: 'message', message: '* failing over...' }],
    receivedMs: 1_795_501_590_016.612,
    startMs: 1_795_501_590_249.959,
    endMs: 1_795_501_591_102.908,
    version: 4,
  },
  {
    id: 1,
    status: 'running',
    priority: 0,
    ops: [
      {
        input: { OP_ID: 'OP_CLUSTER_VERIFY' },
        status: 'success',
        result: true,
        startMs: 1_000,
        endMs: 2_000,
      },
      { input: { OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'inst2' }, status: 'running', startMs: 2_500 },
    ],
    log: [
      { serial: 1, tsMs: 1_500, type: 'message', message: 'verifying' },
      { serial: 2, tsMs: 2_600, type: 'message', message: 'starting inst2' },
    ],
    receivedMs: 900,
    startMs: 1_000,
    version: 3,
  },
  {
    id: 3,
    status: 'queued',
    priority: 0,
    ops: [{ input: { OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'inst3' }, status: 'queued' }],
    log: [],
    receivedMs: 1_795_501_600_000,
    version: 1,
  },
];
