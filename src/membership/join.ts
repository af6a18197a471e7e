import { z } from 'zod';
import { CorralError } from '../common/errors.js';
import { asNodeId, type NodeId } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import { bytesSchema } from '../peer/codec.js';
import { requestProtocol, topic } from '../peer/protocol.js';
import type { Transport } from '../peer/transport.js';
import { MAX_MEMBERS, type Member, type MemberStore, memberSchema } from './member-store.js';

const addressList = z.array(z.string().max(256)).max(16);
const memberList = z.array(memberSchema).max(MAX_MEMBERS);

/** A node that got through the gate with its token asks to be recorded as a member. */
export const joinProtocol = requestProtocol({
  name: 'join',
  major: 1,
  request: z.object({ addrs: addressList }),
  response: z.object({ secret: bytesSchema, members: memberList }),
  maxFrameBytes: 1024 * 1024,
});

/** Members announce who they admitted, so that every member lets the newcomer in. */
export const membersTopic = topic({
  name: 'members',
  major: 1,
  message: z.object({ members: memberList }),
  maxFrameBytes: 256 * 1024,
});

function toMembers(list: z.infer<typeof memberList>): Member[] {
  return list.map((member) => ({ id: asNodeId(member.id), addrs: member.addrs }));
}

/** Serves joins and member announcements, and keeps connections to every known member. */
export async function serveMembership(transport: Transport, store: MemberStore, log: Logger): Promise<void> {
  const keepAll = async (members: readonly Member[]) => {
    for (const member of members) {
      if (member.id !== transport.self) await transport.keepConnected(member.id, member.addrs);
    }
  };

  transport.handle(joinProtocol, async ({ addrs }, { from }) => {
    const joined = await store.merge([{ id: from, addrs }]);
    if (joined.length > 0) {
      log.info({ peer: from, addrs }, 'a node joined the cluster');
      await transport.publish(membersTopic, {
        members: joined.map((m) => ({ id: m.id, addrs: [...m.addrs] })),
      });
    }
    return {
      secret: store.clusterSecret(),
      members: store.list().map((m) => ({ id: m.id, addrs: [...m.addrs] })),
    };
  });

  transport.subscribe(membersTopic, (from, { members }) => {
    // Only members speak for the member list; a joiner still showing its token does not.
    if (!store.isMember(from)) {
      // Expected while joining: the sponsor announces us before we have adopted its member list.
      log.debug({ peer: from }, 'ignored a member announcement from a non-member');
      return;
    }
    void store
      .merge(toMembers(members))
      .then(keepAll)
      .catch((error: Error) => log.error({ err: error }, 'could not record announced members'));
  });

  // A member that restarted on another address tells us where it is now when it connects.
  transport.onPeer((event) => {
    if (event.type !== 'identified' || !store.isMember(event.peer) || event.addresses.length === 0) return;
    void store
      .merge([{ id: event.peer, addrs: event.addresses.slice(0, 16) }])
      .then(keepAll)
      .catch((error: Error) => log.error({ err: error }, 'could not record a member address'));
  });

  await keepAll(store.list());
}

/** Joins the cluster one of whose members listens at `address`; the gate has already seen our token. */
export async function joinCluster(
  transport: Transport,
  store: MemberStore,
  address: string,
): Promise<NodeId> {
  const sponsor = await transport.connect(address);
  if (sponsor === transport.self) throw new CorralError('bad_request', 'a node cannot join through itself');
  const answer = await transport.request(sponsor, joinProtocol, { addrs: transport.listenAddresses() });
  await store.adopt(answer.secret, toMembers(answer.members));
  for (const member of store.list()) {
    if (member.id !== transport.self) await transport.keepConnected(member.id, member.addrs);
  }
  return sponsor;
}
