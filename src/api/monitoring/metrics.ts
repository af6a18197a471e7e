import { z } from 'zod';
import { type InstanceStatusName, instanceStatus, type NodeReport } from '../../cluster/instance-status.js';
import { isFinished, jobStatuses } from '../../cluster/jobs.js';
import { adminStates } from '../../cluster/model.js';
import type { ControlResponse } from '../../daemon/control-replies.js';

/**
 * The Prometheus figures of one scrape as pure functions of the local daemon's control answers: no
 * prom-client here, so what a scrape shows is tested from canned answers alone.
 */

/** What one scrape asks the local daemon; every answer comes from this node's own state, none from the network. */
export interface ScrapeAnswers {
  /** Absent while the node belongs to no cluster (raft-status answers `unavailable`). */
  readonly raft: ControlResponse<'raft-status'> | undefined;
  readonly health: ControlResponse<'health'>;
  readonly jobs: ControlResponse<'jobs'>;
  readonly config: ControlResponse<'config'>;
  readonly reports: ControlResponse<'monitor-reports'>;
}

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  readonly labels: Labels;
  readonly value: number;
}

export interface GaugeSpec {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
}

/** Every gauge a scrape sets, by key. Units last in the names, as Prometheus has it. */
export const gaugeSpecs = {
  raftTerm: { name: 'corral_raft_term', help: 'Current Raft term as this node knows it.', labelNames: [] },
  raftCommitIndex: {
    name: 'corral_raft_commit_index',
    help: 'Highest Raft log index this node knows to be committed.',
    labelNames: [],
  },
  raftAppliedIndex: {
    name: 'corral_raft_applied_index',
    help: "Highest Raft log index applied to this node's replica of the cluster state.",
    labelNames: [],
  },
  raftRole: {
    name: 'corral_raft_role',
    help: 'This node\'s Raft role: 1 for the role it has, 0 for the others; "none" before it joins a cluster.',
    labelNames: ['role'],
  },
  raftLeaderKnown: {
    name: 'corral_raft_leader_known',
    help: '1 when this node knows the current Raft leader (the master), 0 otherwise.',
    labelNames: [],
  },
  raftVoters: { name: 'corral_raft_voters', help: 'Voting members of the Raft group.', labelNames: [] },
  raftLearners: {
    name: 'corral_raft_learners',
    help: 'Non-voting members (learners) of the Raft group.',
    labelNames: [],
  },
  gossipMembers: {
    name: 'corral_gossip_members',
    help: "Cluster members as this node's gossip sees them, by state.",
    labelNames: ['state'],
  },
  gossipStaleMembers: {
    name: 'corral_gossip_stale_members',
    help: 'Members not heard from first-hand for several heartbeats, or never: their figures may be old.',
    labelNames: [],
  },
  gossipLastHeardAge: {
    name: 'corral_gossip_last_heard_age_seconds',
    help: 'Time since this node last had a first-hand sign of life from each member.',
    labelNames: ['node'],
  },
  nodeMemoryTotal: {
    name: 'corral_node_memory_total_bytes',
    help: 'Physical memory of each node, from its gossiped health record.',
    labelNames: ['node'],
  },
  nodeMemoryFree: {
    name: 'corral_node_memory_free_bytes',
    help: 'Free memory of each node, from its gossiped health record.',
    labelNames: ['node'],
  },
  nodeInstanceMemory: {
    name: 'corral_node_instance_memory_bytes',
    help: 'Memory held by the instances each node runs, from its gossiped health record.',
    labelNames: ['node'],
  },
  nodeStorageFree: {
    name: 'corral_node_storage_free_bytes',
    help: 'Free space of each storage dir of each node, from its gossiped health record.',
    labelNames: ['node', 'path'],
  },
  nodeStorageTotal: {
    name: 'corral_node_storage_total_bytes',
    help: 'Size of each storage dir of each node, from its gossiped health record.',
    labelNames: ['node', 'path'],
  },
  nodeLoad1: {
    name: 'corral_node_load1',
    help: 'One-minute load average of each node, from its gossiped health record.',
    labelNames: ['node'],
  },
  nodeCpuUsage: {
    name: 'corral_node_cpu_usage_ratio',
    help: 'Busy share of all CPUs of each node (0 to 1), from its gossiped health record.',
    labelNames: ['node'],
  },
  nodeInstancesRunning: {
    name: 'corral_node_instances_running',
    help: 'Instances each node runs (paused ones included), from its gossiped health record.',
    labelNames: ['node'],
  },
  nodeConfigSerial: {
    name: 'corral_node_config_serial',
    help: 'Highest configuration serial each node has applied, from its gossiped health record.',
    labelNames: ['node'],
  },
  nodeMonitorStatus: {
    name: 'corral_node_monitor_status_code',
    help: "Status code of each status collector of each node (Ganeti's bits: 0 ok, 1 fixing, 2 unknown, 4 broken).",
    labelNames: ['node', 'collector'],
  },
  configSerial: {
    name: 'corral_config_serial',
    help: "Serial of the cluster configuration this node's replica holds; 0 before the cluster exists.",
    labelNames: [],
  },
  nodes: {
    name: 'corral_nodes',
    help: 'Nodes of the configuration by Ganeti role (master, candidate, regular, drained, offline).',
    labelNames: ['role'],
  },
  instances: {
    name: 'corral_instances',
    help: 'Instances of the configuration by admin state.',
    labelNames: ['admin_state'],
  },
  localInstances: {
    name: 'corral_local_instances',
    help: 'Instances whose primary node is this node, by Ganeti status (running, ERROR_down, ADMIN_down...).',
    labelNames: ['status'],
  },
  jobs: {
    name: 'corral_jobs',
    help: "Jobs in the queue as this node's replica has them, by status; finished jobs stay until archived.",
    labelNames: ['status'],
  },
} as const satisfies Record<string, GaugeSpec>;

