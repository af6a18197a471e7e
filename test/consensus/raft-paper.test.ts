import { describe, expect, it } from 'vitest';
import { asNodeId } from '../../src/common/ids.js';
import { Group, ids, testConfig } from './harness.js';

const n = asNodeId;

describe('§5.2 leader election', () => {
  it('a campaigning node wins a majority and every node follows it', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    expect(g.node('n1').status()).toMatchObject({ role: 'leader', term: 1 });
    for (const id of ['n2', 'n3'])
      expect(g.node(id).status()).toMatchObject({ role: 'follower', leader: n('n1'), term: 1 });
  });

  it('an election timeout elects someone without help', () => {
    const g = new Group(ids(5));
    g.run(40);
    const leader = g.leader();
    expect(leader).toBeDefined();
    const term = g.node(leader!).status().term;
    for (const id of ids(5)) expect(g.node(id).status()).toMatchObject({ term, leader: n(leader!) });
  });

  it('a node grants one vote per term and refuses a candidate whose log is behind', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    g.propose('n1', 'a');
    g.stabilize();
    // n3 misses the entry, then campaigns: n2 has a longer log and must refuse it.
    g.isolate('n3');
    g.propose('n1', 'b');
    g.stabilize();
    g.heal();
    g.isolate('n1');
    g.tickElection('n3');
    g.stabilize();
    expect(g.node('n3').status().role).not.toBe('leader');
    g.tickElection('n2');
    g.stabilize();
    expect(g.node('n2').status().role).toBe('leader');
  });

  it('a node that is no voter never campaigns', () => {
    const g = new Group(['n1', 'n2', 'n3', 'n4'], undefined, 1, ['n1', 'n2', 'n3']);
    g.tick('n4', 100);
    expect(g.node('n4').status()).toMatchObject({ role: 'follower', term: 0 });
  });
});

describe('§9.6 pre-vote and check-quorum', () => {
  it('a node cut off does not raise its term, and rejoins without unseating the leader', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    g.isolate('n3');
    for (let i = 0; i < 10; i++) g.tickElection('n3');
    g.queue = [];
    expect(g.node('n3').status()).toMatchObject({ term: 1, role: 'preCandidate' });
    g.heal();
    g.tickElection('n3');
    g.stabilize();
    expect(g.node('n1').status()).toMatchObject({ role: 'leader', term: 1 });
    g.run(3);
    expect(g.node('n3').status()).toMatchObject({ role: 'follower', term: 1, leader: n('n1') });
  });

  it('followers in contact with a leader refuse votes even for a higher term', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    // n2 stops hearing from n1 and campaigns; n3 still hears from n1 and refuses.
    g.block('n1', 'n2');
    g.tick('n3', 1);
    g.node('n2').campaign();
    g.process('n2');
    g.stabilize();
    expect(g.node('n1').status()).toMatchObject({ role: 'leader', term: 1 });
    expect(g.node('n3').status().term).toBe(1);
  });

  it('a leader that loses contact with a majority steps down', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    g.isolate('n1');
    g.tick('n1', 2 * 10);
    expect(g.node('n1').status().role).toBe('follower');
  });
});

describe('§3.10 leadership transfer', () => {
  it('the leader hands over to a caught-up follower with TimeoutNow', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    g.propose('n1', 'a');
    g.stabilize();
    g.node('n1').transferLeadership(n('n3'));
    g.process('n1');
    g.stabilize();
    expect(g.node('n3').status()).toMatchObject({ role: 'leader', term: 2 });
    expect(g.node('n1').status()).toMatchObject({ role: 'follower', leader: n('n3') });
  });

  it('the leader first brings a lagging target up to date, refusing proposals meanwhile', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    g.isolate('n3');
    g.propose('n1', 'a');
    g.stabilize();
    g.heal();
    g.node('n1').transferLeadership(n('n3'));
    g.process('n1');
    expect(g.propose('n1', 'b')).toMatchObject({ ok: false, reason: 'transferring' });
    g.stabilize();
    expect(g.node('n3').status().role).toBe('leader');
    expect(g.member('n3').applied).toEqual(['a']);
  });

  it('a transfer that does not complete within an election timeout is abandoned', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    g.isolate('n3');
    g.node('n1').transferLeadership(n('n3'));
    g.tick('n1', 10);
    g.queue = [];
    expect(g.propose('n1', 'b').ok).toBe(true);
  });
});

describe('§5.3 log replication', () => {
  it('commits an entry once a majority holds it and applies it everywhere', () => {
    const g = new Group(ids(5));
    g.campaign('n1');
    g.stabilize();
    g.isolate('n4');
    g.isolate('n5');
    expect(g.propose('n1', 'x')).toMatchObject({ ok: true, index: 2, term: 1 });
    g.stabilize();
    for (const id of ['n1', 'n2', 'n3']) expect(g.member(id).applied).toEqual(['x']);
    g.heal();
    g.run(2);
    for (const id of ids(5)) expect(g.member(id).applied).toEqual(['x']);
  });

  it('overwrites a follower’s conflicting uncommitted entries with the leader’s', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    // n1 appends two entries that reach nobody, then loses leadership to n2.
    g.isolate('n1');
    g.propose('n1', 'lost-1');
    g.propose('n1', 'lost-2');
    g.run(30);
    const leader = g.leader()!;
    expect(leader).not.toBe('n1');
    g.propose(leader, 'kept');
    g.stabilize();
    g.heal();
    g.run(3);
    for (const id of ids(3)) expect(g.member(id).applied).toEqual(['kept']);
    expect(g.node('n1').status().lastIndex).toBe(g.node(leader).status().lastIndex);
  });

  it('pipelines many appends within the inflight window and catches up a lagging follower', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    g.isolate('n3');
    for (let i = 0; i < 40; i++) g.propose('n1', `e${i}`);
    g.stabilize();
    g.heal();
    g.run(20);
    expect(g.member('n3').applied).toHaveLength(40);
  });

  it('refuses proposals beyond the uncommitted limit', () => {
    const g = new Group(ids(3), { ...testConfig, maxUncommittedEntries: 3 });
    g.campaign('n1');
    g.stabilize();
    g.isolate('n1');
    g.propose('n1', 'a');
    g.propose('n1', 'b');
    g.propose('n1', 'c');
    expect(g.propose('n1', 'd')).toMatchObject({ ok: false, reason: 'overloaded' });
  });
});
