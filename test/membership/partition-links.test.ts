import { describe, expect, it } from 'vitest';
import {
  blockedPeers,
  canReach,
  cutBetween,
  isolate,
  LinkTimeline,
  wrongVerdict,
} from '../../simulations/partition-links.js';

/** The judgement the real-daemon partition simulations pass on every dead verdict. */
describe('partition links', () => {
  it('cuts a group off both ways, and an isolated node from everyone', () => {
    expect(cutBetween([0], [1, 2])).toEqual([
      { from: 0, to: 1 },
      { from: 1, to: 0 },
      { from: 0, to: 2 },
      { from: 2, to: 0 },
    ]);
    expect(isolate(1, 3)).toEqual(cutBetween([1], [0, 2]));
  });

  it('counts a node reachable through one helper, as an indirect probe reaches it', () => {
    const oneWay = [{ from: 0, to: 1 }];
    expect(canReach(oneWay, 3, 0, 1)).toBe(true);
    expect(canReach(oneWay, 2, 0, 1)).toBe(false);
    expect(canReach(isolate(2, 4), 4, 0, 2)).toBe(false);
    expect(canReach(isolate(2, 4), 4, 0, 1)).toBe(true);
  });

  it('blocks at the gater every peer a link is cut with, in either direction', () => {
    expect(blockedPeers([{ from: 0, to: 2 }], 3)).toEqual([[2], [], [0]]);
  });

  it('calls a dead verdict wrong only when the subject was reachable for the whole window before it', () => {
    const timeline = new LinkTimeline(4, 0);
    timeline.record(10_000, 10_100, isolate(3, 4));
    timeline.record(20_000, 20_100, []);
    const verdict = (deadSinceMs: number) => ({ observer: 0, subject: 3, deadSinceMs });
    // Cut off at 10 s: dead at 15 s is earned; at 9 s nothing had been cut yet.
    expect(wrongVerdict(timeline, verdict(15_000), 4_000)).toBe(false);
    expect(wrongVerdict(timeline, verdict(9_000), 4_000)).toBe(true);
    // Healed at 20 s: dead at 22 s may finish a suspicion begun in the cut; at 30 s it may not.
    expect(wrongVerdict(timeline, verdict(22_000), 4_000)).toBe(false);
    expect(wrongVerdict(timeline, verdict(30_000), 4_000)).toBe(true);
  });
});
