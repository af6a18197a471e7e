import type { AgentCall, AgentRequest, AgentResponse, AgentScriptRun } from '../cluster/agent-protocols.js';
import { type ConfigData, nodeOfUuid, requireInstance, sortedNodes } from '../cluster/config.js';
import { needsSecondary } from '../cluster/disk-templates.js';
import { runningNames } from '../cluster/instance-status.js';
import {
  filledBeParams,
  ganetiBeParams,
  type InstanceRecord,
  type MirrorState,
  type NodeRecord,
} from '../cluster/model.js';
import { filledOsParams, requireNotBlacklisted } from '../cluster/os-params.js';
import { asCorralError, CorralError } from '../common/errors.js';
import { agentDisks, primaryOf, runtimeSpec } from './instance-runtime.js';
import type { LockRequest } from './locks.js';
import type { OpContext, OpOutcome } from './op-context.js';

/** The steps instance opcodes are made of: each one request to a node agent, logged for the job. */

/** How long an OS script may run (debootstrap can take a while). */
const OS_SCRIPT_TIMEOUT_MS = 60 * 60_000;
/** What the master allows a node's answer beyond the limit the node keeps to itself (a stop's, a script's). */
const ANSWER_SLACK_MS = 60_000;

export function call<K extends AgentCall>(
  ctx: OpContext,
  node: NodeRecord,
  kind: K,
  request: AgentRequest<K>,
  timeoutMs?: number,
): Promise<AgentResponse<K>> {
  return ctx.agent.call(node.id, kind, request, {
    signal: ctx.signal,
    ...(timeoutMs !== undefined && { timeoutMs }),
  });
}

const bglShared: LockRequest = { level: 'cluster', names: ['BGL'], mode: 'shared' };

/** Ganeti's locking for an instance operation: the instance exclusively, its nodes (and others named) as asked. */
export function instanceLocks(
  config: ConfigData,
  instance: InstanceRecord | undefined,
  name: string,
  nodeMode: LockRequest['mode'],
  extraNodes: readonly string[] | 'all' = [],
): LockRequest[] {
  const own = instance
    ? [instance.primaryNode, ...instance.secondaryNodes].map((uuid) => nodeOfUuid(config, uuid).name)
    : [];
  const nodes: LockRequest['names'] = extraNodes === 'all' ? 'all' : [...new Set([...own, ...extraNodes])];
  const nodeLock: LockRequest = { level: 'node', names: nodes, mode: nodeMode };
  return [
    bglShared,
    { level: 'instance', names: [name], mode: 'exclusive' },
    ...(nodes === 'all' || nodes.length > 0 ? [nodeLock] : []),
  ];
}

/**
 * The locks of an opcode on one existing instance: the instance exclusively, its nodes in `nodeMode`, and the
 * nodes `extraNodes` names for this opcode (a target node, or all of them when the allocator picks).
 */
export function lockInstance<Op extends { readonly instance_name: string }>(
  nodeMode: LockRequest['mode'],
  extraNodes: (op: Op) => readonly string[] | 'all' = () => [],
): (op: Op, config: ConfigData) => LockRequest[] {
  return (op, config) =>
    instanceLocks(
      config,
      requireInstance(config, op.instance_name),
      op.instance_name,
      nodeMode,
      extraNodes(op),
    );
}

/** Ganeti's default shutdown timeout: two minutes, then the instance is killed. */
export const DEFAULT_SHUTDOWN_TIMEOUT_S = 120;

export function instanceRef(instance: InstanceRecord) {
  return { name: instance.name, uuid: instance.uuid };
}

/** The nodes holding the instance's disks: the primary, or every node of a shared template once. */
export function diskNodes(config: ConfigData, instance: InstanceRecord): NodeRecord[] {
  return [instance.primaryNode, ...instance.secondaryNodes].map((uuid) => nodeOfUuid(config, uuid));
}

