import type { NodeId } from '../common/ids.js';
import type { UserEvents } from '../membership/user-events.js';
import type { ControlHandlers } from './control-server.js';
import type { NodeMembership } from './membership.js';

type GossipOp = 'event' | 'events' | 'health' | 'monitor-reports' | 'config-query';

export interface GossipControlDeps {
  readonly self: NodeId;
  readonly userEvents: UserEvents;
  readonly membership: Pick<NodeMembership, 'health' | 'reports' | 'configQuery'>;
}

/** What this node's gossip knows or sends: answered with no master, partitioned or not. */
export function gossipControls(deps: GossipControlDeps): Pick<ControlHandlers, GossipOp> {
  const { self, userEvents, membership } = deps;
  return {
    event: async (request) => ({ sentAtMs: await userEvents.publish(request.name, request.payload) }),
    events: async (request) => ({ events: userEvents.received(request.name) }),
    health: async (request) => ({ self, rows: membership.health(request.node) }),
    async 'monitor-reports'(request) {
      const { node, reports } = await membership.reports(request.node);
      return { node, reports: [...reports] };
    },
    'config-query': (request) => membership.configQuery(request.query, request.nodes),
  };
}
