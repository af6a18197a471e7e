import type { Opcode } from '../cluster/opcodes.js';
import { type ClusterState, type InstState, noNode } from './state.js';

/**
 * harep's decisions (Ganeti's Program/Harep.hs): which instances auto-repair may touch (the
 * ganeti:watcher:autorepair tags of the cluster, node group and instance), what state each instance's repair
 * tags say it is in, what is broken and which jobs repair it. The jobs and tag changes themselves are the
 * shell's (src/cli/htools/harep.ts).
 */

/** From least destructive to most: a policy allowing one allows those before it. */
export const repairTypes = ['fix-storage', 'migrate', 'failover', 'reinstall'] as const;
export type RepairType = (typeof repairTypes)[number];

/** Later results take precedence when an instance carries several. */
export const repairResults = ['enoperm', 'success', 'failure'] as const;
export type RepairResult = (typeof repairResults)[number];

export type RepairPolicy =
  | { readonly kind: 'enabled'; readonly upTo: RepairType }
  | { readonly kind: 'suspended'; readonly untilS: number | 'forever' }
  | { readonly kind: 'not-enabled' };

export interface RepairData {
  readonly type: RepairType;
  readonly uuid: string;
  /** Seconds since the epoch. */
  readonly timeS: number;
  readonly jobs: readonly number[];
  readonly result: RepairResult | undefined;
  /** The tag that records it. */
  readonly tag: string;
}

export type RepairStatus =
  | { readonly kind: 'healthy'; readonly data: RepairData | undefined }
  | { readonly kind: 'needs-repair'; readonly data: RepairData }
  | { readonly kind: 'pending'; readonly data: RepairData }
  | { readonly kind: 'failed'; readonly data: RepairData };

export interface InstanceRepair {
  readonly instance: InstState;
  readonly status: RepairStatus;
  readonly tagsToRemove: readonly string[];
}

const PREFIX = 'ganeti:watcher:autorepair:';
const PENDING = `${PREFIX}pending:`;
const RESULT = `${PREFIX}result:`;
const SUSPEND = `${PREFIX}suspend:`;

/** Haskell's show of the repair type, as harep prints it. */
export const showRepairType = (type: RepairType): string =>
  ({ 'fix-storage': 'ArFixStorage', migrate: 'ArMigrate', failover: 'ArFailover', reinstall: 'ArReinstall' })[
    type
  ];

export const stateName = (status: RepairStatus): string =>
  ({ healthy: 'Healthy', failed: 'Failure', pending: 'Pending repair', 'needs-repair': 'Needs repair' })[
    status.kind
  ];

export function showPolicy(policy: RepairPolicy): string {
  if (policy.kind === 'not-enabled') return 'ArNotEnabled';
  if (policy.kind === 'enabled') return `ArEnabled ${showRepairType(policy.upTo)}`;
  return policy.untilS === 'forever' ? 'ArSuspended Forever' : `ArSuspended (Until TOD ${policy.untilS} 0)`;
}

const isRepairType = (text: string): text is RepairType => (repairTypes as readonly string[]).includes(text);
const isResult = (text: string): text is RepairResult => (repairResults as readonly string[]).includes(text);
const wholeNumber = (text: string): number | undefined => (/^\d+$/.test(text) ? Number(text) : undefined);

/** The policy these tags set, or undefined when they say nothing (Ganeti's getArPolicy). */
function policyOf(tags: readonly string[], nowS: number): RepairPolicy | undefined {
  const suspended = tags.filter((t) => t.startsWith(SUSPEND)).map((t) => t.slice(SUSPEND.length));
  if (suspended.includes('')) return { kind: 'suspended', untilS: 'forever' };
  const future = suspended.map(wholeNumber).filter((s): s is number => s !== undefined && s > nowS);
  if (future.length > 0) return { kind: 'suspended', untilS: Math.max(...future) };
  const enabled = tags
    .filter((t) => t.startsWith(PREFIX))
    .map((t) => t.slice(PREFIX.length))
    .filter(isRepairType);
  if (enabled.length === 0) return undefined;
  return { kind: 'enabled', upTo: repairTypes[Math.min(...enabled.map((t) => repairTypes.indexOf(t)))]! };
}

/** The instance's own tags, else its primary's node group's, else the cluster's (Ganeti's setArPolicy). */
export function repairPolicy(state: ClusterState, instance: InstState, nowS: number): RepairPolicy {
  const group = state.groups[state.nodes[instance.pNode]?.group ?? -1]?.spec.tags ?? [];
  return (
    policyOf(instance.tags, nowS) ??
    policyOf(group, nowS) ??
    policyOf(state.clusterTags, nowS) ?? { kind: 'not-enabled' }
  );
}

