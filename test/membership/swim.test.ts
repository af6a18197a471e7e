import { describe, expect, it } from 'vitest';
import { asNodeId, type NodeId } from '../../src/common/ids.js';
import { seededRng } from '../../src/common/random.js';
import { minSuspicionTimeoutMs, Suspicion, suspicionTimeoutMs } from '../../src/membership/suspicion.js';
import { type MemberState, Swim, type SwimEffect } from '../../src/membership/swim.js';
import { defaultSwimConfig, heartbeatIntervalMs, type SwimConfig } from '../../src/membership/swim-config.js';

function names(n: number): NodeId[] {
  return Array.from({ length: n }, (_, i) => asNodeId(`m${i}`));
}

/** One core (member m0) among n members, stepped by hand. */
class Bench {
  readonly ids: NodeId[];
  readonly swim: Swim;
  nowMs = 0;

  constructor(n: number, config: Partial<SwimConfig> = {}, seed = 1) {
    this.ids = names(n);
    this.swim = new Swim(this.ids[0]!, { ...defaultSwimConfig, ...config }, seededRng(seed), 0);
    this.swim.step(0, { type: 'members', ids: this.ids });
  }

  private readonly pendingProbes: Extract<SwimEffect, { type: 'probe' }>[] = [];

  at(nowMs: number, input: Parameters<Swim['step']>[1]): SwimEffect[] {
    this.nowMs = nowMs;
    const effects = this.swim.step(nowMs, input);
    for (const effect of effects) if (effect.type === 'probe') this.pendingProbes.push(effect);
    return effects;
  }

  /**
   * Ticks at each due time until an effect of that type comes out. Probes it is not waiting for are answered
   * at once, as every other member were up.
   */
  until<T extends SwimEffect['type']>(type: T, limitMs = 600_000): Extract<SwimEffect, { type: T }> {
    while (this.nowMs < limitMs) {
      if (type === 'probe' && this.pendingProbes.length > 0) {
        return this.pendingProbes.shift() as Extract<SwimEffect, { type: T }>;
      }
      const answered = type === 'probe' ? [] : this.pendingProbes.splice(0);
      const effects = answered.flatMap((probe) =>
        this.at(this.nowMs, { type: 'probeAck', probeId: probe.probeId }),
      );
      const due = Math.max(this.nowMs, this.swim.nextDueMs());
      effects.push(...this.at(due, { type: 'tick' }));
      // Probes are handed out from pendingProbes, at the top of the loop.
      const found = type === 'probe' ? undefined : effects.find((effect) => effect.type === type);
      if (found !== undefined) return found as Extract<SwimEffect, { type: T }>;
    }
    throw new Error(`no ${type} before ${limitMs} ms`);
  }

  /** Ticks until the member's state changes; returns the new state. */
  untilChangeOf(node: NodeId): MemberState {
    const before = this.state(node);
    while (this.state(node) === before) this.until('changed');
    return this.state(node)!;
  }

  /** Answers every probe with an ack, until one of the given target is out. */
  probeOf(target: NodeId): Extract<SwimEffect, { type: 'probe' }> {
    for (;;) {
      const probe = this.until('probe');
      if (probe.target === target) return probe;
      this.at(this.nowMs + 1, { type: 'probeAck', probeId: probe.probeId });
    }
  }

  state(id: NodeId): MemberState | undefined {
    return this.swim.view(this.nowMs).find((member) => member.id === id)?.state;
  }
}

describe('suspicion timer', () => {
  it('shrinks from max toward min as confirmations arrive (memberlist vectors)', () => {
    expect(suspicionTimeoutMs(0, 3, 2000, 30_000)).toBe(30_000);
    expect(suspicionTimeoutMs(1, 3, 2000, 30_000)).toBe(16_000);
    expect(suspicionTimeoutMs(2, 3, 2000, 30_000)).toBe(7810);
    expect(suspicionTimeoutMs(3, 3, 2000, 30_000)).toBe(2000);
    expect(suspicionTimeoutMs(0, 0, 2000, 30_000)).toBe(2000);
  });

  it('counts each confirmer once and never the accuser', () => {
    const a = asNodeId('a');
    const suspicion = new Suspicion(a, 0, 2, 1000, 6000);
    expect(suspicion.confirm(a)).toBe(false);
    expect(suspicion.confirm(asNodeId('b'))).toBe(true);
    expect(suspicion.confirm(asNodeId('b'))).toBe(false);
    expect(suspicion.confirm(asNodeId('c'))).toBe(true);
    // Already at the floor: more confirmations add nothing.
    expect(suspicion.confirm(asNodeId('d'))).toBe(false);
    expect(suspicion.timeoutMs()).toBe(1000);
  });

  it('grows its floor with log10 of the cluster size', () => {
    expect(minSuspicionTimeoutMs(4, 5, 1000)).toBe(4000);
    expect(minSuspicionTimeoutMs(4, 20, 1000)).toBe(5204);
    expect(minSuspicionTimeoutMs(4, 1000, 1000)).toBe(12_000);
  });
});

