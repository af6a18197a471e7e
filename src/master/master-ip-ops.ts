import { CorralError } from '../common/errors.js';
import type { LockRequest } from './locks.js';
import type { OpDefinitions } from './op-context.js';

/**
 * Ganeti's activate-master-ip and deactivate-master-ip. The master (this node) holds the cluster's floating
 * IP on its own network device; deactivating it lasts until it is activated again or another node becomes
 * master (which takes the IP up, as Ganeti's master-failover does).
 */

const bglShared: LockRequest = { level: 'cluster', names: ['BGL'], mode: 'shared' };

export const masterIpOpDefinitions: Pick<
  OpDefinitions,
  'OP_CLUSTER_ACTIVATE_MASTER_IP' | 'OP_CLUSTER_DEACTIVATE_MASTER_IP'
> = {
  OP_CLUSTER_ACTIVATE_MASTER_IP: {
    onTakeover: 'resume',
    locks: () => [bglShared],
    async run(_op, ctx) {
      const spec = ctx.config().cluster.masterIp;
      if (spec === undefined)
        throw new CorralError(
          'conflict',
          'the cluster has no master IP to activate; set one with cluster modify --master-ip ADDRESS',
        );
      const said = await ctx.masterIp.set(true);
      for (const line of said) ctx.log(line);
      return { result: null };
    },
  },
  OP_CLUSTER_DEACTIVATE_MASTER_IP: {
    onTakeover: 'resume',
    locks: () => [bglShared],
    async run(_op, ctx) {
      if (ctx.config().cluster.masterIp === undefined)
        throw new CorralError('conflict', 'the cluster has no master IP to deactivate');
      const said = await ctx.masterIp.set(false);
      for (const line of said) ctx.log(line);
      return { result: null };
    },
  },
};