export type GaugeKey = keyof typeof gaugeSpecs;
export type GaugeValues = Record<GaugeKey, Sample[]>;

export const opDurationSpec = {
  name: 'corral_job_opcode_duration_seconds',
  help: 'How long each finished opcode ran, from its start to its end, by opcode.',
  labelNames: ['opcode'],
  buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
} as const;

/** Raft roles always shown, so a role change flips two series rather than making one appear. */
const raftRoles = ['leader', 'follower', 'preCandidate', 'candidate', 'none'] as const;
const memberStates = ['alive', 'suspect', 'dead', 'left'] as const;
const nodeRoles = ['master', 'candidate', 'regular', 'drained', 'offline'] as const;
const instanceStatuses = [
  'running',
  'ADMIN_down',
  'ADMIN_offline',
  'USER_down',
  'ERROR_down',
  'ERROR_up',
  'ERROR_wrongnode',
  'ERROR_nodedown',
  'ERROR_nodeoffline',
] as const satisfies readonly InstanceStatusName[];

/** What the figures need of a job record; the rest (input fields, log) is left unread. */
const jobFiguresSchema = z.object({
  id: z.number(),
  status: z.enum(jobStatuses),
  ops: z.array(
    z.object({
      input: z.object({ OP_ID: z.string() }),
      status: z.enum(jobStatuses),
      startMs: z.number().optional(),
      endMs: z.number().optional(),
    }),
  ),
});
export type JobFigures = z.infer<typeof jobFiguresSchema>;

/** What the figures need of the configuration view (src/cluster/views.ts). */
const configFiguresSchema = z.object({
  serial: z.number(),
  master: z.string().optional(),
  nodes: z.array(
    z.object({
      uuid: z.string(),
      id: z.string(),
      name: z.string(),
      masterCandidate: z.boolean(),
      drained: z.boolean(),
      offline: z.boolean(),
    }),
  ),
  instances: z.array(
    z.object({
      name: z.string(),
      primaryNode: z.string(),
      adminState: z.enum(adminStates),
      adminStateSource: z.enum(['admin', 'user']),
    }),
  ),
});
type ConfigFigures = z.infer<typeof configFiguresSchema>;

