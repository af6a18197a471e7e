import type { AgentResponse } from '../cluster/agent-protocols.js';
import { type DiskTemplate, diskSpaceMiB, diskTemplates, needsSecondary } from '../cluster/disk-templates.js';
import { instanceStatus, type NodeReport, nodeReport } from '../cluster/instance-status.js';
import { filledBeParams, groupTemplates, NODE_OS_CPUS } from '../cluster/model.js';
import type { ConfigView, InstanceView } from '../cluster/views.js';
import {
  asGroupUuid,
  asInstanceName,
  asNodeName,
  type ClusterSnapshot,
  defaultIPolicy,
  type InstanceSpec,
  type IPolicy,
  type NodeSpec,
} from './types.js';

/**
 * The live cluster as src/alloc sees it: the replicated config plus what each node reported of itself
 * (the agent's status call). Pure, so that the master (placement, evacuation) and the CLI (balance,
 * capacity, roll) build the same snapshot from the same facts.
 */

export type NodeFigures = AgentResponse<'status'>;

export interface LiveSnapshotOptions {
  /**
   * Whose storage figures are the nodes' disk: the request's template, as Ganeti sends them to an
   * iallocator; the cluster's first enabled template by default.
   */
  readonly template?: string;
}

const isAllocTemplate = (t: string): t is DiskTemplate => (diskTemplates as readonly string[]).includes(t);

/**
 * The config records no instance policy yet: Ganeti's default maxima and ratios, the cluster's enabled
 * templates, and no minimum (Ganeti's minimum of a 1 GiB disk would refuse small instances that Corral
 * has always accepted).
 */
export function livePolicy(enabledTemplates: readonly string[]): IPolicy {
  const [range] = defaultIPolicy.minMax;
  const none = { memoryMiB: 0, cpuCount: 0, diskMiB: 0, diskCount: 0, nicCount: 0, spindleUse: 0 };
  return {
    ...defaultIPolicy,
    minMax: range === undefined ? [] : [{ min: none, max: range.max }],
    diskTemplates: enabledTemplates.filter(isAllocTemplate),
  };
}

export function liveSnapshot(
  config: ConfigView,
  figures: ReadonlyMap<string, NodeFigures>,
  options: LiveSnapshotOptions = {},
): ClusterSnapshot {
  const policy = livePolicy(config.cluster.enabledDiskTemplates);
  const template = options.template ?? config.cluster.enabledDiskTemplates[0];
  const nodeName = new Map(config.nodes.map((n) => [n.uuid, n.name]));
  const reports = new Map<string, NodeReport>(
    config.nodes.map((n) => [n.name, nodeReport(figures.get(n.name)?.instances)]),
  );
  const instances = [...config.instances]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((i) => instanceSpec(config, i, nodeName, reports));
  const nodes = [...config.nodes]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((n): NodeSpec => {
      const status = figures.get(n.name);
      const storage = status?.storage.find((s) => s.template === template && s.available);
      const running = new Map(status?.instances.map((i) => [i.name, i.memoryMiB]));
      // Ganeti's free_memory: room is kept for primaries that should run, at their full size, whatever
      // they use now (down, starting, or ballooned).
      const promisedMiB = config.instances
        .filter((i) => i.primaryNode === n.uuid && i.adminState === 'up')
        .reduce((sum, i) => {
          const maxmem = filledBeParams(config.cluster, i).maxmemMiB;
          return sum + Math.max(0, maxmem - (running.get(i.name) ?? 0));
        }, 0);
      return {
        name: asNodeName(n.name),
        group: asGroupUuid(n.group),
        totalMemoryMiB: status?.memoryTotalMiB ?? 0,
        nodeMemoryMiB: status
          ? Math.max(0, status.memoryTotalMiB - status.memoryFreeMiB - status.memoryInstancesMiB)
          : 0,
        freeMemoryMiB: status ? status.memoryFreeMiB - promisedMiB : 0,
        totalDiskMiB: storage?.totalMiB ?? 0,
        freeDiskMiB: storage?.freeMiB ?? 0,
        totalCpus: status?.cpus ?? 0,
        nodeCpus: status ? NODE_OS_CPUS : 0,
        cpuSpeed: 1,
        spindles: 1,
        freeSpindles: 0,
        exclusiveStorage: false,
        // A node that did not answer gives no figures: htools treats such a node as offline.
        offline: n.offline || !n.vmCapable || status === undefined,
        drained: n.drained,
        master: n.id === config.master,
        tags: n.tags,
      };
    });
  return {
    groups: [...config.groups]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((g) => ({
        name: g.name,
        uuid: asGroupUuid(g.uuid),
        allocPolicy: g.allocPolicy,
        tags: g.tags,
        networks: [],
        policy: livePolicy(groupTemplates(config.cluster.enabledDiskTemplates, g)),
      })),
    nodes,
    instances,
    clusterTags: config.cluster.tags,
    clusterPolicy: policy,
  };
}

function instanceSpec(
  config: ConfigView,
  i: InstanceView,
  nodeName: ReadonlyMap<string, string>,
  reports: ReadonlyMap<string, NodeReport>,
): InstanceSpec {
  const be = filledBeParams(config.cluster, i);
  const primary = config.nodes.find((n) => n.uuid === i.primaryNode);
  const secondary = i.secondaryNodes[0] === undefined ? undefined : nodeName.get(i.secondaryNodes[0]);
  const sizes = i.disks.map((d) => d.sizeMiB);
  return {
    name: asInstanceName(i.name),
    memoryMiB: be.maxmemMiB,
    disksMiB: sizes,
    diskSpaceMiB: diskSpaceMiB(i.diskTemplate, sizes),
    diskSpindles: sizes.map(() => null),
    vcpus: be.vcpus,
    status: instanceStatus(
      { ...i, primary: { name: primary?.name ?? '', offline: primary?.offline ?? true } },
      reports,
    ),
    autoBalance: be.autoBalance,
    primary: asNodeName(primary?.name ?? ''),
    secondary: needsSecondary(i.diskTemplate) && secondary !== undefined ? asNodeName(secondary) : null,
    diskTemplate: i.diskTemplate,
    tags: i.tags,
    spindleUse: be.spindleUse,
    forthcoming: false,
    nicCount: i.nics.length,
  };
}