/** Creates the instance's disks on `node`, and on its secondary too for the mirrored template. */
export async function createDisks(ctx: OpContext, node: NodeRecord, instance: InstanceRecord): Promise<void> {
  if (!needsSecondary(instance.diskTemplate)) return createDisksOn(ctx, node, instance);
  for (const holder of diskNodes(ctx.config(), instance)) await createDisksOn(ctx, holder, instance);
}

export async function createDisksOn(
  ctx: OpContext,
  node: NodeRecord,
  instance: InstanceRecord,
): Promise<void> {
  if (instance.disks.length === 0) return;
  const { paths } = await call(ctx, node, 'disks', {
    action: 'create',
    instance: instanceRef(instance),
    template: instance.diskTemplate,
    disks: agentDisks(instance),
  });
  for (const [index, path] of paths.entries())
    ctx.log(`disk/${index} on ${node.name}: ${path || '(no path)'}`);
}

export async function removeDisks(ctx: OpContext, node: NodeRecord, instance: InstanceRecord): Promise<void> {
  if (instance.disks.length === 0) return;
  await call(ctx, node, 'disks', {
    action: 'remove',
    instance: instanceRef(instance),
    template: instance.diskTemplate,
    disks: agentDisks(instance),
  });
  ctx.log(`removed the disks of ${instance.name} on ${node.name}`);
}

/** Checks that the disks exist on the node; returns their paths there. */
export async function checkDisks(
  ctx: OpContext,
  node: NodeRecord,
  instance: InstanceRecord,
): Promise<string[]> {
  if (instance.disks.length === 0) return [];
  const { paths } = await call(ctx, node, 'disks', {
    action: 'check',
    instance: instanceRef(instance),
    template: instance.diskTemplate,
    disks: agentDisks(instance),
  });
  return paths;
}

/** The instance's state on a node: running (or paused), or not there. */
export async function runsOn(ctx: OpContext, node: NodeRecord, instance: InstanceRecord): Promise<boolean> {
  const status = await call(ctx, node, 'status', {}, ctx.timings.nodeCallTimeoutMs);
  return runningNames(status.instances).has(instance.name);
}

/**
 * Where else the instance runs, asking every other reachable online node: the master never starts an
 * instance that may still run somewhere, which is how it fences.
 */
export async function runningElsewhere(
  ctx: OpContext,
  config: ConfigData,
  instance: InstanceRecord,
  except: NodeRecord,
): Promise<NodeRecord | undefined> {
  // A node whose lease ran out runs no guest, and one that is down would only keep us waiting for its answer.
  const nowMs = ctx.clock.monotonicMs();
  const others = sortedNodes(config).filter(
    (node) => node.uuid !== except.uuid && !node.offline && nowMs < ctx.leaseLapsesAtMs(node.id),
  );
  const answers = await Promise.allSettled(others.map((node) => runsOn(ctx, node, instance)));
  return others.find((_, i) => {
    const answer = answers[i]!;
    return answer.status === 'fulfilled' && answer.value;
  });
}

export async function startOn(
  ctx: OpContext,
  config: ConfigData,
  node: NodeRecord,
  instance: InstanceRecord,
  paused = false,
): Promise<void> {
  const elsewhere = await runningElsewhere(ctx, config, instance, node);
  if (elsewhere !== undefined)
    throw new CorralError(
      'conflict',
      `${instance.name} is running on ${elsewhere.name}, not on its primary ${node.name}; stop it there or run instance migrate --cleanup`,
    );
  if (needsSecondary(instance.diskTemplate)) await attachMirror(ctx, config, instance, node);
  await call(ctx, node, 'start', { spec: runtimeSpec(config, instance), paused });
  ctx.log(`started ${instance.name} on ${node.name}`);
}

