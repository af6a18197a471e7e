import type { ClusterState } from '../cluster/cluster-state.js';
import { type ConfigData, nodeOfUuid, sortedInstances } from '../cluster/config.js';
import { diskTemplateTraits, needsSecondary } from '../cluster/disk-templates.js';
import { filledBeParams, type InstanceRecord, type NodeRecord } from '../cluster/model.js';
import type { Opcode } from '../cluster/opcodes.js';
import type { Clock } from '../common/clock.js';
import { asCorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import { everyInterval, type Periodic } from '../common/periodic.js';
import type { ObservedNode } from './raft-membership.js';
import { heldStill, instancesInJobs } from './watcher.js';

/** harep's permission levels, least destructive first: each allows what the ones before it allow. */
const repairLevels = ['fix-storage', 'migrate', 'failover', 'reinstall'] as const;
type RepairLevel = (typeof repairLevels)[number];

export const AUTOREPAIR_TAG_PREFIX = 'ganeti:watcher:autorepair:';

/**
 * What harep's tags allow for an instance: the nearest object with a tag wins (the instance, then its
 * primary's group, then the cluster), and within one object the least destructive tag. `suspend` (with or
 * without harep's `:timestamp` suffix) on the instance stops every repair. Undefined when no tag speaks.
 */
export function autoRepairLevel(
  config: ConfigData,
  instance: InstanceRecord,
): RepairLevel | 'suspend' | undefined {
  if (
    instance.tags.some(
      (tag) =>
        tag === `${AUTOREPAIR_TAG_PREFIX}suspend` || tag.startsWith(`${AUTOREPAIR_TAG_PREFIX}suspend:`),
    )
  )
    return 'suspend';
  const primary = nodeOfUuid(config, instance.primaryNode);
  const objects = [instance.tags, config.groups.get(primary.group)?.tags ?? [], config.cluster.tags];
  for (const tags of objects) {
    const levels = tags
      .filter((tag) => tag.startsWith(AUTOREPAIR_TAG_PREFIX))
      .map((tag) => repairLevels.indexOf(tag.slice(AUTOREPAIR_TAG_PREFIX.length) as RepairLevel))
      .filter((index) => index >= 0);
    if (levels.length > 0) return repairLevels[Math.min(...levels)];
  }
  return undefined;
}

/** Whether the master may fail the instance over on its own: harep's tags, else the cluster's default. */
export function failsOverAutomatically(config: ConfigData, instance: InstanceRecord): boolean {
  const level = autoRepairLevel(config, instance);
  if (level === undefined) return config.cluster.ha.autoFailover;
  return level === 'failover' || level === 'reinstall';
}

/** What the master knows of a node, for deciding. */
export interface NodeView {
  /** Gossip holds it dead. */
  dead(node: NodeRecord): boolean;
  /** Its lease has surely run out by the master's clock: it runs no guest. */
  lapsed(node: NodeRecord): boolean;
  /** Wall-clock seconds, for the reason trail. */
  nowS(): number;
}

/** The view from what a master knows: gossip's word on each node, and its lease table. */
export function masterNodeView(master: {
  readonly clock: Clock;
  observed(node: NodeId): ObservedNode | undefined;
  leaseLapsesAtMs(node: NodeId): number;
}): NodeView {
  return {
    dead: (node) => master.observed(node.id)?.state === 'dead',
    lapsed: (node) => master.clock.monotonicMs() >= master.leaseLapsesAtMs(node.id),
    nowS: () => master.clock.wallMs() / 1000,
  };
}

export type FailoverDecision =
  | {
      readonly kind: 'failover';
      readonly instance: InstanceRecord;
      readonly from: NodeRecord;
      readonly ops: readonly Opcode[];
    }
  /** Its node is gone but it cannot move on its own; `cluster verify` reports why. */
  | {
      readonly kind: 'stuck';
      readonly instance: InstanceRecord;
      readonly from: NodeRecord;
      readonly reason: string;
    }
  /** Its node is gone and its lease has not run out yet. */
  | { readonly kind: 'waiting'; readonly instance: InstanceRecord; readonly from: NodeRecord };

/**
 * For every instance that should run and whose primary is gone (declared offline, or held dead by gossip),
 * whether the master fails it over now, must wait for the node's lease, or cannot. A mirrored instance goes
 * to its secondary when that holds a current copy and is up; one on shared storage (or diskless) goes where
 * the allocator places it. The largest go first, so that the allocator places them while room is left.
 */
export function planAutoFailovers(config: ConfigData, view: NodeView): FailoverDecision[] {
  const decisions: FailoverDecision[] = [];
  const gone = (node: NodeRecord) => node.offline || view.dead(node);
  const candidates = sortedInstances(config)
    .filter((instance) => instance.adminState === 'up' && gone(nodeOfUuid(config, instance.primaryNode)))
    .sort(
      (a, b) => filledBeParams(config.cluster, b).maxmemMiB - filledBeParams(config.cluster, a).maxmemMiB,
    );
  for (const instance of candidates) {
    const from = nodeOfUuid(config, instance.primaryNode);
    const stuck = (reason: string) => decisions.push({ kind: 'stuck', instance, from, reason });
    if (!failsOverAutomatically(config, instance)) {
      stuck('automatic failover is off for it (cluster modify --auto-failover, or harep tags)');
      continue;
    }
    if (needsSecondary(instance.diskTemplate)) {
      const secondary = instance.secondaryNodes[0];
      const target = secondary === undefined ? undefined : nodeOfUuid(config, secondary);
      if (target === undefined) stuck('it has no secondary');
      else if (gone(target)) stuck(`its secondary ${target.name} is down too`);
      else if (!(instance.mirror?.current.includes(target.uuid) ?? false))
        stuck(
          `the copy of its disks on ${target.name} is stale; only --ignore-consistency would start it there`,
        );
      else if (!view.lapsed(from)) decisions.push({ kind: 'waiting', instance, from });
      else decisions.push({ kind: 'failover', instance, from, ops: [failoverOp(instance, from, view)] });
      continue;
    }
    if (!diskTemplateTraits[instance.diskTemplate].sharedStorage) {
      stuck(`its ${instance.diskTemplate} disks live on ${from.name} alone`);
      continue;
    }
    if (!view.lapsed(from)) decisions.push({ kind: 'waiting', instance, from });
    else decisions.push({ kind: 'failover', instance, from, ops: [failoverOp(instance, from, view)] });
  }
  return decisions;
}

/** The source in the job's reason trail, after Ganeti's gnt:watcher and gnt:client:… */
export const AUTO_FAILOVER_SOURCE = 'gnt:corral:auto-failover';

function failoverOp(instance: InstanceRecord, from: NodeRecord, view: NodeView): Opcode {
  const why = from.offline ? 'is declared offline' : 'is held dead by gossip';
  return {
    OP_ID: 'OP_INSTANCE_FAILOVER',
    instance_name: instance.name,
    reason: [[AUTO_FAILOVER_SOURCE, `${from.name} ${why} and its lease has run out`, view.nowS()]],
  };
}

/** After this many failover jobs that left an instance on its dead node, the master stops trying it. */
export const MAX_AUTO_FAILOVER_ATTEMPTS = 3;

export interface AutoFailoverDeps {
  readonly state: ClusterState;
  readonly clock: Clock;
  readonly log: Logger;
  readonly intervalMs: number;
  readonly view: NodeView;
  /** Submits a job as the master itself. */
  submit(key: string, ops: readonly Opcode[]): Promise<void>;
  /** Tells every node, as a gossip event (`corral health --events`). */
  announce(name: string, payload: string): void;
}

/** The gossip event each automatic failover sends. */
export const AUTO_FAILOVER_EVENT = 'corral:auto-failover';

/**
 * The master's loop over planAutoFailovers: one failover job per instance whose node is gone and fenced,
 * visible in `job list` and run with its hooks like any other. An instance a job works on is left alone.
 */
export class AutoFailover {
  private loop: Periodic | undefined;
  /** Failover jobs submitted per instance and node it leaves, while it is still on that node. */
  private readonly attempts = new Map<
    string,
    { instance: InstanceRecord['uuid']; from: NodeRecord['uuid']; count: number }
  >();

  constructor(private readonly deps: AutoFailoverDeps) {}

  start(): void {
    const { clock, intervalMs, log } = this.deps;
    this.loop = everyInterval(
      clock,
      intervalMs,
      () => this.pass(),
      (error) => log.warn({ err: asCorralError(error) }, 'automatic failover pass failed'),
    );
  }

  stop(): void {
    this.loop?.stop();
  }

  private get stopped(): boolean {
    return this.loop?.stopped ?? true;
  }

  private async pass(): Promise<void> {
    const { deps } = this;
    const config = deps.state.config;
    if (config === undefined) return;
    const held = heldStill(config.cluster, deps.clock.wallMs());
    if (held !== undefined) return deps.log.debug({ why: held }, 'automatic failover pass skipped');
    // An instance no longer on the node its count is for (failed over, or moved by hand) starts afresh there:
    // the cap is on jobs that left it on its dead node, not on how often that node may die.
    for (const [key, entry] of this.attempts)
      if (config.instances.get(entry.instance)?.primaryNode !== entry.from) this.attempts.delete(key);
    const busy = instancesInJobs(deps.state);
    for (const decision of planAutoFailovers(config, deps.view)) {
      if (decision.kind !== 'failover' || busy.has(decision.instance.name) || this.stopped) continue;
      // Counted per instance and node it leaves, so that a later death of its new node starts afresh.
      const key = `${decision.instance.uuid}-${decision.from.uuid}`;
      const attempt = (this.attempts.get(key)?.count ?? 0) + 1;
      if (attempt > MAX_AUTO_FAILOVER_ATTEMPTS) continue;
      this.attempts.set(key, { instance: decision.instance.uuid, from: decision.from.uuid, count: attempt });
      const log = attempt === MAX_AUTO_FAILOVER_ATTEMPTS ? deps.log.warn : deps.log.info;
      log.call(
        deps.log,
        { instance: decision.instance.name, node: decision.from.name, attempt },
        attempt === MAX_AUTO_FAILOVER_ATTEMPTS
          ? 'failing over an instance of a dead node, for the last time'
          : 'failing over an instance of a dead node',
      );
      // The submission key is the job queue's idempotency key, kept with the job: the instance's serial makes
      // it new for each time the instance is on a dead node, so that a later master (whose counts start at 1)
      // or a later death of the same node does not find an old, finished job under it.
      await deps.submit(`auto-failover-${key}-${decision.instance.serial}-${attempt}`, decision.ops);
      deps.announce(
        AUTO_FAILOVER_EVENT,
        `${decision.instance.name}: failing over from ${decision.from.name} (${decision.from.offline ? 'offline' : 'dead'}, its lease ran out), attempt ${attempt}`,
      );
    }
  }
}
