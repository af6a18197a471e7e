import { sortedInstances } from '../cluster/config.js';
import type { InstanceRecord, NodeRecord } from '../cluster/model.js';
import type { Opcode } from '../cluster/opcodes.js';
import { asCorralError } from '../common/errors.js';
import { agentDisks } from './instance-runtime.js';
import { call } from './instance-steps.js';
import type { OpDefinitions } from './op-context.js';
import { nodesToAsk } from './storage-query.js';

type VolumeQuery = Extract<Opcode, { OP_ID: 'OP_NODE_QUERYVOLS' }>;
type VolumeField = VolumeQuery['output_fields'][number];

/** One disk as a node holds it. */
interface Volume {
  readonly node: string;
  /** The disk's device or file on the node. */
  readonly path: string;
  /** Where its template keeps disks: the volume group or the directory (the template's name if unsaid). */
  readonly location: string;
  readonly sizeMiB: number;
  readonly instance: string;
}

/** Whether the node holds a copy of the instance's disks: its primary, or a mirrored disk's secondary. */
function holds(instance: InstanceRecord, node: NodeRecord): boolean {
  if (instance.diskTemplate === 'diskless' || instance.disks.length === 0) return false;
  return instance.primaryNode === node.uuid || instance.secondaryNodes.includes(node.uuid);
}

/**
 * Ganeti's OpNodeQueryvols (gnt-node volumes). Ganeti lists the logical volumes `lvs` finds; Corral asks each
 * node about the disks the configuration places there (the primary's, and a mirrored disk's secondary copy;
 * sharedfile disks once, on their primary), so a disk missing on its node is named in the log, not listed.
 */
export const volumeQueryOpDefinitions: Pick<OpDefinitions, 'OP_NODE_QUERYVOLS'> = {
  OP_NODE_QUERYVOLS: {
    onTakeover: 'resume',
    locks: () => [{ level: 'cluster', names: ['BGL'], mode: 'shared' }],
    async run(op, ctx) {
      const config = ctx.config();
      const rows: unknown[][] = [];
      for (const node of nodesToAsk(ctx, op.nodes)) {
        for (const instance of sortedInstances(config).filter((i) => holds(i, node))) {
          try {
            const answer = await call(
              ctx,
              node,
              'disks',
              {
                action: 'sizes',
                instance: { name: instance.name, uuid: instance.uuid },
                template: instance.diskTemplate,
                disks: agentDisks(instance),
              },
              ctx.timings.nodeCallTimeoutMs,
            );
            for (const [index, path] of answer.paths.entries()) {
              const sizeMiB = answer.sizesMiB?.[index];
              if (sizeMiB === undefined || sizeMiB === null) {
                ctx.log(`disk ${index} of ${instance.name} is missing on ${node.name}`);
                continue;
              }
              const location = answer.location ?? instance.diskTemplate;
              const volume = { node: node.name, path, location, sizeMiB, instance: instance.name };
              rows.push(op.output_fields.map((field) => volumeField(field, volume)));
            }
          } catch (error) {
            if (ctx.signal.aborted) throw error;
            ctx.log(
              `${node.name} did not list the disks of ${instance.name}: ${asCorralError(error).message}`,
            );
          }
        }
      }
      return { result: rows };
    },
  },
};

function volumeField(field: VolumeField, volume: Volume): unknown {
  switch (field) {
    case 'node':
      return volume.node;
    case 'phys':
      return volume.path;
    case 'vg':
      return volume.location;
    case 'name': {
      // Its name within the volume group or directory: the logical volume, or the file under the directory.
      const prefix = volume.location.startsWith('/') ? `${volume.location}/` : `/dev/${volume.location}/`;
      return volume.path.startsWith(prefix) ? volume.path.slice(prefix.length) : volume.path;
    }
    case 'size':
      return volume.sizeMiB;
    case 'instance':
      return volume.instance;
  }
}