describe('heartbeat interval', () => {
  it('stays at the base up to the threshold, then grows with log2 n', () => {
    const interval = (n: number) =>
      heartbeatIntervalMs(defaultSwimConfig, n) / defaultSwimConfig.heartbeatIntervalMs;
    expect([16, 17, 20, 32, 33, 200, 1000].map(interval)).toEqual([1, 2, 2, 2, 3, 5, 7]);
  });
});

describe('configuration', () => {
  it('refuses a probe timeout that leaves helpers no time, naming the knob', () => {
    expect(() => new Bench(5, { probeTimeoutMs: 1000 })).toThrow(/probeTimeoutMs/);
    expect(() => new Bench(5, { indirectChecks: -1 })).toThrow(/indirectChecks/);
  });
});

describe('probing', () => {
  it('probes every other member once per round, one per probe interval', () => {
    const bench = new Bench(6);
    const targets: NodeId[] = [];
    const starts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const probe = bench.until('probe');
      targets.push(probe.target);
      starts.push(bench.nowMs);
      bench.at(bench.nowMs + 5, { type: 'probeAck', probeId: probe.probeId });
    }
    expect(new Set(targets)).toEqual(new Set(bench.ids.slice(1)));
    for (let i = 1; i < starts.length; i++)
      expect(starts[i]! - starts[i - 1]!).toBe(defaultSwimConfig.probeIntervalMs);
  });

  it('asks k helpers once the direct ping fails, with the rest of the round as their deadline', () => {
    const bench = new Bench(6);
    const probe = bench.until('probe');
    const started = bench.nowMs;
    const indirect = bench
      .at(started + 500, { type: 'probeFailed', probeId: probe.probeId })
      .find((effect) => effect.type === 'probeIndirect');
    expect(indirect?.via).toHaveLength(3);
    expect(indirect?.via).not.toContain(probe.target);
    expect(indirect?.timeoutMs).toBe(500);
    expect(indirect?.helperTimeoutMs).toBe(400);
  });

  it('lets an indirect ack save the target', () => {
    const bench = new Bench(6);
    const probe = bench.until('probe');
    const indirect = bench
      .at(bench.nowMs + 500, { type: 'probeFailed', probeId: probe.probeId })
      .find((effect) => effect.type === 'probeIndirect')!;
    bench.at(bench.nowMs + 10, { type: 'indirectAck', probeId: probe.probeId, via: indirect.via[0]! });
    bench.at(bench.nowMs + 1000, { type: 'tick' });
    expect(bench.state(probe.target)).toBe('alive');
    expect(bench.swim.awareness).toBe(0);
  });

  it('suspects the target when every helper nacks, without blaming itself', () => {
    const bench = new Bench(6);
    const probe = bench.until('probe');
    const indirect = bench
      .at(bench.nowMs + 500, { type: 'probeFailed', probeId: probe.probeId })
      .find((effect) => effect.type === 'probeIndirect')!;
    let effects: SwimEffect[] = [];
    for (const via of indirect.via) {
      effects = bench.at(bench.nowMs + 10, { type: 'indirectNack', probeId: probe.probeId, via });
    }
    expect(bench.state(probe.target)).toBe('suspect');
    expect(effects).toContainEqual({
      type: 'publish',
      incarnation: 0,
      rumors: [{ node: probe.target, state: 'suspect', incarnation: 0 }],
      heartbeat: false,
    });
    expect(bench.swim.awareness).toBe(0);
  });

  it('blames itself for helpers that stay silent, and backs its probing off', () => {
    const bench = new Bench(6);
    const probe = bench.until('probe');
    bench.at(bench.nowMs + 500, { type: 'probeFailed', probeId: probe.probeId });
    // No helper answers before the round's deadline.
    bench.at(bench.nowMs + 500, { type: 'tick' });
    expect(bench.state(probe.target)).toBe('suspect');
    expect(bench.swim.awareness).toBe(3);
    const next = bench.until('probe');
    bench.at(bench.nowMs + 500, { type: 'probeFailed', probeId: next.probeId });
    // The round now lasts four probe intervals: the helpers get the rest of it.
    bench.at(bench.nowMs + 3000, { type: 'tick' });
    expect(bench.state(next.target)).toBe('alive');
  });

  it('heals its awareness one answered probe at a time', () => {
    const bench = new Bench(6);
    const probe = bench.until('probe');
    bench.at(bench.nowMs + 500, { type: 'probeFailed', probeId: probe.probeId });
    bench.at(bench.nowMs + 500, { type: 'tick' });
    expect(bench.swim.awareness).toBe(3);
    for (let i = 0; i < 3; i++) {
      const next = bench.until('probe');
      bench.at(bench.nowMs + 5, { type: 'probeAck', probeId: next.probeId });
    }
    expect(bench.swim.awareness).toBe(0);
  });
});

