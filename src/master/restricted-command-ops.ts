import { requireNode } from '../cluster/config.js';
import { asCorralError, CorralError } from '../common/errors.js';
import { call } from './instance-steps.js';
import type { LockRequest } from './locks.js';
import type { OpDefinitions } from './op-context.js';

/**
 * Ganeti's OpRestrictedCommand: the master asks each node to run a command its administrator put in the
 * node's restricted-commands directory. Every node is asked, one after the other as Ganeti's are; one that
 * fails or does not answer gives [false, why] and the others still run.
 */
export const restrictedCommandOpDefinitions: Pick<
  OpDefinitions,
  'OP_RESTRICTED_COMMAND' | 'OP_NODE_POWERCYCLE'
> = {
  /** Ganeti's LUNodePowercycle: a last resort, so it takes no lock; the master only with force. */
  OP_NODE_POWERCYCLE: {
    onTakeover: 'fail',
    locks: () => [],
    async run(op, ctx) {
      const config = ctx.config();
      const node = requireNode(config, op.node_name);
      if (node.id === config.master && !op.force)
        throw new CorralError('bad_request', 'The node is the master and the force parameter was not set');
      const { scheduled } = await call(ctx, node, 'powercycle', {});
      ctx.log(`${node.name}: ${scheduled}`);
      return { result: scheduled };
    },
  },

  OP_RESTRICTED_COMMAND: {
    onTakeover: 'resume',
    locks: (op): LockRequest[] =>
      op.use_locking ? [{ level: 'node', names: [...new Set(op.nodes)], mode: 'shared' }] : [],
    async run(op, ctx) {
      const config = ctx.config();
      const nodes = op.nodes.map((name) => requireNode(config, name));
      const offline = nodes.filter((node) => node.offline).map((node) => node.name);
      if (offline.length > 0)
        throw new CorralError('conflict', `${offline.join(', ')} offline: the command was run nowhere`);
      const result: [boolean, string][] = [];
      for (const node of nodes) {
        try {
          const { ok, output } = await call(ctx, node, 'restrictedCommand', { command: op.command });
          result.push([ok, output]);
        } catch (error) {
          if (ctx.signal.aborted) throw error;
          const why = asCorralError(error).message;
          ctx.log(`${op.command} on ${node.name}: ${why}`);
          result.push([false, `Executing command '${op.command}' failed: ${why}`]);
        }
      }
      return { result };
    },
  },
};