/** The other node holding a mirrored instance's disks than `node`. */
function mirrorPeer(config: ConfigData, instance: InstanceRecord, node: NodeRecord): NodeRecord {
  const peer = [instance.primaryNode, ...instance.secondaryNodes].find((uuid) => uuid !== node.uuid);
  if (peer === undefined)
    throw new CorralError('internal', `${instance.name} has no mirror peer for ${node.name}`);
  return nodeOfUuid(config, peer);
}

/**
 * Attaches a mirrored instance's disks with `primary` serving them: its peer's copy first, so that the
 * primary's link finds it, then the primary's. A peer that cannot be reached is left out; the primary runs
 * degraded, once the master has recorded the peer's copy as stale. Only a current copy may serve.
 */
export async function attachMirror(
  ctx: OpContext,
  config: ConfigData,
  instance: InstanceRecord,
  primary: NodeRecord,
): Promise<void> {
  const mirror = requireMirror(instance);
  if (!mirror.current.includes(primary.uuid)) {
    const holders = mirror.current.map((uuid) => nodeOfUuid(config, uuid).name).join(', ');
    throw new CorralError(
      'conflict',
      `the copy of the disks of ${instance.name} on ${primary.name} is stale (generation ${mirror.generation} is current on ${holders || 'no node'}); fail it over to a current copy, or use instance failover --ignore-consistency`,
    );
  }
  const peer = mirrorPeer(config, instance, primary);
  const attach = (role: 'primary' | 'secondary', node: NodeRecord, other: NodeRecord) =>
    call(ctx, node, 'mirror', {
      action: 'attach',
      instance: instanceRef(instance),
      disks: agentDisks(instance),
      role,
      peer: other.id,
      peerHost: other.secondaryIp,
      generation: mirror.generation,
      peerCurrent: mirror.current.includes(other.uuid),
      force: false,
    });
  if (peer.offline) ctx.log(`${peer.name} is offline; ${instance.name} runs without its mirror`);
  // A dead peer (a failover out of it, above all) would hold the start for the call's whole timeout when it is
  // cut off or hung rather than down; the watcher attaches its copy once it is back.
  else if (ctx.observed(peer.id)?.state === 'dead')
    ctx.log(`gossip holds ${peer.name} dead; ${instance.name} runs without its mirror until it is back`);
  else
    await bestEffort(ctx, `attach the mirror of ${instance.name} on ${peer.name}`, () =>
      attach('secondary', peer, primary),
    );
  await attach('primary', primary, peer);
  ctx.log(`attached the mirrored disks of ${instance.name}: ${primary.name} serves, ${peer.name} mirrors`);
}

/** Detaches a mirrored instance's disks on `node`, and on its peer when `node` served them. */
export async function detachMirror(
  ctx: OpContext,
  instance: InstanceRecord,
  node: NodeRecord,
): Promise<void> {
  const config = ctx.config();
  const detach = (on: NodeRecord) =>
    call(ctx, on, 'mirror', { action: 'detach', instance: instanceRef(instance) });
  await detach(node);
  const current = config.instances.get(instance.uuid) ?? instance;
  if (current.primaryNode !== node.uuid) return;
  const peer = mirrorPeer(config, current, node);
  if (!peer.offline)
    await bestEffort(ctx, `detach the mirror of ${instance.name} on ${peer.name}`, () => detach(peer));
}

/** Waits until the config holds both copies of a mirrored instance current: its resync is done. */
export async function waitForSync(ctx: OpContext, instance: InstanceRecord): Promise<void> {
  ctx.log(`waiting for the disks of ${instance.name} to sync`);
  const deadline = ctx.clock.monotonicMs() + ctx.timings.mirrorSyncTimeoutMs;
  for (;;) {
    const latest = ctx.config().instances.get(instance.uuid);
    if (latest === undefined) throw new CorralError('not_found', `${instance.name} is gone`);
    if (requireMirror(latest).current.length === 2) break;
    if (ctx.clock.monotonicMs() >= deadline)
      throw new CorralError(
        'timeout',
        `the disks of ${instance.name} did not sync within ${ctx.timings.mirrorSyncTimeoutMs / 1000} s; see instance info, the resync goes on`,
      );
    ctx.signal.throwIfAborted();
    await new Promise((resolve) => ctx.clock.setTimer(MIRROR_SYNC_POLL_MS, () => resolve(undefined)));
  }
  ctx.log(`the disks of ${instance.name} are in sync`);
}

