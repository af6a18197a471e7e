import { describe, expect, it } from 'vitest';
import { KvMachine } from '../../simulations/kv-machine.js';
import { asNodeId } from '../../src/common/ids.js';
import { InvariantError } from '../../src/common/invariant.js';
import { silentLogger } from '../../src/common/log.js';
import { seededRng } from '../../src/common/random.js';
import { SimClock } from '../../src/common/sim-clock.js';
import { RaftLog } from '../../src/consensus/log.js';
import { persistReady } from '../../src/consensus/log-store.js';
import { MemoryStore } from '../../src/consensus/memory-store.js';
import { assertIndexOrder } from '../../src/consensus/raft.js';
import { bootstrapState, RaftRuntime } from '../../src/consensus/runtime.js';
import type { Entry } from '../../src/consensus/types.js';
import { MemoryHub, type Packet } from '../../src/peer/memory-transport.js';
import { SimNetwork } from '../../src/peer/sim-network.js';

const n1 = asNodeId('n1');
const entry = (index: number, term: number): Entry => ({
  type: 'normal',
  index,
  term,
  data: new Uint8Array(),
});

/** These checks guard states correct code never reaches, so the tests break the rules on purpose. */
describe('the Raft core stops at a broken invariant', () => {
  it('needs snapshot ≤ commit, applied ≤ commit ≤ last, and a commit index that never goes back', () => {
    const fine = { snapshot: 2, applied: 3, commit: 5, last: 7 };
    expect(() => assertIndexOrder(n1, 4, fine)).not.toThrow();
    const broken = [
      { ...fine, applied: 6 },
      { ...fine, commit: 8 },
      { ...fine, snapshot: 6 },
    ];
    for (const at of broken) expect(() => assertIndexOrder(n1, 0, at)).toThrow(InvariantError);
    expect(() => assertIndexOrder(n1, 6, fine)).toThrow(
      'raft indexes out of order on n1: need snapshot ≤ commit, applied ≤ commit ≤ last, commit never back; ' +
        'have snapshot 2, applied 3, commit 5 (was 6), last 7',
    );
  });

  it('never replaces a committed entry, even for a leader that says so', () => {
    const log = new RaftLog(0, 0, [entry(1, 1), entry(2, 1), entry(3, 1)]);
    expect(() => log.appendAfter(1, [entry(2, 2)], 2)).toThrow(
      'committed entries are never replaced: entry 2 (term 2) conflicts with term 1 there, at or below commit 2',
    );
    expect(log.lastIndex()).toBe(3);
    expect(log.appendAfter(2, [entry(3, 2)], 2)).toBe(3);
    expect(log.term(3)).toBe(2);
  });

  it('hands the state machine every committed entry once, in order', () => {
    const clock = new SimClock();
    const store = new MemoryStore((done) => done(), bootstrapState([n1]));
    const runtime = new RaftRuntime({
      transport: new MemoryHub(new SimNetwork<Packet>(clock, seededRng(1))).join(n1),
      store,
      persisted: store.load(),
      machine: new KvMachine(),
      clock,
      rng: seededRng(2),
      log: silentLogger,
      tickMs: 100,
    });
    while (!runtime.isLeader()) clock.step();
    // Readies taken past the runtime, persisted but never applied: the next entry applied leaves a gap.
    const core = runtime.core;
    core.propose(new Uint8Array([1]));
    for (let i = 0; i < 2; i++) {
      const rd = core.ready();
      persistReady(store, rd);
      core.advance(rd);
    }
    expect(() => runtime.propose(new Uint8Array([2]))).toThrow(
      /^committed entries are applied once, in order: n1 was given 4 after 2$/,
    );
  });
});
