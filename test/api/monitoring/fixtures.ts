import { type JobView, jobViewSchema } from '../../../src/cluster/job-views.js';
import { DEFAULT_HA_PARAMS } from '../../../src/cluster/lease.js';
import { DEFAULT_BE_PARAMS } from '../../../src/cluster/model.js';
import { type ConfigView, configViewSchema } from '../../../src/cluster/views.js';
import type { LogFields, Logger } from '../../../src/common/log.js';
import { silentLogger } from '../../../src/common/log.js';
import type { ControlRequest } from '../../../src/daemon/control-protocol.js';
import { type ControlResponse, controlResponseSchemas } from '../../../src/daemon/control-replies.js';
import type { DaemonCall } from '../../../src/daemon/job-client.js';
import type { HealthRecord } from '../../../src/membership/health.js';
import {
  cpuAvgLoadReport,
  instanceStatusReport,
  nodeMemoryReport,
  storageDirsReport,
} from '../../../src/membership/monitor-reports.js';

/** Canned control answers as a daemon gives them, each checked against its schema so that they stay realistic. */

export const NOW_MS = 1_795_501_727_305;
const GIB = 1024 ** 3;
const times = { ctimeMs: NOW_MS - 86_400_000, mtimeMs: NOW_MS - 3_600_000 };

export type Answers = { [Op in ControlRequest['op']]?: ControlResponse<Op> | Error };

export interface FakeDaemon {
  readonly call: DaemonCall;
  /** Every request made, in order. */
  readonly requests: ControlRequest[];
  /** Answers may be swapped between requests. */
  answers: Answers;
}

export function fakeDaemon(answers: Answers): FakeDaemon {
  const daemon: FakeDaemon = {
    requests: [],
    answers,
    call: (async (request: ControlRequest) => {
      daemon.requests.push(request);
      const answer = daemon.answers[request.op];
      if (answer === undefined) throw new Error(`the fake daemon has no answer for ${request.op}`);
      if (answer instanceof Error) throw answer;
      return answer;
    }) as DaemonCall,
  };
  return daemon;
}

/** A logger that keeps its lines, to count them. */
export function recordingLogger(): Logger & {
  readonly lines: { level: string; fields: LogFields; message: string }[];
} {
  const lines: { level: string; fields: LogFields; message: string }[] = [];
  const at =
    (level: string) =>
    (fields: LogFields, message: string): void => {
      lines.push({ level, fields, message });
    };
  const logger = {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  };
  return logger;
}

export { silentLogger };

const node = (
  name: string,
  extra: Partial<ConfigView['nodes'][number]> = {},
): ConfigView['nodes'][number] => ({
  uuid: `u-${name}`,
  name,
  id: `peer-${name}`,
  addrs: [`/ip4/127.0.0.1/tcp/7400`],
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
  beParams: { maxmemMiB: 256, vcpus: 1 },
  osParams: {},
  diskTemplate: 'file',
  disks: [{ uuid: `d-${name}`, sizeMiB: 1024, mode: 'rw', format: 'raw' }],
  nics: [],
  adminState: 'up',
  adminStateSource: 'admin',
  disksActive: true,
  tags: [],
  serial: 1,
  ...times,
  ...extra,
});

