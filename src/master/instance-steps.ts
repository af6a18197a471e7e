import type { AgentCall, AgentRequest, AgentResponse, AgentScriptRun } from '../cluster/agent-protocols.js';
import { type ConfigData, nodeOfUuid, requireInstance, sortedNodes } from '../cluster/config.js';
import { runningNames } from '../cluster/instance-status.js';
import { filledBeParams, type InstanceRecord, type NodeRecord } from '../cluster/model.js';
import { asCorralError, CorralError } from '../common/errors.js';
import { agentDisks, primaryOf, runtimeSpec } from './instance-runtime.js';
import type { LockRequest } from './locks.js';
import type { OpContext, OpOutcome } from './op-context.js';

/** The steps instance opcodes are made of: each one request to a node agent, logged for the job. */

/** How long an OS script may run (debootstrap can take a while). */
const OS_SCRIPT_TIMEOUT_MS = 60 * 60_000;

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

export async function createDisks(ctx: OpContext, node: NodeRecord, instance: InstanceRecord): Promise<void> {
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
  const others = sortedNodes(config).filter((node) => node.uuid !== except.uuid && !node.offline);
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
  await call(ctx, node, 'start', { spec: runtimeSpec(config, instance), paused });
  ctx.log(`started ${instance.name} on ${node.name}`);
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
    timeoutS * 1000 + 60_000,
  );
  ctx.log(`${instance.name} is stopped on ${node.name}`);
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
    beParams: {
      maxmem: be.maxmemMiB,
      minmem: be.minmemMiB,
      vcpus: be.vcpus,
      auto_balance: be.autoBalance,
      always_failover: be.alwaysFailover,
      spindle_use: be.spindleUse,
    },
    osParams: { ...instance.osParams },
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
export const OS_SCRIPT_CALL_TIMEOUT_MS = OS_SCRIPT_TIMEOUT_MS + 60_000;

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

/** Checks on the node that the OS (and variant) exists and is valid there. */
export async function requireOs(ctx: OpContext, node: NodeRecord, os: string): Promise<void> {
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
  if (variant !== undefined && !found.variants.includes(variant))
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
