import { describe, expect, it } from 'vitest';
import { asNodeId } from '../../src/common/ids.js';
import { admitInbound, type MemberDirectory } from '../../src/peer/gate.js';
import { mintJoinToken, newClusterSecret, verifyJoinToken } from '../../src/peer/join-token.js';

const joiner = asNodeId('12D3KooWJoiner');
const other = asNodeId('12D3KooWOther');
const member = asNodeId('12D3KooWMember');
const nowMs = 1_800_000_000_000;
const hourMs = 3_600_000;

describe('join tokens', () => {
  const secret = newClusterSecret();
  const token = mintJoinToken(secret, joiner, nowMs, hourMs);

  it('admits the node it was issued for, within its lifetime', () => {
    expect(() => verifyJoinToken(secret, token, joiner, nowMs + hourMs - 1000)).not.toThrow();
  });

  it('refuses another node, another cluster, an expired or a tampered token', () => {
    expect(() => verifyJoinToken(secret, token, other, nowMs)).toThrow(/issued for 12D3KooWJoiner/);
    expect(() => verifyJoinToken(newClusterSecret(), token, joiner, nowMs)).toThrow(
      /not issued by this cluster/,
    );
    expect(() => verifyJoinToken(secret, token, joiner, nowMs + hourMs + 1000)).toThrow(/expired/);
    const [tag, peer, expires, mac] = token.split(':');
    const later = `${tag}:${peer}:${Number(expires) + 3600}:${mac}`;
    expect(() => verifyJoinToken(secret, later, joiner, nowMs)).toThrow(/not issued by this cluster/);
    expect(() => verifyJoinToken(secret, 'garbage', joiner, nowMs)).toThrow(/malformed/);
    expect(() => verifyJoinToken(secret, `${tag}:${peer}:99x:${mac}`, joiner, nowMs)).toThrow(/malformed/);
  });

  it('refuses lifetimes beyond a week', () => {
    expect(() => mintJoinToken(secret, joiner, nowMs, 8 * 24 * hourMs)).toThrow(/lifetime/);
    expect(() => mintJoinToken(secret, joiner, nowMs, 0)).toThrow(/lifetime/);
  });
});

describe('the cluster gate', () => {
  const secret = newClusterSecret();
  const directory: MemberDirectory = {
    isMember: (peer) => peer === member,
    acceptsAnyone: () => false,
    clusterSecret: () => secret,
  };

  it('admits members without a token', () => {
    expect(admitInbound(directory, member, { v: 1 }, nowMs)).toEqual({ as: 'member' });
  });

  it('admits a joiner with a valid token', () => {
    const token = mintJoinToken(secret, joiner, nowMs, hourMs);
    expect(admitInbound(directory, joiner, { v: 1, token }, nowMs)).toEqual({ as: 'joiner' });
  });

  it('refuses strangers, with a reason', () => {
    expect(() => admitInbound(directory, other, { v: 1 }, nowMs)).toThrow(
      /not a cluster member and showed no join token/,
    );
    const stolen = mintJoinToken(secret, joiner, nowMs, hourMs);
    expect(() => admitInbound(directory, other, { v: 1, token: stolen }, nowMs)).toThrow(/issued for/);
  });

  it('admits anyone while it belongs to no cluster, so that a master can add it', () => {
    const lone: MemberDirectory = {
      isMember: () => false,
      acceptsAnyone: () => true,
      clusterSecret: () => undefined,
    };
    expect(admitInbound(lone, other, { v: 1 }, nowMs)).toEqual({ as: 'unjoined' });
  });
});
