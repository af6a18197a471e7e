import { describe, expect, it } from 'vitest';
import { type CallVerdict, judgeCall, type TrustState } from '../../src/cluster/caller-policy.js';
import { asNodeId } from '../../src/common/ids.js';
import type { Callers, Credentials } from '../../src/peer/callers.js';
import { mintJoinToken } from '../../src/peer/join-token.js';

const master = asNodeId('node-master');
const member = asNodeId('node-member');
const stranger = asNodeId('node-stranger');
const secret = new Uint8Array(32).fill(7);
const nowMs = 1_700_000_000_000;
const code = 'corral-enrol-v1:self:right';

function joined(overrides: Partial<TrustState> = {}): TrustState {
  return {
    joined: true,
    isMember: (peer) => peer === master || peer === member,
    clusterSecret: secret,
    enrolmentMatches: (shown) => shown === code,
    raft: { term: 7, leader: master },
    nowMs,
    ...overrides,
  };
}
const fresh = joined({ joined: false, isMember: () => false, raft: undefined });

function verdict(v: CallVerdict): string {
  return v.kind === 'refuse' ? `${v.error.code}: ${v.error.message}` : v.kind;
}
const judge = (
  callers: Callers,
  from: typeof master,
  credentials: Credentials,
  state: TrustState,
  waited = false,
) => verdict(judgeCall(callers, from, credentials, state, waited));

describe('who may call what', () => {
  it('lets anyone ask who a node is, and nothing else', () => {
    expect(judge('anyone', stranger, {}, fresh)).toBe('allow');
    expect(judge('member', stranger, {}, fresh)).toMatch(/^not_member: this node belongs to no cluster/);
    expect(judge('master', stranger, { term: 99 }, fresh)).toMatch(/^not_member/);
    expect(judge('joiner', stranger, {}, fresh)).toMatch(/^not_member: .*point the join at a member/);
  });

  it('admits a fresh node only for the caller that shows its enrolment code', () => {
    expect(judge('admitter', stranger, {}, fresh)).toMatch(/^bad_enrolment: .*only with its enrolment code/);
    expect(judge('admitter', stranger, { enrolment: 'corral-enrol-v1:self:wrong' }, fresh)).toMatch(
      /^bad_enrolment: that is not this node's enrolment code/,
    );
    expect(judge('admitter', stranger, { enrolment: code }, fresh)).toBe('allow');
    // Once joined, the code opens nothing: only the master re-admits.
    expect(judge('admitter', stranger, { enrolment: code }, joined())).toMatch(/^not_member/);
    expect(judge('admitter', member, { enrolment: code }, joined())).toMatch(/^not_master/);
    expect(judge('admitter', master, { term: 7 }, joined())).toBe('allow');
    // A node removed while down hears from no master: the master's term with the code is believed, the term alone not.
    const cutOff = joined({ raft: { term: 7, leader: undefined } });
    expect(judge('admitter', master, { term: 7 }, cutOff, true)).toMatch(/^unavailable: .*not yet heard/);
    expect(judge('admitter', master, { term: 7, enrolment: code }, cutOff)).toBe('allow');
    expect(judge('admitter', master, { term: 6, enrolment: code }, cutOff)).toMatch(/^not_master/);
    expect(judge('admitter', member, { enrolment: code }, cutOff)).toMatch(/^not_master/);
  });

  it('lets a token holder join, only with a token for itself', () => {
    const token = mintJoinToken(secret, stranger, nowMs, 60_000);
    expect(judge('joiner', stranger, { token }, joined())).toBe('allow');
    expect(judge('joiner', stranger, {}, joined())).toMatch(/^bad_token: joining needs a join token/);
    expect(judge('joiner', asNodeId('someone-else'), { token }, joined())).toMatch(
      /^bad_token: .*issued for/,
    );
    expect(judge('joiner', stranger, { token }, joined({ nowMs: nowMs + 120_000 }))).toMatch(
      /^token_expired/,
    );
    expect(judge('joiner', member, { token }, joined())).toMatch(/^conflict: .*already a member/);
    expect(judge('member', stranger, { token }, joined())).toMatch(
      /^not_member: node-stranger is not a member/,
    );
  });

  it('judges the master by its term: a deposed one, a member posing as master, one from the future', () => {
    expect(judge('master', master, { term: 7 }, joined())).toBe('allow');
    expect(judge('master', master, {}, joined())).toMatch(
      /^not_master: only the master .* did not act as master/,
    );
    expect(judge('master', master, { term: 6 }, joined())).toMatch(
      /^not_master: node-master is no longer the master: it acts in term 6, and this node has seen term 7/,
    );
    expect(judge('master', member, { term: 7 }, joined())).toMatch(
      /^not_master: the master of term 7 is node-master, not node-member/,
    );
    // This node is behind: it waits for its log, and refuses if it still has not heard.
    expect(judge('master', member, { term: 8 }, joined())).toBe('await-term');
    expect(judge('master', member, { term: 7 }, joined({ raft: { term: 7, leader: undefined } }))).toBe(
      'await-term',
    );
    expect(judge('master', member, { term: 8 }, joined(), true)).toMatch(
      /^unavailable: this node has not yet heard from node-member as master of term 8/,
    );
    expect(judge('master', stranger, { term: 7 }, joined())).toMatch(/^not_member/);
  });
});