/** The inst-status report's instances, as far as the local status needs them. */
const instStatusDataSchema = z.object({
  instances: z.array(z.object({ name: z.string(), actual_state: z.enum(['up', 'down', 'hung']) })),
});

export function jobFigures(jobs: readonly unknown[]): JobFigures[] {
  return z.array(jobFiguresSchema).parse(jobs);
}

/** Every label value of `values` once, at 0 unless counted. */
function counts(label: string, values: readonly string[], counted: readonly string[]): Sample[] {
  const tally = new Map<string, number>(values.map((value) => [value, 0]));
  for (const value of counted) tally.set(value, (tally.get(value) ?? 0) + 1);
  return [...tally].map(([value, count]) => ({ labels: { [label]: value }, value: count }));
}

const one = (value: number): Sample[] => [{ labels: {}, value }];

function raftGauges(raft: ScrapeAnswers['raft']): Pick<GaugeValues, Extract<GaugeKey, `raft${string}`>> {
  const role = raft?.role ?? 'none';
  const roles: readonly string[] = raftRoles.includes(role as (typeof raftRoles)[number])
    ? raftRoles
    : [...raftRoles, role];
  return {
    raftTerm: one(raft?.term ?? 0),
    raftCommitIndex: one(raft?.commit ?? 0),
    raftAppliedIndex: one(raft?.applied ?? 0),
    raftRole: roles.map((r) => ({ labels: { role: r }, value: r === role ? 1 : 0 })),
    raftLeaderKnown: one(raft?.leader === undefined ? 0 : 1),
    raftVoters: one(raft?.voters.length ?? 0),
    raftLearners: one(raft?.learners.length ?? 0),
  };
}

function healthGauges(health: ScrapeAnswers['health']) {
  const rows = health.rows;
  const withHealth = rows.flatMap((row) =>
    row.health === undefined ? [] : [{ node: row.node, h: row.health }],
  );
  const perNode = (value: (h: (typeof withHealth)[number]['h']) => number): Sample[] =>
    withHealth.map(({ node, h }) => ({ labels: { node }, value: value(h) }));
  const storage = (field: 'freeBytes' | 'totalBytes'): Sample[] =>
    withHealth.flatMap(({ node, h }) =>
      h.storage.flatMap((dir) => {
        const value = dir[field];
        return value === undefined ? [] : [{ labels: { node, path: dir.path }, value }];
      }),
    );
  return {
    gossipMembers: counts(
      'state',
      memberStates,
      rows.map((row) => row.state),
    ),
    gossipStaleMembers: one(rows.filter((row) => row.stale).length),
    gossipLastHeardAge: rows.flatMap((row) =>
      row.lastHeardAgeMs === undefined
        ? []
        : [{ labels: { node: row.node }, value: row.lastHeardAgeMs / 1000 }],
    ),
    nodeMemoryTotal: perNode((h) => h.memoryTotalBytes),
    nodeMemoryFree: perNode((h) => h.memoryFreeBytes),
    nodeInstanceMemory: perNode((h) => h.instanceMemoryBytes),
    nodeStorageFree: storage('freeBytes'),
    nodeStorageTotal: storage('totalBytes'),
    nodeLoad1: perNode((h) => h.load1),
    nodeCpuUsage: perNode((h) => h.cpuUsePercent / 100),
    nodeInstancesRunning: perNode((h) => h.instancesRunning),
    nodeConfigSerial: perNode((h) => h.configSerial),
    nodeMonitorStatus: withHealth.flatMap(({ node, h }) =>
      (h.monitor ?? []).map((summary) => ({
        labels: { node, collector: summary.name },
        value: summary.code,
      })),
    ),
  } satisfies Partial<GaugeValues>;
}

/** Ganeti's node role (gnt-node list's M, C, D, O, R) spelt out, decided in Ganeti's order. */
function nodeRole(node: ConfigFigures['nodes'][number], master: string | undefined): string {
  if (node.id === master) return 'master';
  if (node.masterCandidate) return 'candidate';
  if (node.drained) return 'drained';
  if (node.offline) return 'offline';
  return 'regular';
}

