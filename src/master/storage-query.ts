import { requireNode, sortedNodes } from '../cluster/config.js';
import type { NodeRecord } from '../cluster/model.js';
import { type Opcode, templateOfStorage } from '../cluster/opcodes.js';
import { CorralError } from '../common/errors.js';
import { call } from './instance-steps.js';
import type { OpContext, OpDefinitions } from './op-context.js';

type StorageQuery = Extract<Opcode, { OP_ID: 'OP_NODE_QUERY_STORAGE' }>;

/**
 * The nodes a storage query asks: those named (each once), else every vm-capable node; offline ones are named
 * in the job's log and left out, as Ganeti leaves them out.
 */
export function nodesToAsk(ctx: OpContext, names: readonly string[]): NodeRecord[] {
  const config = ctx.config();
  const nodes =
    names.length > 0
      ? [...new Set(names)].map((name) => requireNode(config, name))
      : sortedNodes(config).filter((node) => node.vmCapable);
  for (const node of nodes) if (node.offline) ctx.log(`${node.name} is offline; not asked`);
  return nodes.filter((node) => !node.offline);
}

/**
 * Ganeti's OpNodeQueryStorage: one row per node and storage unit (a file storage directory, a volume
 * group), the fields in the order asked, sizes in MiB. A node that cannot answer is named in the job's log
 * and left out, as Ganeti leaves out offline nodes.
 */
export const storageQueryOpDefinitions: Pick<OpDefinitions, 'OP_NODE_QUERY_STORAGE'> = {
  OP_NODE_QUERY_STORAGE: {
    onTakeover: 'resume',
    locks: () => [{ level: 'cluster', names: ['BGL'], mode: 'shared' }],
    async run(op, ctx) {
      const template = templateOfStorage[op.storage_type];
      const rows: unknown[][] = [];
      for (const node of nodesToAsk(ctx, op.nodes)) {
        try {
          const status = await call(ctx, node, 'status', { storage: true }, ctx.timings.nodeCallTimeoutMs);
          const unit = status.storage.find((entry) => entry.template === template);
          if (unit === undefined || !unit.available) continue;
          const name = unit.location ?? template;
          if (op.name !== undefined && op.name !== name) continue;
          rows.push(op.output_fields.map((field) => storageField(op, field, node.name, name, unit)));
        } catch (error) {
          ctx.log(`${node.name} did not answer: ${(error as Error).message}`);
        }
      }
      return { result: rows };
    },
  },
};

function storageField(
  op: StorageQuery,
  field: StorageQuery['output_fields'][number],
  node: string,
  name: string,
  unit: { readonly totalMiB?: number | undefined; readonly freeMiB?: number | undefined },
): unknown {
  const size = unit.totalMiB ?? null;
  const free = unit.freeMiB ?? null;
  switch (field) {
    case 'node':
      return node;
    case 'type':
      return op.storage_type;
    case 'name':
      return name;
    case 'size':
      return size;
    case 'free':
      return free;
    case 'used':
      return size === null || free === null ? null : size - free;
    case 'allocatable':
      // Ganeti's flag is for LVM physical volumes; Corral's units always take new disks.
      return true;
  }
}

/**
 * Ganeti's OpRepairNodeStorage: the node's agent repairs the storage unit (for lvm-vg, `vgreduce
 * --removemissing`, forced when LVM asks for it) and its output goes to the job's log. Ganeti first checks
 * that the instances with disks on the node have healthy disks elsewhere; Corral's only multi-node disks are
 * the mirrored ones, which are files, never in the volume group, so there is nothing to check.
 */
export const storageRepairOpDefinitions: Pick<OpDefinitions, 'OP_REPAIR_NODE_STORAGE'> = {
  OP_REPAIR_NODE_STORAGE: {
    onTakeover: 'resume',
    locks: (op) => [
      { level: 'cluster', names: ['BGL'], mode: 'shared' },
      { level: 'node', names: [op.node_name], mode: 'exclusive' },
    ],
    async run(op, ctx) {
      const node = requireNode(ctx.config(), op.node_name);
      if (node.offline)
        throw new CorralError(
          'conflict',
          `${node.name} is offline; mark it online before repairing its storage`,
        );
      const template = templateOfStorage[op.storage_type];
      const { output } = await call(ctx, node, 'repairStorage', { template, name: op.name });
      ctx.log(`${node.name}: ${output}`);
      return { result: output };
    },
  },
};