/** Four nodes: n1 (this node, the master), n2 a candidate, n3 drained, n4 a regular node. */
export const configView: ConfigView = configViewSchema.parse({
  cluster: {
    name: 'c1',
    uuid: 'u-c1',
    ...times,
    candidatePoolSize: 3,
    enabledHypervisors: ['fake'],
    enabledDiskTemplates: ['file', 'diskless'],
    maxRunningJobs: 20,
    candidateDeadGraceMs: 60_000,
    ha: DEFAULT_HA_PARAMS,
    beParams: DEFAULT_BE_PARAMS,
    nicParams: { mode: 'none', link: '' },
    macPrefix: 'aa:00:00',
    tags: [],
  },
  serial: 42,
  master: 'peer-n1',
  groups: [{ uuid: 'g1', name: 'default', allocPolicy: 'preferred', tags: [], serial: 1, ...times }],
  nodes: [
    node('n1'),
    node('n2'),
    node('n3', { drained: true, masterCandidate: false }),
    node('n4', { masterCandidate: false }),
  ],
  instances: [
    // On n1: one runs as it should, one should run but does not, three are down in their three ways.
    instance('web1', 'n1'),
    instance('web2', 'n1'),
    instance('idle', 'n1', { adminState: 'down' }),
    instance('parked', 'n1', { adminState: 'down', adminStateSource: 'user' }),
    instance('retired', 'n1', { adminState: 'offline' }),
    instance('db', 'n2'),
  ],
} satisfies ConfigView);

export const configAnswer: ControlResponse<'config'> = controlResponseSchemas.config.parse({
  config: configView,
  master: 'peer-n1',
  self: 'peer-n1',
  raft: { role: 'leader', term: 7, voters: ['peer-n1', 'peer-n2', 'peer-n3'], learners: ['peer-n4'] },
});

export const raftAnswer: ControlResponse<'raft-status'> = controlResponseSchemas['raft-status'].parse({
  id: 'peer-n1',
  role: 'leader',
  term: 7,
  leader: 'peer-n1',
  commit: 1234,
  applied: 1230,
  voters: ['peer-n1', 'peer-n2', 'peer-n3'],
  learners: ['peer-n4'],
});

function healthRecord(changes: Partial<HealthRecord>): HealthRecord {
  return {
    load1: 0.5,
    load5: 0.4,
    load15: 0.3,
    cpuCount: 4,
    cpuUsePercent: 12.5,
    memoryTotalBytes: 16 * GIB,
    memoryFreeBytes: 10 * GIB,
    storage: [{ path: '/srv/corral/file-storage', freeBytes: 80 * GIB, totalBytes: 100 * GIB }],
    instancesRunning: 1,
    instanceMemoryBytes: 256 * 1024 ** 2,
    version: '0.1.0',
    configSerial: 42,
    raftRole: 'follower',
    collectedWallMs: NOW_MS - 1_000,
    ...changes,
  };
}

/** n1 and n2 alive, n3 suspect and stale, n4 dead and never heard from. */
export const healthAnswer: ControlResponse<'health'> = controlResponseSchemas.health.parse({
  self: 'peer-n1',
  rows: [
    {
      node: 'n1',
      id: 'peer-n1',
      state: 'alive',
      incarnation: 3,
      lastHeardAgeMs: 0,
      stateAgeMs: 600_000,
      stale: false,
      healthAgeMs: 1_000,
      health: healthRecord({ raftRole: 'leader', monitor: [{ name: 'inst-status', code: 1 }] }),
    },
    {
      node: 'n2',
      id: 'peer-n2',
      state: 'alive',
      incarnation: 1,
      lastHeardAgeMs: 800,
      stateAgeMs: 600_000,
      stale: false,
      healthAgeMs: 1_800,
      health: healthRecord({
        memoryFreeBytes: 4 * GIB,
        load1: 1.25,
        storage: [
          { path: '/srv/corral/file-storage', freeBytes: 20 * GIB, totalBytes: 100 * GIB },
          { path: '/srv/corral/unreadable' },
        ],
        monitor: [{ name: 'inst-status', code: 0 }],
      }),
    },
    {
      node: 'n3',
      id: 'peer-n3',
      state: 'suspect',
      incarnation: 5,
      lastHeardAgeMs: 9_500,
      stateAgeMs: 4_000,
      stale: true,
      healthAgeMs: 9_500,
      health: healthRecord({ instancesRunning: 0, instanceMemoryBytes: 0 }),
    },
    { node: 'n4', id: 'peer-n4', state: 'dead', incarnation: 2, stateAgeMs: 120_000, stale: true },
  ],
});

