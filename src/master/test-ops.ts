import type { IAllocRequest } from '../alloc/iallocator/request.js';
import { answerRequest } from '../alloc/iallocator/respond.js';
import { writeIAllocMessage } from '../alloc/iallocator/write.js';
import { liveSnapshot, type NodeFigures } from '../alloc/live-snapshot.js';
import type { ClusterSnapshot } from '../alloc/types.js';
import {
  type ConfigData,
  findInstance,
  nodeOfUuid,
  requireInstance,
  sortedNodes,
} from '../cluster/config.js';
import {
  type DiskTemplate,
  diskSpaceMiB,
  diskTemplateTraits,
  requiredNodes,
} from '../cluster/disk-templates.js';
import type { Opcode } from '../cluster/opcodes.js';
import { toConfigView } from '../cluster/views.js';
import { asCorralError, CorralError } from '../common/errors.js';
import { resolveAllocator, runExternalAllocator } from './external-allocator.js';
import type { LockRequest } from './locks.js';
import type { OpContext, OpDefinitions } from './op-context.js';

/**
 * Ganeti's test opcodes beyond the delay: the allocator on a request made up on the command line
 * (gnt-debug iallocator), and the job queue's self-test (gnt-debug test-jobqueue). Neither changes the
 * cluster.
 */

/** The prefix of the messages OP_TEST_JQUEUE logs, by which gnt-debug test-jobqueue finds them (Ganeti's). */
export const JQT_MSGPREFIX = 'TESTMSG=';

const bglShared: LockRequest = { level: 'cluster', names: ['BGL'], mode: 'shared' };

type AllocatorOp = Extract<Opcode, { OP_ID: 'OP_TEST_ALLOCATOR' }>;

/** What gnt-debug iallocator sends when an option is not given (Ganeti's defaults, Ganeti's CLI). */
const DEFAULT_MEMORY_MIB = 128;

/**
 * The request, as Ganeti's LUTestAllocator makes it: a new instance must not exist yet; one to relocate,
 * give a secondary or move must exist. Node groups are named by name or UUID.
 */
export function allocatorRequest(op: AllocatorOp, config: ConfigData): IAllocRequest {
  const template: DiskTemplate = op.disk_template ?? config.cluster.enabledDiskTemplates[0] ?? 'diskless';
  const newInstance = (name: string) => {
    if (findInstance(config, name) !== undefined)
      throw new CorralError('conflict', `instance ${name} already exists; allocate asks about a new one`);
    const sizes = (op.disks ?? []).map((disk) => disk.size);
    return {
      name,
      disk_template: template,
      disks: (op.disks ?? []).map((disk) => ({ size: disk.size, mode: disk.mode ?? 'rw', spindles: null })),
      disk_space_total: diskSpaceMiB(template, sizes),
      memory: op.memory ?? DEFAULT_MEMORY_MIB,
      vcpus: op.vcpus ?? 1,
      spindle_use: op.spindle_use ?? 1,
      tags: [...(op.tags ?? [])],
      nics: (op.nics ?? []).map((nic) => ({
        mac: nic.mac ?? null,
        ip: nic.ip ?? null,
        bridge: nic.bridge ?? null,
      })),
      required_nodes: requiredNodes(template),
      group_name: null,
      // Ganeti sends these too; the allocator does not read them.
      ...{ os: op.os ?? null, hypervisor: op.hypervisor ?? config.cluster.enabledHypervisors[0] ?? null },
    };
  };
  const existing = (names: readonly string[]) => {
    if (names.length === 0)
      throw new CorralError('bad_request', `mode ${op.mode} needs the instances to move`);
    return names.map((name) => requireInstance(config, name).name);
  };
  switch (op.mode) {
    case 'allocate':
      return { type: 'allocate', ...newInstance(op.name) };
    case 'multi-allocate':
      return {
        type: 'multi-allocate',
        instances: Array.from({ length: op.count ?? 2 }, (_, i) => newInstance(`${op.name}${i}`)),
      };
    case 'relocate': {
      const instance = requireInstance(config, op.name);
      if (instance.secondaryNodes.length !== 1)
        throw new CorralError(
          'conflict',
          `instance ${instance.name} (${instance.diskTemplate}) has no secondary node; relocate finds a new secondary for a mirrored instance`,
        );
      const sizes = instance.disks.map((disk) => disk.sizeMiB);
      return {
        type: 'relocate',
        name: instance.name,
        required_nodes: 1,
        relocate_from: instance.secondaryNodes.map((uuid) => nodeOfUuid(config, uuid).name),
        ...{ disk_space_total: diskSpaceMiB(instance.diskTemplate, sizes) },
      };
    }
    case 'allocate-secondary':
      return { type: 'allocate-secondary', name: requireInstance(config, op.name).name };
    case 'change-group': {
      const groups = (op.target_groups ?? []).map((wanted) => {
        const group = [...config.groups.values()].find((g) => g.name === wanted || g.uuid === wanted);
        if (group === undefined) throw new CorralError('not_found', `node group ${wanted} does not exist`);
        return group.uuid;
      });
      return { type: 'change-group', instances: existing(op.instances ?? [op.name]), target_groups: groups };
    }
    case 'node-evacuate':
      return {
        type: 'node-evacuate',
        instances: existing(op.instances ?? [op.name]),
        evac_mode: op.evac_mode ?? 'all',
      };
  }
}