/**
 * This node as instanceStatus needs it: the instances its inst-status report has on it (running or paused),
 * or unreachable when the node agent gave no report, which is what Ganeti calls ERROR_nodedown.
 */
function selfReport(reports: readonly unknown[]): NodeReport {
  const instStatus = reports.find(
    (report) => (report as { name?: unknown } | null)?.name === 'inst-status',
  ) as { data?: unknown } | undefined;
  const data = instStatusDataSchema.safeParse(instStatus?.data);
  if (!data.success) return { reachable: false };
  const onNode = data.data.instances.filter((i) => i.actual_state !== 'down');
  return { reachable: true, running: new Set(onNode.map((i) => i.name)) };
}

function configGauges(answers: ScrapeAnswers) {
  const { config: answer, reports } = answers;
  if (answer.config === undefined)
    return {
      configSerial: one(0),
      nodes: [],
      instances: [],
      localInstances: [],
    } satisfies Partial<GaugeValues>;
  const config = configFiguresSchema.parse(answer.config);
  const nodeByUuid = new Map(config.nodes.map((node) => [node.uuid, node]));
  const self = config.nodes.find((node) => node.id === answer.self);
  const local = self === undefined ? [] : config.instances.filter((i) => i.primaryNode === self.uuid);
  const here = new Map([[self?.name ?? '', selfReport(reports.reports)]]);
  return {
    configSerial: one(config.serial),
    nodes: counts(
      'role',
      nodeRoles,
      config.nodes.map((node) => nodeRole(node, config.master)),
    ),
    instances: counts(
      'admin_state',
      adminStates,
      config.instances.map((i) => i.adminState),
    ),
    localInstances: counts(
      'status',
      instanceStatuses,
      local.map((i) => {
        const primary = nodeByUuid.get(i.primaryNode);
        return instanceStatus(
          {
            name: i.name,
            adminState: i.adminState,
            adminStateSource: i.adminStateSource,
            primary: { name: primary?.name ?? '', offline: primary?.offline ?? false },
          },
          here,
        );
      }),
    ),
  } satisfies Partial<GaugeValues>;
}

export interface ScrapeFigures {
  readonly gauges: GaugeValues;
  /** The job records as the opcode durations need them. */
  readonly jobs: JobFigures[];
}

/** Every gauge's samples for one scrape. Throws when the daemon's configuration or jobs do not have their shape. */
export function scrapeFigures(answers: ScrapeAnswers): ScrapeFigures {
  const jobs = jobFigures(answers.jobs.jobs);
  const gauges: GaugeValues = {
    ...raftGauges(answers.raft),
    ...healthGauges(answers.health),
    ...configGauges(answers),
    jobs: counts(
      'status',
      jobStatuses,
      jobs.map((job) => job.status),
    ),
  };
  return { gauges, jobs };
}

export interface OpDuration {
  readonly opcode: string;
  readonly seconds: number;
}

/**
 * The opcodes that finished since the last scrape, with how long each ran. `seen` holds, per job still in
 * the queue, how many of its leading opcodes were already counted (a job's opcodes run in order); jobs gone
 * from the queue (archived) drop out of it, so it never outgrows the queue. An opcode that never started
 * (canceled, or failed behind an earlier one) is passed over without a duration.
 */
export function newOpDurations(
  jobs: readonly JobFigures[],
  seen: ReadonlyMap<number, number>,
): { readonly durations: OpDuration[]; readonly seen: Map<number, number> } {
  const durations: OpDuration[] = [];
  const next = new Map<number, number>();
  for (const job of jobs) {
    let counted = seen.get(job.id) ?? 0;
    for (; counted < job.ops.length; counted++) {
      const op = job.ops[counted]!;
      if (!isFinished(op.status)) break;
      if (op.startMs !== undefined && op.endMs !== undefined && op.endMs >= op.startMs)
        durations.push({ opcode: op.input.OP_ID, seconds: (op.endMs - op.startMs) / 1000 });
    }
    if (counted > 0) next.set(job.id, counted);
  }
  return { durations, seen: next };
}
