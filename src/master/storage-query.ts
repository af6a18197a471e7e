import { requireNode, sortedNodes } from '../cluster/config.js';
import { type Opcode, templateOfStorage } from '../cluster/opcodes.js';
import { call } from './instance-steps.js';
import type { OpDefinitions } from './op-context.js';

type StorageQuery = Extract<Opcode, { OP_ID: 'OP_NODE_QUERY_STORAGE' }>;

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
      const config = ctx.config();
      const nodes =
        op.nodes.length > 0
          ? op.nodes.map((name) => requireNode(config, name))
          : sortedNodes(config).filter((node) => !node.offline && node.vmCapable);
      const template = templateOfStorage[op.storage_type];
      const rows: unknown[][] = [];
      for (const node of nodes) {
        if (node.offline) {
          ctx.log(`${node.name} is offline; not asked`);
          continue;
        }
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
