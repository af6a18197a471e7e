import { createHash } from 'node:crypto';
import type { AgentDisk, RuntimeSpec } from '../cluster/agent-protocols.js';
import { type ConfigData, nodeOfUuid } from '../cluster/config.js';
import { filledBeParams, type InstanceRecord, type NodeRecord } from '../cluster/model.js';
import type { BeParamsInput } from '../cluster/opcodes.js';
import { filledHvParams } from '../cluster/os-params.js';
import { CorralError } from '../common/errors.js';
import type { HookSpec } from './op-context.js';

/** Pure helpers that turn an instance's config record into what nodes and hooks are given. */

export function agentDisks(instance: InstanceRecord): AgentDisk[] {
  return instance.disks.map((disk, index) => ({
    uuid: disk.uuid,
    index,
    sizeMiB: disk.sizeMiB,
    mode: disk.mode,
    format: disk.format,
    ...(disk.name !== undefined && { name: disk.name }),
  }));
}

export function runtimeSpec(config: ConfigData, instance: InstanceRecord): RuntimeSpec {
  const be = filledBeParams(config.cluster, instance);
  return {
    name: instance.name,
    uuid: instance.uuid,
    hypervisor: instance.hypervisor,
    memoryMiB: be.maxmemMiB,
    vcpus: be.vcpus,
    hvParams: filledHvParams(config.cluster, instance),
    diskTemplate: instance.diskTemplate,
    disks: agentDisks(instance),
    nics: [...instance.nics],
  };
}

/** Ganeti's beparams input (`memory` sets both bounds) as the record's partial parameters. */
export function beParamsFromInput(input: BeParamsInput): InstanceRecord['beParams'] {
  const maxmem = input.maxmem ?? input.memory;
  const minmem = input.minmem ?? input.memory;
  if (maxmem !== undefined && minmem !== undefined && minmem > maxmem)
    throw new CorralError('bad_request', `minmem ${minmem} MiB is above maxmem ${maxmem} MiB`);
  return {
    ...(maxmem !== undefined && { maxmemMiB: maxmem }),
    ...(minmem !== undefined && { minmemMiB: minmem }),
    ...(input.vcpus !== undefined && { vcpus: input.vcpus }),
    ...(input.auto_balance !== undefined && { autoBalance: input.auto_balance }),
    ...(input.always_failover !== undefined && { alwaysFailover: input.always_failover }),
    ...(input.spindle_use !== undefined && { spindleUse: input.spindle_use }),
  };
}

/** Why a node cannot take a new or moved instance, or undefined when it can (Ganeti's node checks). */
export function unfitForInstances(node: NodeRecord): string | undefined {
  if (node.offline) return `${node.name} is offline`;
  if (node.drained) return `${node.name} is drained (no new instances)`;
  if (!node.vmCapable) return `${node.name} is not vm capable`;
  return undefined;
}

export function requireFitNode(node: NodeRecord): void {
  const why = unfitForInstances(node);
  if (why !== undefined) throw new CorralError('conflict', why);
}

export function primaryOf(config: ConfigData, instance: InstanceRecord): NodeRecord {
  return nodeOfUuid(config, instance.primaryNode);
}

/** Ganeti's standard instance hook variables (hooks.rst), without the GANETI_ prefix. */
export function instanceHookEnv(config: ConfigData, instance: InstanceRecord): Record<string, string> {
  const be = filledBeParams(config.cluster, instance);
  const env: Record<string, string> = {
    INSTANCE_NAME: instance.name,
    INSTANCE_PRIMARY: nodeOfUuid(config, instance.primaryNode).name,
    INSTANCE_SECONDARIES: instance.secondaryNodes.map((uuid) => nodeOfUuid(config, uuid).name).join(' '),
    INSTANCE_OS_TYPE: instance.os,
    INSTANCE_STATUS: instance.adminState,
    INSTANCE_HYPERVISOR: instance.hypervisor,
    INSTANCE_DISK_TEMPLATE: instance.diskTemplate,
    INSTANCE_TAGS: instance.tags.join(' '),
    INSTANCE_MINMEM: String(be.minmemMiB),
    INSTANCE_MAXMEM: String(be.maxmemMiB),
    INSTANCE_MEMORY: String(be.maxmemMiB),
    INSTANCE_VCPUS: String(be.vcpus),
    INSTANCE_NIC_COUNT: String(instance.nics.length),
    INSTANCE_DISK_COUNT: String(instance.disks.length),
    INSTANCE_BE_maxmem: String(be.maxmemMiB),
    INSTANCE_BE_minmem: String(be.minmemMiB),
    INSTANCE_BE_vcpus: String(be.vcpus),
    INSTANCE_BE_auto_balance: be.autoBalance ? 'True' : 'False',
    INSTANCE_BE_always_failover: be.alwaysFailover ? 'True' : 'False',
    INSTANCE_BE_spindle_use: String(be.spindleUse),
  };
  instance.nics.forEach((nic, n) => {
    env[`INSTANCE_NIC${n}_MAC`] = nic.mac;
    env[`INSTANCE_NIC${n}_IP`] = nic.ip ?? '';
    env[`INSTANCE_NIC${n}_MODE`] = nic.mode;
    env[`INSTANCE_NIC${n}_LINK`] = nic.link;
    env[`INSTANCE_NIC${n}_UUID`] = nic.uuid;
    env[`INSTANCE_NIC${n}_NAME`] = nic.name ?? '';
    if (nic.mode === 'bridged' || nic.mode === 'openvswitch') env[`INSTANCE_NIC${n}_BRIDGE`] = nic.link;
  });
  instance.disks.forEach((disk, n) => {
    env[`INSTANCE_DISK${n}_SIZE`] = String(disk.sizeMiB);
    env[`INSTANCE_DISK${n}_MODE`] = disk.mode;
    env[`INSTANCE_DISK${n}_UUID`] = disk.uuid;
    env[`INSTANCE_DISK${n}_NAME`] = disk.name ?? '';
  });
  for (const [key, value] of Object.entries(instance.hvParams)) env[`INSTANCE_HV_${key}`] = value;
  return env;
}

/** Hooks of an instance operation, on the master plus the instance's nodes unless told otherwise. */
export function instanceHooks(
  hpath: string,
  config: ConfigData,
  instance: InstanceRecord,
  extra: Record<string, string> = {},
  nodes: readonly NodeRecord[] = [],
): HookSpec {
  const ids = new Set([
    ...(config.master !== undefined ? [config.master] : []),
    ...[instance.primaryNode, ...instance.secondaryNodes].map((uuid) => nodeOfUuid(config, uuid).id),
    ...nodes.map((node) => node.id),
  ]);
  const online = [...ids].filter((id) => ![...config.nodes.values()].some((n) => n.id === id && n.offline));
  return {
    hpath,
    objectType: 'INSTANCE',
    target: instance.name,
    env: { ...instanceHookEnv(config, instance), ...extra },
    preNodes: online,
    postNodes: online,
  };
}

/**
 * A MAC under the cluster's prefix from three bytes of a fresh UUID's hash: any two UUIDs give unrelated bytes,
 * so a caller that draws again on a taken MAC soon finds a free one, whatever its UUIDs look like (the
 * simulator's are a seed and a counter, whose first six hex digits were the same for every draw).
 */
export function generateMac(prefix: string, uuid: string): string {
  const hex = createHash('sha256').update(uuid).digest('hex');
  return `${prefix}:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`;
}
