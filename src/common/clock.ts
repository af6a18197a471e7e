export interface Timer {
  cancel(): void;
}

/** Time as the rest of the code sees it, so that the simulator can own it. */
export interface Clock {
  /** Milliseconds on a clock that never goes backwards; only differences mean anything. */
  monotonicMs(): number;
  /** Milliseconds since the Unix epoch, for things that leave this process (token expiry, log stamps). */
  wallMs(): number;
  setTimer(delayMs: number, callback: () => void): Timer;
}

export const systemClock: Clock = {
  monotonicMs: () => performance.now(),
  wallMs: () => Date.now(),
  setTimer(delayMs, callback) {
    const handle = setTimeout(callback, delayMs);
    handle.unref?.();
    return { cancel: () => clearTimeout(handle) };
  },
};
