import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/common/random.js';
import { SimClock } from '../../src/common/sim-clock.js';

describe('simulated clock', () => {
  it('fires timers in time order, and same-time timers in the order they were set', () => {
    const clock = new SimClock();
    const fired: string[] = [];
    clock.setTimer(20, () => fired.push('b'));
    clock.setTimer(10, () => fired.push('a'));
    clock.setTimer(20, () => fired.push('c'));
    const cancelled = clock.setTimer(15, () => fired.push('never'));
    cancelled.cancel();
    clock.advanceTo(19);
    expect(fired).toEqual(['a']);
    expect(clock.monotonicMs()).toBe(19);
    clock.advanceBy(1);
    expect(fired).toEqual(['a', 'b', 'c']);
    expect(clock.nextDueMs()).toBeUndefined();
  });

  it('lets a timer set another that falls due within the same advance', () => {
    const clock = new SimClock();
    const fired: number[] = [];
    clock.setTimer(5, () => clock.setTimer(5, () => fired.push(clock.monotonicMs())));
    clock.advanceTo(100);
    expect(fired).toEqual([10]);
  });
});

describe('seeded randomness', () => {
  it('repeats for a seed and differs between seeds', () => {
    const draw = (seed: number) => Array.from({ length: 8 }, seededRng(seed).next);
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
  });

  it('stays in range', () => {
    const rng = seededRng(1);
    for (let i = 0; i < 10_000; i++) {
      const value = rng.between(3, 7);
      expect(value >= 3 && value <= 7 && Number.isInteger(value)).toBe(true);
      const unit = rng.next();
      expect(unit >= 0 && unit < 1).toBe(true);
    }
  });
});