const MIRROR_SYNC_POLL_MS = 200;

/**
 * Records that only the primary's copy of a mirrored instance is current, before something writes it
 * without the mirror (an OS script, an import): its secondary is brought level by the next resync.
 */
export async function primaryCopyOnly(ctx: OpContext, instance: InstanceRecord): Promise<InstanceRecord> {
  const mirror = requireMirror(instance);
  await ctx.commit({
    type: 'instance-set',
    uuid: instance.uuid,
    changes: { mirror: { generation: mirror.generation + 1, current: [instance.primaryNode] } },
  });
  return requireInstance(ctx.config(), instance.name);
}

export function requireMirror(instance: InstanceRecord): MirrorState {
  if (instance.mirror === undefined)
    throw new CorralError(
      'internal',
      `${instance.name} uses ${instance.diskTemplate} but has no mirror state`,
    );
  return instance.mirror;
}

export async function stopOn(
  ctx: OpContext,
  node: NodeRecord,
  instance: InstanceRecord,
  timeoutS: number,
): Promise<void> {
  await call(
    ctx,
    node,
    'stop',
    { name: instance.name, hypervisor: instance.hypervisor, timeoutMs: timeoutS * 1000, force: false },
    timeoutS * 1000 + ANSWER_SLACK_MS,
  );
  ctx.log(`${instance.name} is stopped on ${node.name}`);
  if (needsSecondary(instance.diskTemplate)) await detachMirror(ctx, instance, node);
}

/** The environment OS scripts get of the instance besides what the node fills in (disk paths). */
export function osInstance(config: ConfigData, instance: InstanceRecord) {
  const be = filledBeParams(config.cluster, instance);
  return {
    os: instance.os,
    primaryNode: nodeOfUuid(config, instance.primaryNode).name,
    secondaryNodes: instance.secondaryNodes.map((uuid) => nodeOfUuid(config, uuid).name),
    ctimeMs: instance.ctimeMs,
    mtimeMs: instance.mtimeMs,
    beParams: ganetiBeParams(be),
    // The scripts get the private ones as the others (Ganeti's OSP_ variables); only views hide them.
    osParams: { ...filledOsParams(config.cluster, instance), ...instance.osParamsPrivate },
  };
}

/** What every OS script run carries: the instance as its scripts see it, and the time it may take. */
export function osRun(config: ConfigData, instance: InstanceRecord, extraEnv: Record<string, string> = {}) {
  return {
    spec: runtimeSpec(config, instance),
    instance: osInstance(config, instance),
    extraEnv,
    timeoutMs: OS_SCRIPT_TIMEOUT_MS,
  };
}

/** How long the master waits for a node's answer to a script run: the script's limit, and some. */
export const OS_SCRIPT_CALL_TIMEOUT_MS = OS_SCRIPT_TIMEOUT_MS + ANSWER_SLACK_MS;

/** Puts a script's output into the job log; a script that failed ends the opcode. */
export function checkScriptRun(
  ctx: OpContext,
  run: AgentScriptRun,
  what: string,
  instance: InstanceRecord,
  node: NodeRecord,
): void {
  for (const line of run.output
    .split('\n')
    .filter((l) => l.length > 0)
    .slice(-200))
    ctx.log(`  ${line}`);
  if (run.exitCode !== 0) {
    const how = run.timedOut
      ? 'timed out'
      : run.exitCode !== undefined
        ? `exited with ${run.exitCode}`
        : `was killed by ${run.signal}`;
    throw new CorralError('conflict', `the OS ${what} script for ${instance.name} ${how} on ${node.name}`);
  }
}

