import type { Clock, Timer } from './clock.js';

interface Pending {
  readonly atMs: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to. Timers due at the same instant fire in the order they were set,
 * so a run depends on nothing but its inputs.
 */
export class SimClock implements Clock {
  private nowMs: number;
  private seq = 0;
  private readonly queue: Pending[] = [];

  constructor(
    startMs = 0,
    private readonly epochMs = 1_700_000_000_000,
  ) {
    this.nowMs = startMs;
  }

  monotonicMs(): number {
    return this.nowMs;
  }

  wallMs(): number {
    return this.epochMs + this.nowMs;
  }

  setTimer(delayMs: number, callback: () => void): Timer {
    const entry: Pending = {
      atMs: this.nowMs + Math.max(0, delayMs),
      seq: this.seq++,
      callback,
      cancelled: false,
    };
    this.insert(entry);
    return {
      cancel: () => {
        entry.cancelled = true;
      },
    };
  }

  /** When the next live timer is due, or undefined when none is. */
  nextDueMs(): number | undefined {
    this.dropCancelled();
    return this.queue[0]?.atMs;
  }

  /** Fires the earliest timer, moving time to it. Returns false when nothing is pending. */
  step(): boolean {
    this.dropCancelled();
    const entry = this.queue.shift();
    if (entry === undefined) return false;
    this.nowMs = Math.max(this.nowMs, entry.atMs);
    entry.callback();
    return true;
  }

  /** Fires every timer due up to targetMs, then leaves time at targetMs. */
  advanceTo(targetMs: number): void {
    for (;;) {
      const due = this.nextDueMs();
      if (due === undefined || due > targetMs) break;
      this.step();
    }
    this.nowMs = Math.max(this.nowMs, targetMs);
  }

  advanceBy(deltaMs: number): void {
    this.advanceTo(this.nowMs + deltaMs);
  }

  private dropCancelled(): void {
    while (this.queue[0]?.cancelled) this.queue.shift();
  }

  private insert(entry: Pending): void {
    // Binary search on (atMs, seq): timers are set far more often than the queue is long.
    let lo = 0;
    let hi = this.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const other = this.queue[mid]!;
      if (other.atMs < entry.atMs || (other.atMs === entry.atMs && other.seq < entry.seq)) lo = mid + 1;
      else hi = mid;
    }
    this.queue.splice(lo, 0, entry);
  }
}

/**
 * One simulated host's view of a SimClock whose rate is off by `driftPpm` (positive: it runs fast). Its
 * readings and timers are the host's; the simulation still moves the one clock underneath.
 */
export class DriftingClock implements Clock {
  private readonly rate: number;

  constructor(
    private readonly base: SimClock,
    driftPpm: number,
  ) {
    this.rate = 1 + driftPpm / 1_000_000;
  }

  monotonicMs(): number {
    return this.base.monotonicMs() * this.rate;
  }

  /** Whole milliseconds, as Date.now() gives. */
  wallMs(): number {
    return Math.floor(this.base.wallMs() - this.base.monotonicMs() + this.monotonicMs());
  }

  setTimer(delayMs: number, callback: () => void): Timer {
    return this.base.setTimer(delayMs / this.rate, callback);
  }
}
