import type { ConfigData } from '../cluster/config.js';
import type { ClusterParams, GroupRecord, NodeRecord } from '../cluster/model.js';
import {
  checkNodeNdParams,
  clusterNdParams,
  filledNdParams,
  forceNdParams,
  type NdParamsInput,
  type NdParamsOverrides,
  updatedNdParams,
} from '../cluster/ndparams.js';
import { CorralError } from '../common/errors.js';

/**
 * The node-parameter part of the cluster, group and node opcodes, as Ganeti's LUs check it: each returns
 * the mutation fields to add (none when the opcode changes no node parameter).
 */

const WHERE = 'ndparams';

function given(ndparams: NdParamsInput | undefined): ndparams is NdParamsInput {
  return ndparams !== undefined && Object.keys(ndparams).length > 0;
}

export const ndParamsChanges = {
  /** LUClusterSetParams: the change over the cluster's own values. */
  cluster(
    cluster: ClusterParams,
    op: { readonly ndparams?: NdParamsInput | undefined },
  ): { ndParams?: NdParamsOverrides } {
    return given(op.ndparams) ? { ndParams: clusterNdParams(cluster.ndParams, op.ndparams, WHERE) } : {};
  },

  /** LUGroupAdd: the group's own values, checked. */
  groupAdd(op: { readonly ndparams?: NdParamsInput | undefined }): { ndParams?: NdParamsOverrides } {
    return given(op.ndparams) ? { ndParams: forceNdParams(op.ndparams, WHERE) } : {};
  },

  /** LUNodeAdd: the new node's own values, never a global one. */
  nodeAdd(op: { readonly ndparams?: NdParamsInput | undefined }): { ndParams?: NdParamsOverrides } {
    if (!given(op.ndparams)) return {};
    checkNodeNdParams(op.ndparams, WHERE);
    return { ndParams: forceNdParams(op.ndparams, WHERE) };
  },

  /** LUGroupSetParams: `default` takes a key back to the cluster's value. */
  group(
    group: GroupRecord,
    op: { readonly ndparams?: NdParamsInput | undefined },
  ): { ndParams?: NdParamsOverrides } {
    return given(op.ndparams) ? { ndParams: updatedNdParams(group.ndParams, op.ndparams, WHERE) } : {};
  },

  /**
   * LUNodeSetParams: the node's own values (never a global one), and its recorded power state, which only
   * a node with an out-of-band program has; such a node must be powered before it comes back online.
   */
  node(
    config: ConfigData,
    node: NodeRecord,
    op: {
      readonly node_name: string;
      readonly ndparams?: NdParamsInput | undefined;
      readonly powered?: boolean | undefined;
      readonly offline?: boolean | undefined;
    },
  ): { ndParams?: NdParamsOverrides; powered?: boolean } {
    let ndParams: NdParamsOverrides | undefined;
    if (given(op.ndparams)) {
      checkNodeNdParams(op.ndparams, WHERE);
      ndParams = updatedNdParams(node.ndParams, op.ndparams, WHERE);
    }
    const supportsOob =
      filledNdParams(config.cluster, config.groups.get(node.group), node).oob_program !== '';
    if (supportsOob) {
      if (op.offline === false && !((node.powered ?? true) || op.powered === true))
        throw new CorralError(
          'conflict',
          `Node ${op.node_name} needs to be turned on before its offline status can be reset (node power on ${op.node_name})`,
        );
    } else if (op.powered !== undefined)
      throw new CorralError(
        'conflict',
        `Unable to change powered state for node ${op.node_name} as it does not support out-of-band handling (set its oob_program first)`,
      );
    return {
      ...(ndParams !== undefined && { ndParams }),
      ...(op.powered !== undefined && { powered: op.powered }),
    };
  },
};
