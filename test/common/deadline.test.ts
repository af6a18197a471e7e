import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { deadline, timeoutSignal } from '../../src/common/deadline.js';
import { SimClock } from '../../src/common/sim-clock.js';

describe('deadlines', () => {
  it('abort at their time or with a parent, and let go of the parent once they are over', () => {
    const clock = new SimClock();
    const parent = new AbortController();
    const signals = Array.from({ length: 20 }, () => timeoutSignal(clock, 1_000, parent.signal));
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(20);
    clock.advanceBy(999);
    expect(signals.some((signal) => signal.aborted)).toBe(false);
    clock.advanceBy(1);
    expect(signals.every((signal) => signal.aborted)).toBe(true);
    expect(signals[0]!.reason).toMatchObject({ code: 'timeout' });
    // A job's signal that outlives many calls does not gather their listeners.
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(0);
  });

  it('abort with the parent’s reason, and are disposed of without firing', () => {
    const clock = new SimClock();
    const parent = new AbortController();
    const early = deadline(1_000, [parent.signal], clock);
    parent.abort(new Error('job canceled'));
    expect(early.signal.reason).toMatchObject({ message: 'job canceled' });
    expect(early.expired()).toBe(false);
    const quiet = deadline(1_000, [new AbortController().signal], clock);
    quiet.dispose();
    clock.advanceBy(2_000);
    expect(quiet.signal.aborted).toBe(false);
  });
});