describe('suspicion and death', () => {
  /** m0 suspects m1 through its own failed probe at the returned time. */
  function suspectFirst(bench: Bench): number {
    const target = bench.ids[1]!;
    const probe = bench.probeOf(target);
    const indirect = bench
      .at(bench.nowMs + 500, { type: 'probeFailed', probeId: probe.probeId })
      .find((effect) => effect.type === 'probeIndirect')!;
    for (const via of indirect.via)
      bench.at(bench.nowMs, { type: 'indirectNack', probeId: probe.probeId, via });
    expect(bench.state(target)).toBe('suspect');
    return bench.nowMs;
  }

  it('declares dead after the longest timeout when no one confirms, and says so', () => {
    const bench = new Bench(20);
    const since = suspectFirst(bench);
    const publish = bench.until('publish', since + 40_000);
    // The heartbeats before the verdict repeat the suspicion; the verdict goes out once the timer runs out.
    let verdict = publish;
    while (!verdict.rumors.some((rumor) => rumor.state === 'dead')) verdict = bench.until('publish');
    expect(bench.state(bench.ids[1]!)).toBe('dead');
    const maxMs = 6 * minSuspicionTimeoutMs(4, 20, 1000);
    expect(bench.nowMs - since).toBeGreaterThanOrEqual(maxMs);
    expect(bench.nowMs - since).toBeLessThan(maxMs + 1000);
  });

  it('declares dead after the shortest timeout once k members confirm', () => {
    const bench = new Bench(20);
    const since = suspectFirst(bench);
    for (const from of [bench.ids[5]!, bench.ids[6]!]) {
      bench.at(bench.nowMs + 100, {
        type: 'gossip',
        from,
        incarnation: 0,
        rumors: [{ node: bench.ids[1]!, state: 'suspect', incarnation: 0 }],
      });
    }
    expect(bench.untilChangeOf(bench.ids[1]!)).toBe('dead');
    expect(bench.nowMs - since).toBe(minSuspicionTimeoutMs(4, 20, 1000));
  });

  it("treats another member's verdict of death as a suspicion, which a refutation clears", () => {
    const bench = new Bench(5);
    const [, m1, m2] = bench.ids;
    bench.at(100, {
      type: 'gossip',
      from: m2!,
      incarnation: 0,
      rumors: [{ node: m1!, state: 'dead', incarnation: 0 }],
    });
    expect(bench.state(m1!)).toBe('suspect');
    const effects = bench.at(200, { type: 'gossip', from: m1!, incarnation: 1, rumors: [] });
    expect(effects).toContainEqual({
      type: 'changed',
      node: m1,
      previous: 'suspect',
      state: 'alive',
      incarnation: 1,
    });
  });

  it("takes another member's verdict of death once the accused has been silent here for a whole suspicion", () => {
    const bench = new Bench(5);
    const [, m1, m2, m3] = bench.ids;
    const floorMs = minSuspicionTimeoutMs(4, 5, 1000);
    bench.at(100, { type: 'gossip', from: m1!, incarnation: 0, rumors: [] });
    bench.at(100, { type: 'gossip', from: m3!, incarnation: 0, rumors: [] });
    const verdict = (about: NodeId, atMs: number) =>
      bench.at(atMs, {
        type: 'gossip',
        from: m2!,
        incarnation: 0,
        rumors: [{ node: about, state: 'dead', incarnation: 0 }],
      });
    // Heard from a moment less than a suspicion ago: it may yet refute to us.
    verdict(m3!, 100 + floorMs - 1);
    expect(bench.state(m3!)).toBe('suspect');
    // Silent here for a whole suspicion, as it was where the verdict was reached.
    const effects = verdict(m1!, 100 + floorMs);
    expect(bench.state(m1!)).toBe('dead');
    expect(effects).toContainEqual({
      type: 'changed',
      node: m1,
      previous: 'alive',
      state: 'dead',
      incarnation: 0,
    });
  });

  it('ignores suspicion at an incarnation older than the one it holds', () => {
    const bench = new Bench(5);
    const [, m1, m2] = bench.ids;
    bench.at(100, { type: 'gossip', from: m1!, incarnation: 3, rumors: [] });
    bench.at(200, {
      type: 'gossip',
      from: m2!,
      incarnation: 0,
      rumors: [{ node: m1!, state: 'suspect', incarnation: 2 }],
    });
    expect(bench.state(m1!)).toBe('alive');
  });

  it('waits longer before declaring anyone dead while it cannot hear anyone itself', () => {
    const healthy = new Bench(20);
    const since = suspectFirst(healthy);
    expect(healthy.untilChangeOf(healthy.ids[1]!)).toBe('dead');
    const healthyMs = healthy.nowMs - since;

    // Every ping of ours fails and no helper ever answers: the fault is most likely ours.
    const deaf = new Bench(20);
    let firstSuspicionMs: number | undefined;
    while (deaf.nowMs < 10 * healthyMs) {
      const probe = deaf.until('probe');
      deaf.at(deaf.nowMs + 500, { type: 'probeFailed', probeId: probe.probeId });
      firstSuspicionMs ??= deaf.nowMs;
      if (deaf.swim.view(deaf.nowMs).some((member) => member.state === 'dead')) break;
    }
    expect(deaf.swim.awareness).toBe(7);
    expect(deaf.nowMs - firstSuspicionMs!).toBeGreaterThan(7 * healthyMs);
  });
});

