import { describe, expect, it } from 'vitest';
import { asNodeId } from '../../src/common/ids.js';
import { Group, ids, testConfig } from './harness.js';

const n = asNodeId;

describe('§5.4.2 committing entries from previous terms (Figure 8)', () => {
  it('an old-term entry on a majority is not committed by counting, and may be overwritten', () => {
    const g = new Group(ids(5), { ...testConfig, maxEntriesPerAppend: 1 });
    g.campaign('n1');
    g.stabilize();
    // (a) n1, leader of term 1, gets entry 2 to n2 only.
    for (const other of ['n3', 'n4', 'n5']) g.isolate(other);
    g.propose('n1', 'a');
    g.stabilize();
    g.heal();
    // (b) n1 is gone; n5 wins term 2 with n3 and n4 and appends entry 2 of term 2, which reaches nobody.
    g.isolate('n1');
    g.isolate('n2');
    for (const id of ['n3', 'n4', 'n5']) g.forgetLeader(id);
    g.campaign('n5');
    while (g.node('n5').status().role !== 'leader') g.deliverOnce();
    g.isolate('n5');
    g.queue = [];
    expect(g.node('n5').entryAt(2)?.term).toBe(2);
    // (c) n1 restarts and wins term 3 with n2, n3, n4; entry 2 of term 1 reaches n3, so a majority holds it.
    g.restart('n1');
    g.heal();
    g.isolate('n5');
    for (const id of ['n2', 'n3', 'n4']) g.forgetLeader(id);
    // n1's term-3 entry (its empty entry at index 3) is lost wherever it would be accepted: only entry 2 spreads.
    g.lose = (m) =>
      m.type === 'append' &&
      m.entries.some((entry) => entry.term === 3) &&
      g.node(m.to).termAt(m.prevIndex) === m.prevTerm;
    g.campaign('n1');
    g.stabilize();
    if (g.node('n1').status().role !== 'leader') {
      g.campaign('n1');
      g.stabilize();
    }
    expect(g.node('n1').status()).toMatchObject({ role: 'leader', term: 3 });
    g.run(3);
    expect(g.node('n1').progressOf(n('n3'))?.match).toBe(2);
    g.isolate('n1');
    g.lose = () => false;
    expect(g.node('n1').status().commit).toBe(1);
    expect(g.node('n3').entryAt(2)?.term).toBe(1);
    // (d) n5 restarts and wins with n2, n3, n4: its entry 2 of term 2 replaces the term-1 entry everywhere.
    g.restart('n5');
    g.heal();
    g.isolate('n1');
    for (const id of ['n2', 'n3', 'n4']) g.forgetLeader(id);
    g.campaign('n5');
    g.stabilize();
    g.campaign('n5');
    g.stabilize();
    expect(g.node('n5').status().role).toBe('leader');
    g.heal();
    g.run(30);
    for (const id of ids(5)) {
      expect(g.node(id).entryAt(2)?.term).toBe(2);
      expect(g.member(id).applied).toEqual([]);
    }
  });
});

describe('§4 membership changes', () => {
  it('a learner catches up, is promoted, and then counts in the quorum', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    for (let i = 0; i < 10; i++) g.propose('n1', `e${i}`);
    g.stabilize();
    g.addEmpty('n4');
    expect(g.node('n1').proposeMembership({ type: 'addLearner', node: n('n4') }).ok).toBe(true);
    g.process('n1');
    g.stabilize();
    g.run(5);
    expect(g.member('n4').applied).toHaveLength(10);
    expect(g.node('n4').status().membership.learners).toEqual(['n4']);
    expect(g.node('n1').proposeMembership({ type: 'promote', node: n('n4') }).ok).toBe(true);
    g.process('n1');
    g.stabilize();
    expect(g.node('n1').status().membership.voters).toEqual(['n1', 'n2', 'n3', 'n4']);
    // With four voters, three are needed: n1 and n4 alone cannot commit.
    g.isolate('n2');
    g.isolate('n3');
    g.propose('n1', 'needs-three');
    g.stabilize();
    expect(g.member('n1').applied).not.toContain('needs-three');
  });

  it('heartbeats a learner every learnerHeartbeatTicks, voters every heartbeatTicks, and confirms reads with voters only', () => {
    const config = { ...testConfig, heartbeatTicks: 1, learnerHeartbeatTicks: 5 };
    const g = new Group(ids(3), config);
    g.campaign('n1');
    g.stabilize();
    g.addEmpty('n4');
    g.node('n1').proposeMembership({ type: 'addLearner', node: n('n4') });
    g.process('n1');
    g.stabilize();
    const heartbeatsTo = new Map<string, number>();
    for (let tick = 0; tick < 4 * config.learnerHeartbeatTicks; tick++) {
      g.tick('n1');
      for (const m of g.queue)
        if (m.type === 'heartbeat') heartbeatsTo.set(m.to, (heartbeatsTo.get(m.to) ?? 0) + 1);
      g.stabilize();
    }
    expect(Object.fromEntries(heartbeatsTo)).toEqual({ n2: 20, n3: 20, n4: 4 });
    // A read's own heartbeat round goes to the voters: a learner's answer would not count.
    g.node('n1').readIndex(7);
    g.process('n1');
    expect(g.queue.filter((m) => m.type === 'heartbeat').map((m) => m.to)).toEqual(['n2', 'n3']);
    g.stabilize();
    expect(g.member('n1').readStates).toEqual([{ requestId: 7, index: g.node('n1').status().commit }]);
    // The commit index still reaches the learner with every append, between its heartbeats.
    g.propose('n1', 'after');
    g.stabilize();
    expect(g.member('n4').applied).toContain('after');
  });

  it('refuses to promote a learner that lags and refuses a second change before the first commits', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    g.addEmpty('n4');
    g.node('n1').proposeMembership({ type: 'addLearner', node: n('n4') });
    g.process('n1');
    g.isolate('n2');
    g.isolate('n3');
    expect(g.node('n1').proposeMembership({ type: 'remove', node: n('n3') })).toMatchObject({
      ok: false,
      reason: 'membershipPending',
    });
    g.heal();
    g.isolate('n4');
    g.stabilize();
    for (let i = 0; i < 40; i++) g.propose('n1', `e${i}`);
    g.stabilize();
    expect(g.node('n1').proposeMembership({ type: 'promote', node: n('n4') })).toMatchObject({
      ok: false,
      reason: 'invalidChange',
    });
  });

  it('a leader that removes itself steps down once the removal commits, and the rest elect a leader', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    expect(g.node('n1').proposeMembership({ type: 'remove', node: n('n1') }).ok).toBe(true);
    g.process('n1');
    g.stabilize();
    expect(g.node('n1').status().role).toBe('follower');
    g.run(40);
    const leader = g.leader();
    expect(['n2', 'n3']).toContain(leader);
    g.propose(leader!, 'after');
    g.stabilize();
    expect(g.member(leader!).applied).toEqual(['after']);
    expect(g.node('n1').status().role).toBe('follower');
  });

  it('an uncommitted change is rolled back with the entry that carried it', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    g.isolate('n1');
    g.node('n1').proposeMembership({ type: 'remove', node: n('n3') });
    g.process('n1');
    expect(g.node('n1').status().membership.voters).toEqual(['n1', 'n2']);
    g.queue = [];
    g.run(40);
    g.heal();
    g.run(5);
    expect(g.node('n1').status().membership.voters).toEqual(['n1', 'n2', 'n3']);
  });
});

