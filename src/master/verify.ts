import { candidates, mayBeCandidate, nodeOfUuid, sortedInstances, sortedNodes } from '../cluster/config.js';
import { needsSecondary } from '../cluster/disk-templates.js';
import { timeoutSignal } from '../common/deadline.js';
import { asCorralError, CorralError } from '../common/errors.js';
import type { HealthRecord } from '../membership/health.js';
import { masterNodeView, planAutoFailovers } from './auto-failover.js';
import { checkDisks } from './instance-steps.js';
import type { OpContext } from './op-context.js';
import { mirrorNeedsActivation, mirrorsSeen } from './watcher.js';

/** Ganeti's limit before cluster verify calls a node's clock wrong (NODE_MAX_CLOCK_SKEW). */
export const MAX_CLOCK_SKEW_MS = 150_000;

export interface Finding {
  readonly severity: 'ERROR' | 'WARNING';
  readonly code: string;
  readonly domain: 'cluster' | 'node' | 'instance';
  readonly name: string;
  readonly message: string;
}

/**
 * Cluster verify: the configuration's own consistency, the candidate pool against its size, the Raft group
 * against the candidates, every online node asked directly (reachable, same cluster, clock within bounds),
 * the secret files and control sockets whose modes the nodes report unsafe, degraded mirrors, and the
 * instances of dead or offline nodes that cannot be failed over automatically, with the reason.
 */
export async function verifyCluster(ctx: OpContext): Promise<Finding[]> {
  const config = ctx.config();
  const findings: Finding[] = [];
  const add = (finding: Finding) => {
    findings.push(finding);
    ctx.log(`${finding.severity}: ${finding.domain} ${finding.name}: ${finding.message}`);
  };
  const nodes = sortedNodes(config);
  const clusterName = config.cluster.name;

  for (const node of nodes) {
    if (!config.groups.has(node.group))
      add({
        severity: 'ERROR',
        code: 'ECLUSTERCFG',
        domain: 'node',
        name: node.name,
        message: 'its node group does not exist',
      });
  }
  const master = nodes.find((node) => node.id === config.master);
  if (master === undefined) {
    add({
      severity: 'ERROR',
      code: 'ECLUSTERCFG',
      domain: 'cluster',
      name: clusterName,
      message: 'the master is not a node of the cluster',
    });
  }

  const pool = candidates(config);
  const eligible = nodes.filter(mayBeCandidate);
  const wanted = Math.min(config.cluster.candidatePoolSize, eligible.length);
  if (pool.length < wanted) {
    add({
      severity: 'WARNING',
      code: 'ECLUSTERCFG',
      domain: 'cluster',
      name: clusterName,
      message: `${pool.length} master candidates, but ${wanted} could be (pool size ${config.cluster.candidatePoolSize})`,
    });
  }

  const raft = ctx.raft();
  for (const node of pool) {
    if (!raft.voters.includes(node.id)) {
      add({
        severity: 'WARNING',
        code: 'ECLUSTERCFG',
        domain: 'node',
        name: node.name,
        message: 'a master candidate that does not vote in Raft yet',
      });
    }
  }
  for (const voter of raft.voters) {
    if (!pool.some((node) => node.id === voter)) {
      add({
        severity: 'WARNING',
        code: 'ECLUSTERCFG',
        domain: 'cluster',
        name: clusterName,
        message: `Raft voter ${voter} is not a master candidate`,
      });
    }
  }
  // Each node checks its own secret files and control socket and says what it found in its health record.
  for (const node of nodes.filter((candidate) => !candidate.offline)) {
    for (const file of ctx.observed(node.id)?.health?.unsafeFiles ?? []) {
      add({
        severity: 'ERROR',
        code: 'ENODEFILECHECK',
        domain: 'node',
        name: node.name,
        message: unsafeFileMessage(file),
      });
    }
  }
  for (const instance of sortedInstances(config)) {
    const stale = [instance.primaryNode, ...instance.secondaryNodes].filter(
      (node) => instance.mirror !== undefined && !instance.mirror.current.includes(node),
    );
    if (stale.length > 0)
      add({
        severity: 'WARNING',
        code: 'EINSTANCEFAULTYDISK',
        domain: 'instance',
        name: instance.name,
        message: `its mirror is degraded: the copy on ${stale.map((uuid) => nodeOfUuid(config, uuid).name).join(', ')} is stale (generation ${instance.mirror?.generation}); a resync brings it level once both copies are attached (instance activate-disks), or replace it (instance replace-disks)`,
      });
  }
  // Instances of a dead or offline node that the master cannot fail over on its own (issue 21).
  for (const decision of planAutoFailovers(config, masterNodeView(ctx))) {
    if (decision.kind !== 'stuck') continue;
    add({
      severity: 'ERROR',
      code: 'EINSTANCEDOWN',
      domain: 'instance',
      name: decision.instance.name,
      message: `it should run, but its node ${decision.from.name} is ${decision.from.offline ? 'offline' : 'dead'} and it cannot be failed over automatically: ${decision.reason}`,
    });
  }
  const quorum = Math.floor(raft.voters.length / 2) + 1;

  let reachableVoters = 0;
  await Promise.all(
    nodes
      .filter((node) => !node.offline)
      .map(async (node) => {
        const signal = timeoutSignal(ctx.clock, ctx.timings.nodeCallTimeoutMs, ctx.signal);
        const askedMs = ctx.clock.wallMs();
        try {
          const info = await ctx.agent.info(node.id, signal);
          const answeredMs = ctx.clock.wallMs();
          if (raft.voters.includes(node.id)) reachableVoters++;
          if (info.cluster?.uuid !== config.cluster.uuid) {
            add({
              severity: 'ERROR',
              code: 'ENODESETUP',
              domain: 'node',
              name: node.name,
              message: 'the daemon does not consider itself part of this cluster',
            });
          }
          // A node that does not take the master for a member shows no clock: ENODESETUP above says why.
          const skewMs = info.timeMs === undefined ? 0 : Math.abs(info.timeMs - (askedMs + answeredMs) / 2);
          if (skewMs > MAX_CLOCK_SKEW_MS) {
            add({
              severity: 'ERROR',
              code: 'ENODETIME',
              domain: 'node',
              name: node.name,
              message: `its clock is ${(skewMs / 1000).toFixed(1)} s off the master's`,
            });
          }
        } catch (error) {
          add({
            severity: 'ERROR',
            code: 'ENODERPC',
            domain: 'node',
            name: node.name,
            message: `unreachable: ${(error as Error).message}`,
          });
        }
      }),
  );
  if (raft.voters.length > 0 && reachableVoters < quorum) {
    add({
      severity: 'ERROR',
      code: 'ECLUSTERCFG',
      domain: 'cluster',
      name: clusterName,
      message: `only ${reachableVoters} of ${raft.voters.length} Raft voters answer; a quorum is ${quorum}`,
    });
  } else if (reachableVoters < raft.voters.length) {
    add({
      severity: 'WARNING',
      code: 'ECLUSTERCFG',
      domain: 'cluster',
      name: clusterName,
      message: `${raft.voters.length - reachableVoters} Raft voter(s) do not answer; one more failure may cost the quorum`,
    });
  }
  return findings;
}