/** Runs an OS script on the node; its output goes into the job log, and a failure ends the opcode. */
export async function runOsScript(
  ctx: OpContext,
  config: ConfigData,
  node: NodeRecord,
  instance: InstanceRecord,
  script: 'create' | 'rename' | 'verify',
  extraEnv: Record<string, string> = {},
): Promise<void> {
  ctx.log(`running the ${instance.os} OS ${script} script on ${node.name}`);
  const run = await call(
    ctx,
    node,
    'os',
    { script, ...osRun(config, instance, extraEnv) },
    OS_SCRIPT_CALL_TIMEOUT_MS,
  );
  checkScriptRun(ctx, run, script, instance, node);
}

/**
 * Checks on the node that the OS (and variant) exists and is valid there; to install it (the default), also
 * that it is not blacklisted. `forceVariant` (Ganeti's --force-variant) lets a variant the OS does not list
 * through: the node's scripts get it as it was given.
 */
export async function requireOs(
  ctx: OpContext,
  node: NodeRecord,
  os: string,
  purpose: 'install' | 'export' = 'install',
  forceVariant = false,
): Promise<void> {
  if (purpose === 'install') requireNotBlacklisted(ctx.config().cluster, os);
  const [name, variant] = os.split('+', 2) as [string, string | undefined];
  const { oses } = await call(ctx, node, 'osDiagnose', {});
  const found = oses.find((o) => o.name === name);
  if (found === undefined)
    throw new CorralError('not_found', `OS ${name} is not installed on ${node.name} (see os diagnose)`);
  if (!found.valid)
    throw new CorralError(
      'conflict',
      `OS ${name} is not valid on ${node.name}: ${found.reason ?? 'unknown reason'}`,
    );
  if (variant !== undefined && !forceVariant && !found.variants.includes(variant))
    throw new CorralError(
      'not_found',
      `OS ${name} has no variant ${variant}${found.variants.length > 0 ? ` (variants: ${found.variants.join(', ')})` : ''}`,
    );
}

/** Calls that may fail on a node being cleaned up: the failure is logged, not thrown. */
export async function bestEffort(ctx: OpContext, what: string, step: () => Promise<unknown>): Promise<void> {
  try {
    await step();
  } catch (error) {
    ctx.log(`could not ${what}: ${asCorralError(error).message}`);
  }
}

/** Stops the instance and removes its disks; the outcome removes its record (instance remove, backup export). */
export async function removeInstance(
  ctx: OpContext,
  instance: InstanceRecord,
  options: { readonly ignoreFailures: boolean; readonly shutdownTimeoutS: number },
): Promise<OpOutcome> {
  const config = ctx.config();
  const pnode = primaryOf(config, instance);
  const tolerate = async (what: string, step: () => Promise<unknown>) => {
    if (options.ignoreFailures) await bestEffort(ctx, what, step);
    else
      try {
        await step();
      } catch (error) {
        throw new CorralError(
          'conflict',
          `could not ${what}: ${(error as Error).message}; retry, or add --ignore-failures`,
        );
      }
  };
  if (pnode.offline) ctx.log(`${pnode.name} is offline; not stopping ${instance.name} there`);
  else
    await tolerate(`stop ${instance.name} on ${pnode.name}`, () =>
      stopOn(ctx, pnode, instance, options.shutdownTimeoutS),
    );
  for (const node of diskNodes(config, instance)) {
    if (node.offline) ctx.log(`${node.name} is offline; its disks of ${instance.name} stay`);
    else await tolerate(`remove disks on ${node.name}`, () => removeDisks(ctx, node, instance));
  }
  return {
    mutation: { type: 'instance-remove', uuid: instance.uuid },
    result: { instance: instance.name },
  };
}