function job(changes: Partial<JobView> & Pick<JobView, 'id' | 'status' | 'ops'>): JobView {
  return jobViewSchema.parse({
    priority: 0,
    log: [{ serial: 1, tsMs: NOW_MS - 60_000, type: 'message', message: 'working' }],
    receivedMs: NOW_MS - 60_000,
    version: 3,
    ...changes,
  });
}

/** Two finished jobs, one running, one queued, one canceled before it started. */
export const jobsList: JobView[] = [
  job({
    id: 1,
    status: 'success',
    ops: [
      {
        input: { OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'web1' },
        status: 'success',
        startMs: NOW_MS - 50_000,
        endMs: NOW_MS - 47_500,
      },
    ],
  }),
  job({
    id: 2,
    status: 'error',
    ops: [
      {
        input: { OP_ID: 'OP_TEST_DELAY', duration: 0.2 },
        status: 'error',
        result: { code: 'internal', message: 'delay failed' },
        startMs: NOW_MS - 40_000,
        endMs: NOW_MS - 39_700,
      },
      // Failed behind the first: it never started.
      { input: { OP_ID: 'OP_TEST_DELAY', duration: 0.2 }, status: 'error' },
    ],
  }),
  job({
    id: 3,
    status: 'running',
    ops: [
      {
        input: { OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'web2' },
        status: 'success',
        startMs: NOW_MS - 30_000,
        endMs: NOW_MS - 29_000,
      },
      {
        input: { OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: 'web2' },
        status: 'running',
        startMs: NOW_MS - 29_000,
      },
    ],
  }),
  job({ id: 4, status: 'queued', ops: [{ input: { OP_ID: 'OP_CLUSTER_VERIFY' }, status: 'queued' }] }),
  job({ id: 5, status: 'canceled', ops: [{ input: { OP_ID: 'OP_CLUSTER_VERIFY' }, status: 'canceled' }] }),
];

export const jobsAnswer: ControlResponse<'jobs'> = controlResponseSchemas.jobs.parse({
  jobs: jobsList,
  staleMs: 120,
});

/** This node's reports from Corral's own collectors: web1 runs here, web2 does not. */
export const corralReports = [
  cpuAvgLoadReport(
    [
      [
        { busyMs: 100, totalMs: 1000 },
        { busyMs: 0, totalMs: 1000 },
      ],
      [
        { busyMs: 350, totalMs: 2000 },
        { busyMs: 500, totalMs: 2000 },
      ],
    ],
    NOW_MS,
  ),
  instanceStatusReport(
    configView.instances
      .filter((i) => i.primaryNode === 'u-n1')
      .map((i) => ({ name: i.name, uuid: i.uuid, adminState: i.adminState, mtimeMs: i.mtimeMs })),
    [
      {
        name: 'web1',
        uuid: 'i-web1',
        hypervisor: 'fake',
        state: 'running',
        memoryMiB: 256,
        vcpus: 1,
        startedMs: NOW_MS - 90_000,
      },
    ],
    NOW_MS,
  ),
  nodeMemoryReport({ memoryTotalMiB: 16_384, memoryFreeMiB: 10_240, memoryInstancesMiB: 256 }, NOW_MS),
  storageDirsReport(
    [{ path: '/srv/corral/file-storage', freeBytes: 80 * GIB, totalBytes: 100 * GIB }],
    NOW_MS,
  ),
];

export const reportsAnswer: ControlResponse<'monitor-reports'> = controlResponseSchemas[
  'monitor-reports'
].parse({
  node: 'n1',
  reports: corralReports,
});

/** Every answer a scrape or a mond request needs, for a healthy cluster. */
export function healthyAnswers(): Answers {
  return {
    'raft-status': raftAnswer,
    health: healthAnswer,
    jobs: jobsAnswer,
    config: configAnswer,
    'monitor-reports': reportsAnswer,
  };
}
