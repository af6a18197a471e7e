import { CorralError } from '../common/errors.js';
import type { ClusterService } from './cluster-service.js';
import type { ControlHandlers } from './control-server.js';

type RaftOp = 'raft-status' | 'raft-transfer' | 'kv-put' | 'kv-get' | 'master-failover';

export interface RaftControlDeps {
  readonly cluster: Pick<ClusterService, 'raftStatus' | 'forward' | 'kvPut' | 'kvGet' | 'takeMasterRole'>;
  /** This node's name, which a failover here makes the master's. */
  readonly name: string;
}

/** The Raft group itself: its status, leadership, and the key-value store the benchmarks write to. */
export function raftControls({ cluster, name }: RaftControlDeps): Pick<ControlHandlers, RaftOp> {
  return {
    async 'raft-status'() {
      const status = cluster.raftStatus();
      if (status === undefined) throw new CorralError('unavailable', 'this node belongs to no cluster yet');
      return {
        id: status.id,
        role: status.role,
        term: status.term,
        ...(status.leader !== undefined && { leader: status.leader }),
        commit: status.commit,
        applied: status.applied,
        voters: [...status.membership.voters],
        learners: [...status.membership.learners],
      };
    },
    async 'raft-transfer'(request) {
      await cluster.forward({ op: 'transfer', to: request.peer });
      return {};
    },
    'kv-put': async (request) => ({ revision: await cluster.kvPut(request.key, request.value) }),
    async 'kv-get'(request) {
      const value = await cluster.kvGet(request.key, request.linearizable);
      return value === undefined ? {} : { value };
    },
    async 'master-failover'() {
      await cluster.takeMasterRole();
      return { master: name };
    },
  };
}