describe('§7 snapshots', () => {
  it('a follower behind the leader’s compacted log is sent the snapshot in chunks, despite lost chunks', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    g.isolate('n3');
    for (let i = 0; i < 20; i++) g.propose('n1', `e${i}`);
    g.stabilize();
    g.compact('n1');
    expect(g.node('n1').status().firstIndex).toBeGreaterThan(2);
    g.heal();
    let chunks = 0;
    // Every third snapshot chunk is lost.
    g.lose = (m) => m.type === 'snapshot' && ++chunks % 3 === 0;
    g.run(60);
    expect(chunks).toBeGreaterThan(3);
    expect(g.member('n3').applied).toEqual(g.member('n1').applied);
    g.propose('n1', 'after');
    g.stabilize();
    expect(g.member('n3').applied.at(-1)).toBe('after');
  });

  it('a node restarted after compaction recovers its state from the snapshot and the log', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    for (let i = 0; i < 5; i++) g.propose('n1', `e${i}`);
    g.stabilize();
    g.compact('n2');
    g.propose('n1', 'later');
    g.stabilize();
    g.restart('n2');
    g.process('n2');
    expect(g.member('n2').applied).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'later']);
  });
});

describe('§6.4 linearizable reads', () => {
  it('the leader serves a read at its commit index once a quorum confirms it leads', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    g.propose('n1', 'a');
    g.stabilize();
    g.node('n1').readIndex(7);
    g.process('n1');
    expect(g.member('n1').readStates).toEqual([]);
    g.stabilize();
    expect(g.member('n1').readStates).toEqual([{ requestId: 7, index: 2 }]);
  });

  it('a follower forwards its read to the leader', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    g.node('n3').readIndex(9);
    g.process('n3');
    g.stabilize();
    expect(g.member('n3').readStates).toEqual([{ requestId: 9, index: 1 }]);
  });

  it('a leader cut off from the majority never serves the read, and fails it when it steps down', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    g.isolate('n1');
    g.node('n1').readIndex(3);
    g.tick('n1', 20);
    g.stabilize();
    expect(g.member('n1').readStates).toEqual([]);
    expect(g.member('n1').failedReads).toEqual([3]);
  });

  it('a read confirmed by the next heartbeat sends nothing of its own, and is served after that heartbeat', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    g.node('n1').readIndex(4, 'next-heartbeat');
    g.process('n1');
    expect(g.queue).toEqual([]);
    g.stabilize();
    expect(g.member('n1').readStates).toEqual([]);
    g.tick('n1', testConfig.heartbeatTicks);
    g.stabilize();
    expect(g.member('n1').readStates).toEqual([{ requestId: 4, index: 1 }]);
  });

  it('a new leader holds reads until it has committed an entry of its term', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    while (g.node('n1').status().role !== 'leader') g.deliverOnce();
    g.node('n1').readIndex(5);
    g.process('n1');
    g.deliverOnce();
    expect(g.member('n1').readStates).toEqual([]);
    g.stabilize();
    expect(g.member('n1').readStates).toEqual([{ requestId: 5, index: 1 }]);
  });
});

describe('durability', () => {
  it('term, vote and log survive a restart', () => {
    const g = new Group(ids(3));
    g.campaign('n1');
    g.stabilize();
    g.propose('n1', 'a');
    g.stabilize();
    g.restart('n2');
    expect(g.node('n2').status()).toMatchObject({ term: 1, vote: n('n1'), lastIndex: 2 });
    g.process('n2');
    expect(g.member('n2').applied).toEqual(['a']);
  });
});
