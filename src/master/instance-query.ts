import { type ConfigData, nodeOfUuid, requireInstance, sortedInstances } from '../cluster/config.js';
import { runningNames } from '../cluster/instance-status.js';
import { filledBeParams, type InstanceRecord } from '../cluster/model.js';
import { filledHvParams, filledOsParams } from '../cluster/os-params.js';
import { ganetiBeParams } from '../cluster/query/index.js';
import { call } from './instance-steps.js';
import type { LockRequest } from './locks.js';
import type { OpContext, OpDefinitions } from './op-context.js';

const bglShared: LockRequest = { level: 'cluster', names: ['BGL'], mode: 'shared' };

/**
 * Ganeti's OpInstanceQueryData (gnt-instance info, RAPI's /2/instances/[i]/info): each instance's
 * configuration, and unless `static`, whether it runs, as its primary node says. Reads only; runs on the
 * master under shared locks so that it sees the configuration the other jobs leave.
 */
export const instanceQueryOpDefinitions: Pick<OpDefinitions, 'OP_INSTANCE_QUERY_DATA'> = {
  OP_INSTANCE_QUERY_DATA: {
    onTakeover: 'resume',
    locks: (op) => [
      bglShared,
      { level: 'instance', names: op.instances.length > 0 ? [...op.instances] : 'all', mode: 'shared' },
    ],
    async run(op, ctx) {
      const config = ctx.config();
      const instances =
        op.instances.length > 0
          ? op.instances.map((name) => requireInstance(config, name))
          : sortedInstances(config);
      const result: Record<string, unknown> = {};
      for (const instance of instances)
        result[instance.name] = await instanceData(ctx, config, instance, op.static === true);
      return { result };
    },
  },
};

/** Whether the primary runs it: null when not asked (static) or when the primary cannot say. */
async function runState(
  ctx: OpContext,
  config: ConfigData,
  instance: InstanceRecord,
): Promise<string | null> {
  const primary = nodeOfUuid(config, instance.primaryNode);
  if (primary.offline) return null;
  try {
    const status = await call(ctx, primary, 'status', {}, ctx.timings.nodeCallTimeoutMs);
    return runningNames(status.instances).has(instance.name) ? 'up' : 'down';
  } catch (error) {
    ctx.log(`${primary.name} did not say whether ${instance.name} runs: ${(error as Error).message}`);
    return null;
  }
}

async function instanceData(ctx: OpContext, config: ConfigData, instance: InstanceRecord, isStatic: boolean) {
  const primary = nodeOfUuid(config, instance.primaryNode);
  const secondaries = instance.secondaryNodes.map((uuid) => nodeOfUuid(config, uuid));
  const filled = filledBeParams(config.cluster, instance);
  return {
    name: instance.name,
    config_state: instance.adminState,
    run_state: isStatic ? null : await runState(ctx, config, instance),
    pnode: primary.name,
    pnode_group_uuid: primary.group,
    pnode_group_name: config.groups.get(primary.group)?.name ?? null,
    snodes: secondaries.map((node) => node.name),
    snodes_group_uuids: secondaries.map((node) => node.group),
    snodes_group_names: secondaries.map((node) => config.groups.get(node.group)?.name ?? null),
    os: instance.os,
    // Ganeti's tuple per NIC: name, UUID, MAC, IP, mode, link, VLAN, network UUID and name (Corral has none).
    nics: instance.nics.map((nic) => [
      nic.name ?? null,
      nic.uuid,
      nic.mac,
      nic.ip ?? null,
      nic.mode,
      nic.link,
      '',
      null,
      null,
    ]),
    disk_template: instance.diskTemplate,
    disks: instance.disks.map((disk, index) => ({
      dev_type: instance.diskTemplate,
      iv_name: `disk/${index}`,
      uuid: disk.uuid,
      name: disk.name ?? null,
      size: disk.sizeMiB,
      spindles: null,
      mode: disk.mode,
      logical_id: null,
      pstatus: null,
      sstatus: null,
      children: [],
    })),
    hypervisor: instance.hypervisor,
    network_port: null,
    hv_instance: { ...instance.hvParams },
    hv_actual: filledHvParams(config.cluster, instance),
    be_instance: ganetiBeParams(instance.beParams),
    be_actual: ganetiBeParams(filled),
    os_instance: { ...instance.osParams },
    os_actual: filledOsParams(config.cluster, instance),
    serial_no: instance.serial,
    mtime: instance.mtimeMs / 1000,
    ctime: instance.ctimeMs / 1000,
    uuid: instance.uuid,
  };
}
