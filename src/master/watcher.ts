import type { ClusterState } from '../cluster/cluster-state.js';
import { nodeOfUuid, sortedInstances, sortedNodes } from '../cluster/config.js';
import { needsSecondary } from '../cluster/disk-templates.js';
import { instanceStatus, type NodeReport, nodeReport } from '../cluster/instance-status.js';
import { isFinished } from '../cluster/jobs.js';
import type { ClusterParams, InstanceRecord, InstanceUuid, NodeRecord } from '../cluster/model.js';
import type { MirrorDiskStatusView } from '../cluster/node-status.js';
import { type Opcode, opTarget } from '../cluster/opcodes.js';
import type { Clock } from '../common/clock.js';
import { timeoutSignal } from '../common/deadline.js';
import { asCorralError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { everyInterval, type Periodic } from '../common/periodic.js';
import type { NodeAgentClient } from './op-context.js';
import type { ControlTimings } from './timings.js';

/** What each node that answered says of its mirrored disks, by instance UUID; undefined for one that did not. */
export type MirrorsSeen = ReadonlyMap<
  string,
  ReadonlyMap<string, readonly MirrorDiskStatusView[]> | undefined
>;

/** What the nodes' status answers (in the order of `nodes`) say of their mirrored disks. */
export function mirrorsSeen(
  nodes: readonly NodeRecord[],
  answers: readonly PromiseSettledResult<{ readonly mirrors: readonly MirrorDiskStatusView[] }>[],
): MirrorsSeen {
  return new Map(
    nodes.map((node, i) => {
      const answer = answers[i]!;
      return [node.uuid, answer.status === 'fulfilled' ? byInstance(answer.value.mirrors) : undefined];
    }),
  );
}

function byInstance(
  disks: readonly MirrorDiskStatusView[],
): ReadonlyMap<string, readonly MirrorDiskStatusView[]> {
  const grouped = new Map<string, MirrorDiskStatusView[]>();
  for (const disk of disks) grouped.set(disk.instance, [...(grouped.get(disk.instance) ?? []), disk]);
  return grouped;
}

/**
 * Why a running mirrored instance needs its disks activated again, on the nodes that answered: 'detached'
 * when a disk is missing or in the wrong role (its secondary's daemon restarted, as Ganeti's watcher finds
 * DRBD unconfigured after a reboot, or an old primary came back after a failover still serving); 'lagging'
 * when the primary holds its peer's copy current, or at an older generation, where the config holds it
 * stale (a restarted primary that lost an outdate's answer): it would never report the resync that makes
 * the copy current. An activation tells it the config's word.
 */
export function mirrorNeedsActivation(
  instance: InstanceRecord,
  seen: MirrorsSeen,
): 'detached' | 'lagging' | undefined {
  if (!needsSecondary(instance.diskTemplate)) return undefined;
  const wrong = (node: string, role: 'primary' | 'secondary') => {
    const disks = seen.get(node);
    if (disks === undefined) return false;
    const mine = disks.get(instance.uuid) ?? [];
    return mine.length !== instance.disks.length || mine.some((disk) => disk.role !== role);
  };
  if (
    wrong(instance.primaryNode, 'primary') ||
    instance.secondaryNodes.some((node) => wrong(node, 'secondary'))
  )
    return 'detached';
  const mirror = instance.mirror;
  if (mirror === undefined || instance.secondaryNodes.every((node) => mirror.current.includes(node)))
    return undefined;
  const lagging = (seen.get(instance.primaryNode)?.get(instance.uuid) ?? []).some(
    (disk) =>
      disk.primary !== undefined &&
      (!disk.primary.peerOutdated || disk.primary.generation < mirror.generation),
  );
  return lagging ? 'lagging' : undefined;
}

/** The names of what unfinished jobs work on (instances among them): the watchers leave those alone. */
export function instancesInJobs(state: Pick<ClusterState, 'jobs'>): Set<string | undefined> {
  return new Set(
    state
      .jobs()
      .filter((job) => !isFinished(job.status))
      .flatMap((job) => job.ops.map((op) => opTarget(op.input))),
  );
}

/**
 * Why the watcher and automatic failover stand still now, or undefined when they act: an operator paused
 * them (cluster watcher pause, until a time by the wall clock), or drained the queue, which takes no job.
 */
export function heldStill(
  cluster: Pick<ClusterParams, 'queueDrained' | 'watcherPauseUntilMs'>,
  nowMs: number,
): string | undefined {
  if (cluster.watcherPauseUntilMs !== undefined && nowMs < cluster.watcherPauseUntilMs)
    return 'the watcher is paused';
  if (cluster.queueDrained === true) return 'the job queue is drained';
  return undefined;
}

/** Ganeti's watcher gives up on an instance after this many restarts that did not keep it up. */
export const MAX_RESTART_ATTEMPTS = 5;

export interface WatcherDeps {
  /** The replicated state as it is now: read at every step, for it changes while the watcher waits. */
  readonly state: Pick<ClusterState, 'config' | 'jobs'>;
  readonly agent: NodeAgentClient;
  readonly clock: Clock;
  readonly log: Logger;
  readonly timings: Pick<ControlTimings, 'watcherIntervalMs' | 'nodeCallTimeoutMs'>;
  /** Submits a job as the watcher (Ganeti tags these with source gnt:watcher). */
  submit(key: string, ops: Opcode[]): Promise<void>;
}

/**
 * Ganeti's watcher, run by the master: an instance that should run (admin up) but does not run on its
 * healthy primary node is started again there, at most MAX_RESTART_ATTEMPTS times. It acts only on what it
 * saw: an instance whose node did not answer, or that runs elsewhere, is left alone (it may still run).
 */
export class Watcher {
  private loop: Periodic | undefined;
  private readonly attempts = new Map<InstanceUuid, number>();
  /** The instances whose primary lagged the config at the last pass. */
  private lagging = new Set<InstanceUuid>();
  private submissions = 0;

  constructor(private readonly deps: WatcherDeps) {}

  start(): void {
    const { clock, timings, log } = this.deps;
    this.loop = everyInterval(
      clock,
      timings.watcherIntervalMs,
      () => this.pass(),
      (error) => log.warn({ err: asCorralError(error) }, 'watcher pass failed'),
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
    if (config === undefined || config.instances.size === 0) return;
    const held = heldStill(config.cluster, deps.clock.wallMs());
    if (held !== undefined) return deps.log.debug({ why: held }, 'watcher pass skipped');
    const nodes = sortedNodes(config).filter((node) => !node.offline);
    const answers = await Promise.allSettled(
      nodes.map((node) =>
        deps.agent.call(
          node.id,
          'status',
          {},
          { signal: timeoutSignal(deps.clock, deps.timings.nodeCallTimeoutMs) },
        ),
      ),
    );
    const reports = new Map<string, NodeReport>(
      nodes.map((node, i) => {
        const answer = answers[i]!;
        return [node.name, nodeReport(answer.status === 'fulfilled' ? answer.value.instances : undefined)];
      }),
    );
    const seen = mirrorsSeen(nodes, answers);
    const lagged = this.lagging;
    this.lagging = new Set();
    // Judge the answers against the config as it is now, not as it was before asking: a shutdown job that
    // stopped a guest and ended meanwhile (so it is no longer busy) has marked it down by now, and must not
    // see it started again.
    const current = deps.state.config ?? config;
    const busy = instancesInJobs(deps.state);
    for (const instance of sortedInstances(current)) {
      const primary = nodeOfUuid(current, instance.primaryNode);
      const status = instanceStatus({ ...instance, primary }, reports);
      if (status === 'running') this.attempts.delete(instance.uuid);
      if (busy.has(instance.name) || this.stopped) continue;
      const activation = status === 'running' ? mirrorNeedsActivation(instance, seen) : undefined;
      // A primary lags the config for a moment after every outdate (its answer is on its way): only one
      // that still lags at the next pass is told.
      if (activation === 'lagging') this.lagging.add(instance.uuid);
      if (activation === 'detached' || (activation === 'lagging' && lagged.has(instance.uuid))) {
        deps.log.info(
          { instance: instance.name, why: activation },
          'reattaching the mirror of a running instance',
        );
        await deps.submit(`watcher-${instance.uuid}-${deps.clock.wallMs()}-${this.submissions++}`, [
          { OP_ID: 'OP_INSTANCE_ACTIVATE_DISKS', instance_name: instance.name },
        ]);
        continue;
      }
      if (status !== 'ERROR_down') continue;
      const attempt = (this.attempts.get(instance.uuid) ?? 0) + 1;
      if (attempt > MAX_RESTART_ATTEMPTS) {
        if (attempt === MAX_RESTART_ATTEMPTS + 1)
          deps.log.warn({ instance: instance.name }, 'giving up restarting the instance; start it by hand');
        this.attempts.set(instance.uuid, attempt);
        continue;
      }
      this.attempts.set(instance.uuid, attempt);
      deps.log.info(
        { instance: instance.name, node: primary.name, attempt },
        'restarting an instance that should run',
      );
      await deps.submit(`watcher-${instance.uuid}-${deps.clock.wallMs()}-${this.submissions++}`, [
        { OP_ID: 'OP_INSTANCE_STARTUP', instance_name: instance.name },
      ]);
    }
  }
}