describe('refutation', () => {
  it('raises its incarnation above a suspicion of itself and says so at once', () => {
    const bench = new Bench(5);
    const effects = bench.at(100, {
      type: 'gossip',
      from: bench.ids[2]!,
      incarnation: 0,
      rumors: [{ node: bench.ids[0]!, state: 'suspect', incarnation: 4 }],
    });
    expect(bench.swim.incarnation).toBe(5);
    expect(effects).toContainEqual({ type: 'publish', incarnation: 5, rumors: [], heartbeat: false });
    expect(bench.swim.awareness).toBe(1);
  });

  it('ignores a suspicion of itself older than its incarnation', () => {
    const bench = new Bench(5);
    bench.at(100, {
      type: 'gossip',
      from: bench.ids[2]!,
      incarnation: 0,
      rumors: [{ node: bench.ids[0]!, state: 'suspect', incarnation: 4 }],
    });
    const effects = bench.at(200, {
      type: 'gossip',
      from: bench.ids[3]!,
      incarnation: 0,
      rumors: [{ node: bench.ids[0]!, state: 'dead', incarnation: 4 }],
    });
    expect(effects.filter((effect) => effect.type === 'publish')).toEqual([]);
    expect(bench.swim.incarnation).toBe(5);
  });

  it('refutes a notice that it is held dead, and one that it is alive at a later incarnation (a restart)', () => {
    const bench = new Bench(5);
    bench.at(100, { type: 'notice', from: bench.ids[1]!, state: 'dead', incarnation: 0 });
    expect(bench.swim.incarnation).toBe(1);
    bench.at(200, { type: 'notice', from: bench.ids[1]!, state: 'alive', incarnation: 7 });
    expect(bench.swim.incarnation).toBe(8);
    bench.at(300, { type: 'notice', from: bench.ids[1]!, state: 'alive', incarnation: 8 });
    expect(bench.swim.incarnation).toBe(8);
  });

  it('tells a member that speaks while held dead, so that it can refute', () => {
    const bench = new Bench(5, { noticeFanout: 10 });
    const [, m1, m2] = bench.ids;
    bench.at(100, {
      type: 'gossip',
      from: m2!,
      incarnation: 0,
      rumors: [{ node: m1!, state: 'suspect', incarnation: 0 }],
    });
    expect(bench.untilChangeOf(m1!)).toBe('dead');
    // A probe interval on, so that no buddy notice sent while it was suspect holds this one back.
    const effects = bench.at(bench.nowMs + 1000, { type: 'gossip', from: m1!, incarnation: 0, rumors: [] });
    expect(effects).toContainEqual({ type: 'notify', to: m1, state: 'dead', incarnation: 0 });
    // At most one notice per member per probe interval.
    const again = bench.at(bench.nowMs + 10, { type: 'gossip', from: m1!, incarnation: 0, rumors: [] });
    expect(again.filter((effect) => effect.type === 'notify')).toEqual([]);
  });

  it('tells a suspect that answers its ping (the buddy system)', () => {
    const bench = new Bench(5);
    const [, m1, m2] = bench.ids;
    bench.at(100, {
      type: 'gossip',
      from: m2!,
      incarnation: 0,
      rumors: [{ node: m1!, state: 'suspect', incarnation: 0 }],
    });
    const probe = bench.probeOf(m1!);
    const effects = bench.at(bench.nowMs + 5, { type: 'probeAck', probeId: probe.probeId });
    expect(effects).toContainEqual({ type: 'notify', to: m1, state: 'suspect', incarnation: 0 });
  });
});

