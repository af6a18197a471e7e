import type { ClusterState } from '../cluster/cluster-state.js';
import { nodeOfUuid, sortedInstances, sortedNodes } from '../cluster/config.js';
import { needsSecondary } from '../cluster/disk-templates.js';
import { instanceStatus, type NodeReport, nodeReport } from '../cluster/instance-status.js';
import { isFinished } from '../cluster/jobs.js';
import type { InstanceRecord, InstanceUuid } from '../cluster/model.js';
import { type Opcode, opTarget } from '../cluster/opcodes.js';
import type { Clock, Timer } from '../common/clock.js';
import { timeoutSignal } from '../common/deadline.js';
import { asCorralError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { NodeAgentClient } from './op-context.js';
import type { ControlTimings } from './timings.js';

type MirrorRole = 'primary' | 'secondary';

/**
 * Whether a running mirrored instance misses its mirror, or has it in the wrong role, on a node that
 * answered: its secondary's daemon restarted (as Ganeti's watcher finds DRBD unconfigured after a reboot),
 * or an old primary came back after a failover still serving.
 */
function mirrorDetached(
  instance: InstanceRecord,
  attached: ReadonlyMap<string, ReadonlyMap<string, MirrorRole> | undefined>,
): boolean {
  if (!needsSecondary(instance.diskTemplate)) return false;
  const wrong = (node: string, role: MirrorRole) => {
    const roles = attached.get(node);
    return roles !== undefined && roles.get(instance.uuid) !== role;
  };
  return (
    wrong(instance.primaryNode, 'primary') || instance.secondaryNodes.some((node) => wrong(node, 'secondary'))
  );
}

/** The names of what unfinished jobs work on (instances among them): the watchers leave those alone. */
export function instancesInJobs(state: ClusterState): Set<string | undefined> {
  return new Set(
    state
      .jobs()
      .filter((job) => !isFinished(job.status))
      .flatMap((job) => job.ops.map((op) => opTarget(op.input))),
  );
}

/** Ganeti's watcher gives up on an instance after this many restarts that did not keep it up. */
export const MAX_RESTART_ATTEMPTS = 5;

export interface WatcherDeps {
  readonly state: ClusterState;
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
  private timer: Timer | undefined;
  private stopped = false;
  private readonly attempts = new Map<InstanceUuid, number>();
  private submissions = 0;

  constructor(private readonly deps: WatcherDeps) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.deps.clock.setTimer(this.deps.timings.watcherIntervalMs, () => {
      void this.pass()
        .catch((error) => this.deps.log.warn({ err: asCorralError(error) }, 'watcher pass failed'))
        .finally(() => this.schedule());
    });
  }

  private async pass(): Promise<void> {
    const { deps } = this;
    const config = deps.state.config;
    if (config === undefined || config.instances.size === 0) return;
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
    const attached = new Map<string, Map<string, MirrorRole> | undefined>(
      nodes.map((node, i) => {
        const answer = answers[i]!;
        return [
          node.uuid,
          answer.status === 'fulfilled'
            ? new Map(answer.value.mirrors.map((m) => [m.instance, m.role]))
            : undefined,
        ];
      }),
    );
    const busy = instancesInJobs(deps.state);
    for (const instance of sortedInstances(config)) {
      const primary = nodeOfUuid(config, instance.primaryNode);
      const status = instanceStatus({ ...instance, primary }, reports);
      if (status === 'running') this.attempts.delete(instance.uuid);
      if (busy.has(instance.name) || this.stopped) continue;
      if (status === 'running' && mirrorDetached(instance, attached)) {
        deps.log.info({ instance: instance.name }, 'reattaching the mirror of a running instance');
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
