import { describe, expect, it } from 'vitest';
import { encodeRequest, KvMachine, type KvResult } from '../../simulations/kv-machine.js';
import { CorralError } from '../../src/common/errors.js';
import { asNodeId, type NodeId } from '../../src/common/ids.js';
import { silentLogger } from '../../src/common/log.js';
import { seededRng } from '../../src/common/random.js';
import { SimClock } from '../../src/common/sim-clock.js';
import { defaultRaftConfig } from '../../src/consensus/config.js';
import { MemoryStore } from '../../src/consensus/memory-store.js';
import { bootstrapState, RaftRuntime } from '../../src/consensus/runtime.js';
import { raftMessageSchema } from '../../src/consensus/wire.js';
import { MemoryHub, type MemoryTransport, type Packet } from '../../src/peer/memory-transport.js';
import { SimNetwork } from '../../src/peer/sim-network.js';

const ids = ['n1', 'n2', 'n3'].map(asNodeId);

interface Node {
  runtime: RaftRuntime<KvResult>;
  machine: KvMachine;
  transport: MemoryTransport;
}

function cluster(seed: number) {
  const clock = new SimClock();
  const rng = seededRng(seed);
  const network = new SimNetwork<Packet>(clock, rng.fork(), {
    lossRate: 0,
    duplicateRate: 0,
    delayMinMs: 1,
    delayMaxMs: 5,
  });
  const hub = new MemoryHub(network);
  const nodes = new Map<NodeId, Node>();
  for (const id of ids) {
    const transport = hub.join(id);
    const machine = new KvMachine();
    const store = new MemoryStore((done) => clock.setTimer(2, done), bootstrapState(ids));
    const runtime = new RaftRuntime({
      transport,
      store,
      persisted: store.load(),
      machine,
      clock,
      rng: rng.fork(),
      log: silentLogger,
      tickMs: 100,
      config: { ...defaultRaftConfig, compactAfterEntries: 50 },
    });
    nodes.set(id, { runtime, machine, transport });
  }
  return { clock, nodes };
}

/** Runs simulated time forward, letting promise callbacks run between timers, until the check holds. */
async function runUntil<T>(clock: SimClock, check: () => T | undefined, limitMs = 60_000): Promise<T> {
  const endMs = clock.monotonicMs() + limitMs;
  for (;;) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    const value = check();
    if (value !== undefined) return value;
    if (clock.monotonicMs() >= endMs || !clock.step()) throw new Error(`condition not met by ${endMs} ms`);
  }
}

function leaderOf(nodes: Map<NodeId, Node>, except?: NodeId): Node | undefined {
  return [...nodes.values()].find((node) => node.runtime.self !== except && node.runtime.isLeader());
}

async function settle<T>(clock: SimClock, promise: Promise<T>): Promise<T> {
  let outcome: { value: T } | { error: unknown } | undefined;
  promise.then(
    (value) => {
      outcome = { value };
    },
    (error: unknown) => {
      outcome = { error };
    },
  );
  const done = await runUntil(clock, () => outcome);
  if ('error' in done) throw done.error;
  return done.value;
}

const put = (seq: number, key: string, value: string) =>
  encodeRequest({ client: 1, seq, command: { op: 'put', key, value } });

describe('the raft runtime over a transport', () => {
  it('elects a leader, commits writes on every node, and compacts its log', async () => {
    const { clock, nodes } = cluster(1);
    const leader = await runUntil(clock, () => leaderOf(nodes));
    for (let seq = 0; seq < 120; seq++) {
      expect(await settle(clock, leader.runtime.propose(put(seq, `k${seq % 7}`, `v${seq}`)))).toEqual({
        ok: true,
      });
    }
    await runUntil(clock, () =>
      [...nodes.values()].every((n) => n.machine.get('k1') === 'v113') ? true : undefined,
    );
    expect(leader.runtime.status().firstIndex).toBeGreaterThan(1);
  });

  it('refuses proposals on a follower, naming the leader', async () => {
    const { clock, nodes } = cluster(2);
    const leader = await runUntil(clock, () => leaderOf(nodes));
    const follower = [...nodes.values()].find((n) => n !== leader)!;
    await runUntil(clock, () => follower.runtime.status().leader);
    await expect(follower.runtime.propose(put(0, 'a', 'b'))).rejects.toMatchObject({
      code: 'not_leader',
      message: expect.stringContaining(leader.runtime.self),
    });
  });

  it('keeps every acknowledged write when the leader dies, and serves linearizable reads on a follower', async () => {
    const { clock, nodes } = cluster(3);
    const first = await runUntil(clock, () => leaderOf(nodes));
    await settle(clock, first.runtime.propose(put(1, 'x', 'before')));
    first.runtime.stop();
    await first.transport.stop();
    nodes.delete(first.runtime.self);
    const second = await runUntil(clock, () => leaderOf(nodes));
    // A new leader applies what it inherited once it commits an entry of its own term.
    await settle(clock, second.runtime.readBarrier());
    expect(second.machine.get('x')).toBe('before');
    await settle(clock, second.runtime.propose(put(2, 'x', 'after')));
    const follower = [...nodes.values()].find((n) => n !== second)!;
    await settle(clock, follower.runtime.readBarrier());
    expect(follower.machine.get('x')).toBe('after');
  });

  it('gives up on a proposal when asked, saying it may still take effect', async () => {
    const { clock, nodes } = cluster(4);
    const leader = await runUntil(clock, () => leaderOf(nodes));
    const controller = new AbortController();
    const pending = leader.runtime.propose(put(1, 'y', 'z'), { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toThrow(CorralError);
    await expect(pending).rejects.toThrow(/may still take effect/);
  });
});

describe('a group that grows', () => {
  it('tells a node that joins later about the founding voter', async () => {
    const clock = new SimClock();
    const rng = seededRng(9);
    const hub = new MemoryHub(new SimNetwork<Packet>(clock, rng.fork()));
    const start = (id: NodeId, persisted: ReturnType<typeof bootstrapState> | undefined) => {
      const store = new MemoryStore((done) => clock.setTimer(2, done), persisted);
      const runtime = new RaftRuntime({
        transport: hub.join(id),
        store,
        persisted: store.load(),
        machine: new KvMachine(),
        clock,
        rng: rng.fork(),
        log: silentLogger,
        tickMs: 100,
      });
      return runtime;
    };
    const founder = start(ids[0]!, bootstrapState([ids[0]!]));
    await runUntil(clock, () => (founder.isLeader() ? true : undefined));
    const joiners = [start(ids[1]!, undefined), start(ids[2]!, undefined)];
    for (const joiner of joiners) {
      await settle(clock, founder.addVoter(joiner.self, { signal: new AbortController().signal }));
    }
    for (const node of [founder, ...joiners]) {
      await runUntil(clock, () => (node.status().membership.voters.length === 3 ? true : undefined));
      expect([...node.status().membership.voters].sort()).toEqual([...ids].sort());
    }
  });
});

describe('raft wire schema', () => {
  it('refuses appends whose entries do not follow prevIndex', () => {
    const append = {
      type: 'append',
      from: 'n1',
      to: 'n2',
      term: 3,
      prevIndex: 5,
      prevTerm: 3,
      commit: 5,
      entries: [{ type: 'normal', index: 7, term: 3, data: new Uint8Array() }],
    };
    expect(raftMessageSchema.safeParse(append).success).toBe(false);
    expect(
      raftMessageSchema.safeParse({ ...append, entries: [{ ...append.entries[0], index: 6 }] }).success,
    ).toBe(true);
  });
});