describe('gossip', () => {
  it('heartbeats at its interval, repeating its own rumours a few times', () => {
    const bench = new Bench(5, { rumorRetransmits: 2 });
    const [, m1, m2] = bench.ids;
    bench.at(100, { type: 'gossip', from: m2!, incarnation: 0, rumors: [] });
    const probe = bench.probeOf(m1!);
    bench.at(bench.nowMs + 500, { type: 'probeFailed', probeId: probe.probeId });
    // The round fails: the suspicion goes out at once, or on a heartbeat that falls due at that instant.
    const publishes = bench
      .at(bench.nowMs + 500, { type: 'tick' })
      .filter((effect) => effect.type === 'publish');
    expect(publishes).toHaveLength(1);
    const heartbeats = publishes.filter((publish) => publish.heartbeat);
    const starts: number[] = [];
    while (heartbeats.length < 5) {
      heartbeats.push(bench.until('publish'));
      starts.push(bench.nowMs);
    }
    expect(heartbeats.every((publish) => publish.heartbeat)).toBe(true);
    expect(heartbeats.filter((publish) => publish.rumors.length === 1)).toHaveLength(2);
    for (let i = 1; i < starts.length; i++)
      expect(starts[i]! - starts[i - 1]!).toBe(defaultSwimConfig.heartbeatIntervalMs);
  });

  it('takes a leave only from the member itself', () => {
    const bench = new Bench(5);
    const [, m1, m2] = bench.ids;
    bench.at(100, {
      type: 'gossip',
      from: m2!,
      incarnation: 0,
      rumors: [{ node: m1!, state: 'left', incarnation: 0 }],
    });
    expect(bench.state(m1!)).toBe('alive');
    bench.at(200, {
      type: 'gossip',
      from: m1!,
      incarnation: 0,
      rumors: [{ node: m1!, state: 'left', incarnation: 0 }],
    });
    expect(bench.state(m1!)).toBe('left');
  });

  it('ignores gossip from non-members and forgets members the configuration drops', () => {
    const bench = new Bench(5);
    const stranger = asNodeId('stranger');
    bench.at(100, {
      type: 'gossip',
      from: stranger,
      incarnation: 0,
      rumors: [{ node: bench.ids[1]!, state: 'suspect', incarnation: 0 }],
    });
    expect(bench.state(bench.ids[1]!)).toBe('alive');
    bench.at(200, { type: 'members', ids: bench.ids.slice(0, 3) });
    expect(bench.swim.view(200).map((member) => member.id)).toEqual(bench.ids.slice(0, 3));
  });

  it('announces its own leave and then falls silent', () => {
    const bench = new Bench(5);
    const effects = bench.at(100, { type: 'leave' });
    expect(effects).toEqual([
      {
        type: 'publish',
        incarnation: 0,
        rumors: [{ node: bench.ids[0], state: 'left', incarnation: 0 }],
        heartbeat: false,
      },
    ]);
    expect(bench.swim.nextDueMs()).toBe(Number.POSITIVE_INFINITY);
    expect(bench.at(5000, { type: 'tick' })).toEqual([]);
    expect(bench.state(bench.ids[0]!)).toBe('left');
  });

  it('shows a member as stale once it has been silent for a few heartbeats', () => {
    const bench = new Bench(5);
    const m1 = bench.ids[1]!;
    bench.at(100, { type: 'gossip', from: m1, incarnation: 0, rumors: [] });
    const staleAt = (nowMs: number) => bench.swim.view(nowMs).find((member) => member.id === m1)?.stale;
    const silentMs = defaultSwimConfig.staleAfterHeartbeats * defaultSwimConfig.heartbeatIntervalMs;
    expect(staleAt(100 + silentMs)).toBe(false);
    expect(staleAt(101 + silentMs)).toBe(true);
  });
});