function unsafeFileMessage(file: NonNullable<HealthRecord['unsafeFiles']>[number]): string {
  if (file.uid !== file.wantUid)
    return `its ${file.name} is owned by uid ${file.uid}, not by the daemon's user (uid ${file.wantUid}); chown it there`;
  const mode = file.mode.toString(8).padStart(3, '0');
  return `its ${file.name} is open to group or others (mode 0${mode}); chmod ${file.wantMode.toString(8)} it there`;
}

/** Ganeti's verify-disks answer for one run: nodes that did not answer, instances to activate, disks missing. */
export interface DiskReport {
  readonly bad_nodes: Record<string, string>;
  readonly instances: string[];
  readonly missing: Record<string, [string, string][]>;
}

/**
 * Ganeti's verify-disks, for the mirrored (drbd) instances that should run: which need their disks activated
 * again (a mirror detached or in the wrong role on a node, or a stale copy on a node that is up, whose
 * resync an activation starts), and which have a copy missing on a node. The CLI activates the first.
 */
export async function verifyDisks(ctx: OpContext, groupName: string | undefined): Promise<DiskReport> {
  const config = ctx.config();
  const group =
    groupName === undefined ? undefined : [...config.groups.values()].find((g) => g.name === groupName);
  if (groupName !== undefined && group === undefined)
    throw new CorralError('not_found', `node group ${groupName} does not exist`);
  const nodes = sortedNodes(config).filter((node) => !node.offline);
  const answers = await Promise.allSettled(
    nodes.map((node) =>
      ctx.agent.call(
        node.id,
        'status',
        {},
        { signal: timeoutSignal(ctx.clock, ctx.timings.nodeCallTimeoutMs, ctx.signal) },
      ),
    ),
  );
  const badNodes: Record<string, string> = {};
  for (const [i, node] of nodes.entries()) {
    const answer = answers[i]!;
    if (answer.status === 'rejected') badNodes[node.name] = asCorralError(answer.reason).message;
  }
  const seen = mirrorsSeen(nodes, answers);
  const instances: string[] = [];
  const missing: Record<string, [string, string][]> = {};
  for (const instance of sortedInstances(config)) {
    if (!needsSecondary(instance.diskTemplate) || instance.adminState !== 'up') continue;
    if (group !== undefined && nodeOfUuid(config, instance.primaryNode).group !== group.uuid) continue;
    const holders = [instance.primaryNode, ...instance.secondaryNodes].map((uuid) =>
      nodeOfUuid(config, uuid),
    );
    const up = holders.filter((node) => seen.get(node.uuid) !== undefined);
    // A node that did not answer cannot show its copies: they count as missing there, as in Ganeti.
    for (const node of holders) {
      if (node.offline) continue;
      const present =
        seen.get(node.uuid) !== undefined &&
        (await checkDisks(ctx, node, instance).then(
          () => true,
          () => false,
        ));
      if (!present)
        missing[instance.name] = [
          ...(missing[instance.name] ?? []),
          ...instance.disks.map((_, index): [string, string] => [node.name, `disk/${index}`]),
        ];
    }
    const staleOnUp = up.some(
      (node) => instance.mirror !== undefined && !instance.mirror.current.includes(node.uuid),
    );
    if (mirrorNeedsActivation(instance, seen) !== undefined || staleOnUp) instances.push(instance.name);
  }
  return { bad_nodes: badNodes, instances, missing };
}
