import { z } from 'zod';
import { CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import { verifyJoinToken } from './join-token.js';

/** What the gate needs to know of the cluster; the cluster layer keeps it current. */
export interface MemberDirectory {
  isMember(peer: NodeId): boolean;
  /** True while this node belongs to no cluster: it has nothing to protect and waits to be added. */
  acceptsAnyone(): boolean;
  /** The key join tokens are checked with; undefined while this node belongs to no cluster. */
  clusterSecret(): Uint8Array | undefined;
}

/** The first frame a dialer sends on a secured connection, before any protocol is negotiated. */
export const gateHelloSchema = z.object({
  v: z.literal(1),
  token: z.string().max(512).optional(),
});
export type GateHello = z.infer<typeof gateHelloSchema>;

export const gateVerdictSchema = z.union([
  z.object({ ok: z.literal(true) }),
  z.object({ ok: z.literal(false), code: z.string().max(64), reason: z.string().max(512) }),
]);
export type GateVerdict = z.infer<typeof gateVerdictSchema>;

export type Admission = { readonly as: 'member' | 'joiner' | 'unjoined' };

/** Decides whether an inbound peer may use this node: members always, others only with a valid join token. */
export function admitInbound(
  directory: MemberDirectory,
  peer: NodeId,
  hello: GateHello,
  nowMs: number,
): Admission {
  if (directory.isMember(peer)) return { as: 'member' };
  if (directory.acceptsAnyone()) return { as: 'unjoined' };
  if (hello.token === undefined) {
    throw new CorralError('not_member', `${peer} is not a cluster member and showed no join token`);
  }
  const secret = directory.clusterSecret();
  if (secret === undefined) {
    throw new CorralError('not_member', 'this node belongs to no cluster yet and admits no joiners');
  }
  verifyJoinToken(secret, hello.token, peer, nowMs);
  return { as: 'joiner' };
}
