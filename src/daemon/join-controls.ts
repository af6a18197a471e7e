import { CorralError } from '../common/errors.js';
import type { Enrolment } from '../peer/enrolment.js';
import { parseNodeId } from '../peer/identity.js';
import { MAX_TOKEN_LIFETIME_MS, mintJoinToken, readJoinToken } from '../peer/join-token.js';
import type { ControlHandlers } from './control-server.js';
import { type JoinServiceDeps, type JoinTokenSlot, joinThrough } from './join-service.js';

export interface JoinControlDeps {
  /** What joining through a member needs; its member store and clock also mint tokens. */
  readonly join: Pick<JoinServiceDeps, 'transport' | 'members' | 'clock' | 'log' | 'timings'>;
  /** Where this daemon listens, for an add that gives no address. */
  readonly listenAddresses: () => readonly string[];
  readonly enrolment: Pick<Enrolment, 'code'>;
  /** Holds the token while `cluster join` dials a member, for the connection gate to show. */
  readonly tokenSlot: JoinTokenSlot;
  /** This daemon's name, the joining node's unless the request names it. */
  readonly name: string;
}

/** Letting a node in: a member mints its join token, the new node joins through a member with it. */
export function joinControls(deps: JoinControlDeps): Pick<ControlHandlers, 'token-create' | 'cluster-join'> {
  const { join, listenAddresses, enrolment, tokenSlot, name } = deps;
  const { members, clock } = join;
  return {
    async 'token-create'(request) {
      // Before init or admission the secret is this node's own, and no member would accept its tokens.
      if (members.cluster === undefined)
        throw new CorralError('not_member', 'this node belongs to no cluster; create the token on a member');
      if (request.lifetimeMs > MAX_TOKEN_LIFETIME_MS) {
        throw new CorralError('bad_request', `a token lives at most ${MAX_TOKEN_LIFETIME_MS / 3_600_000} h`);
      }
      const token = mintJoinToken(
        members.clusterSecret(),
        parseNodeId(request.peer),
        clock.wallMs(),
        request.lifetimeMs,
      );
      // The token's own expiry, which is rounded up to the second.
      return { token, expiresAtMs: readJoinToken(token).expiresMs };
    },
    async 'cluster-join'(request) {
      const address = request.add.address ?? advertisedAddress(listenAddresses());
      if (address === undefined)
        throw new CorralError('unavailable', 'this daemon listens nowhere; give the address with --address');
      // The node's own enrolment code goes with the add: the master shows it back when it admits this node.
      const add = {
        ...request.add,
        OP_ID: 'OP_NODE_ADD' as const,
        node_name: request.add.node_name ?? name,
        address,
        enrol_code: enrolment.code(),
      };
      const answer = await joinThrough(join, tokenSlot, request.member, request.token, { add });
      return { cluster: answer.cluster.name, node: answer.node, job: answer.job };
    },
  };
}

/**
 * The address a joining node gives the master to reach it: a daemon listening on every interface lists
 * loopback too, which no other machine can dial, so another address goes first when there is one.
 */
function advertisedAddress(addresses: readonly string[]): string | undefined {
  const loopback = /^\/ip4\/127\.|^\/ip6\/::1\//;
  return addresses.find((address) => !loopback.test(address)) ?? addresses[0];
}