/** The template whose storage figures the nodes report as their disk: the request's, for a new instance. */
function requestTemplate(request: IAllocRequest): DiskTemplate | undefined {
  if (request.type === 'allocate') return request.disk_template;
  if (request.type === 'multi-allocate') return request.instances[0]?.disk_template;
  return undefined;
}

/** The live cluster as the allocator gets it: every node not offline reports; one that does not is left out. */
async function liveCluster(
  ctx: OpContext,
  config: ConfigData,
  template: DiskTemplate | undefined,
): Promise<ClusterSnapshot> {
  const storage = template !== undefined && diskTemplateTraits[template].disks !== 'none';
  const nodes = sortedNodes(config).filter((node) => !node.offline);
  const answers = await Promise.allSettled(
    nodes.map((node) =>
      ctx.agent.call(
        node.id,
        'status',
        { storage },
        { signal: ctx.signal, timeoutMs: ctx.timings.nodeCallTimeoutMs },
      ),
    ),
  );
  const figures = new Map<string, NodeFigures>();
  answers.forEach((answer, i) => {
    const node = nodes[i]!;
    if (answer.status === 'fulfilled') figures.set(node.name, answer.value);
    else ctx.log(`${node.name} did not answer (${asCorralError(answer.reason).message}); leaving it out`);
  });
  return liveSnapshot(toConfigView(config), figures, template === undefined ? {} : { template });
}

export const testOpDefinitions: Pick<OpDefinitions, 'OP_TEST_ALLOCATOR' | 'OP_TEST_JQUEUE'> = {
  OP_TEST_ALLOCATOR: {
    onTakeover: 'resume',
    locks: () => [bglShared],
    async run(op, ctx) {
      const config = ctx.config();
      if (op.direction === 'out' && op.iallocator === undefined)
        throw new CorralError(
          'bad_request',
          'direction out runs an allocator: name it with -I (. for the built-in one)',
        );
      const request = allocatorRequest(op, config);
      const snapshot = await liveCluster(ctx, config, requestTemplate(request));
      const message = writeIAllocMessage(snapshot, request, {
        clusterName: config.cluster.name,
        enabledHypervisors: config.cluster.enabledHypervisors,
      });
      if (op.direction === 'in') return { result: JSON.stringify(message) };
      if (op.iallocator === '.') {
        ctx.log('asking the built-in allocator');
        return { result: JSON.stringify(answerRequest({ cluster: snapshot, request })) };
      }
      const program = await resolveAllocator(op.iallocator ?? '.');
      ctx.log(`asking iallocator ${program}`);
      return { result: JSON.stringify(await runExternalAllocator(program, message)) };
    },
  },

  OP_TEST_JQUEUE: {
    onTakeover: 'resume',
    locks: () => [bglShared],
    async run(op, ctx) {
      if (op.notify_exec === true) ctx.log('jqueue test: exec');
      ctx.log('Executing');
      const messages = op.log_messages ?? [];
      if (messages.length > 0) {
        ctx.log(`jqueue test: startmsg ${messages.length}`);
        messages.forEach((message, i) => {
          ctx.log(`Sending log message ${i + 1}`);
          ctx.log(`${JQT_MSGPREFIX}${message}`);
        });
        ctx.log(`jqueue test: logmsg ${messages.length}`);
      }
      if (op.fail === true) throw new CorralError('conflict', 'Opcode failure was requested');
      return { result: true };
    },
  },
};