/** A pending or result tag read back, or undefined when the tag is not one or is malformed. */
export function parseRepairTag(tag: string): RepairData | undefined {
  const pending = tag.startsWith(PENDING);
  if (!pending && !tag.startsWith(RESULT)) return undefined;
  const fields = tag.slice(pending ? PENDING.length : RESULT.length).split(':');
  if (fields.length !== (pending ? 4 : 5)) return undefined;
  const [type, uuid, time] = fields as [string, string, string];
  const result = pending ? undefined : (fields[3] as string);
  const jobsText = fields.at(-1) as string;
  // An enoperm result names no job: its list is empty.
  const jobs = jobsText === '' ? [] : jobsText.split('+').map(wholeNumber);
  const timeS = wholeNumber(time);
  if (!isRepairType(type) || timeS === undefined || jobs.some((j) => j === undefined)) return undefined;
  if (result !== undefined && !isResult(result)) return undefined;
  return { type, uuid, timeS, jobs: jobs as number[], result, tag };
}

/** The tag that records the data as it is now (Ganeti's updateTag). */
export function withTag(data: Omit<RepairData, 'tag'>): RepairData {
  const fields = [
    data.type,
    data.uuid,
    String(data.timeS),
    ...(data.result === undefined ? [] : [data.result]),
  ];
  const jobs = data.jobs.join('+');
  return { ...data, tag: `${data.result === undefined ? PENDING : RESULT}${[...fields, jobs].join(':')}` };
}

const currentTag = (status: RepairStatus): string | undefined => status.data?.tag;

/** Replaces the status, marking the tag of the one it replaces for removal. */
export function moveTo(repair: InstanceRepair, status: RepairStatus): InstanceRepair {
  const old = currentTag(repair.status);
  return {
    ...repair,
    status,
    tagsToRemove: old === undefined ? repair.tagsToRemove : [old, ...repair.tagsToRemove],
  };
}

/** Orders results (none first) then times, as Haskell compares (Maybe result, time). */
function byResultThenTime(a: RepairData, b: RepairData): number {
  const rank = (d: RepairData) => (d.result === undefined ? -1 : repairResults.indexOf(d.result));
  return rank(a) - rank(b) || a.timeS - b.timeS;
}

/**
 * The state an instance's repair tags put it in (Ganeti's setInitialState): the earliest failure wins; a
 * repair still pending alongside a later one is an error; else the newest result, or the pending repair.
 */
export function initialRepairState(instance: InstState): InstanceRepair {
  const byUuid = new Map<string, RepairData[]>();
  for (const data of instance.tags.map(parseRepairTag)) {
    if (data === undefined) continue;
    byUuid.set(data.uuid, [...(byUuid.get(data.uuid) ?? []), data]);
  }
  const groups = [...byUuid.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, list]) => list)
    .sort((a, b) => Math.min(...a.map((d) => d.timeS)) - Math.min(...b.map((d) => d.timeS)));
  let repair: InstanceRepair = { instance, status: { kind: 'healthy', data: undefined }, tagsToRemove: [] };
  for (const group of groups) {
    const newest = [...group].sort(byResultThenTime).at(-1) as RepairData;
    const next: RepairStatus =
      newest.result === 'success' || newest.result === 'enoperm'
        ? { kind: 'healthy', data: newest }
        : newest.result === 'failure'
          ? { kind: 'failed', data: newest }
          : { kind: 'pending', data: newest };
    if (repair.status.kind === 'failed') continue;
    if (repair.status.kind === 'pending')
      throw new RangeError(
        `An unfinished repair was found in instance ${instance.name}: found tag ${JSON.stringify(newest.tag)}, but older pending tag ${JSON.stringify(repair.status.data.tag)}exists.`,
      );
    repair = moveTo(repair, next);
  }
  return repair;
}

/** What is broken about an instance and the jobs that repair it (Ganeti's detectBroken), or undefined. */
export function detectBroken(
  state: ClusterState,
  instance: InstState,
): { readonly type: RepairType; readonly ops: Opcode[] } | undefined {
  const name = instance.name;
  const offPrimary = state.nodes[instance.pNode]?.offline ?? false;
  const offSecondary = instance.sNode !== noNode && (state.nodes[instance.sNode]?.offline ?? false);
  const reinstall = (): { type: RepairType; ops: Opcode[] } => ({
    type: 'reinstall',
    ops: [
      { OP_ID: 'OP_INSTANCE_RECREATE_DISKS', instance_name: name, iallocator: 'hail' },
      { OP_ID: 'OP_INSTANCE_REINSTALL', instance_name: name },
    ],
  });
  if (instance.template === 'drbd') {
    if (offPrimary && offSecondary) return reinstall();
    if (offPrimary)
      return {
        type: 'failover',
        ops: [{ OP_ID: 'OP_INSTANCE_FAILOVER', instance_name: name, ignore_consistency: false }],
      };
    if (offSecondary)
      return {
        type: 'fix-storage',
        ops: [
          {
            OP_ID: 'OP_INSTANCE_REPLACE_DISKS',
            instance_name: name,
            mode: 'replace_new_secondary',
            iallocator: 'hail',
          },
        ],
      };
    return undefined;
  }
  // Other templates are not repaired, as in Ganeti.
  if (instance.template === 'plain' && offPrimary) return reinstall();
  return undefined;
}

/** harep's closing count of the instances in each state, by state name. */
export function stateCounts(repairs: readonly InstanceRepair[]): string[] {
  const counts = new Map<string, number>();
  for (const r of repairs) counts.set(stateName(r.status), (counts.get(stateName(r.status)) ?? 0) + 1);
  return [...counts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([state, count]) => `${state}: ${count}`);
}
