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

/** Resolves after `ms` on the clock; rejects with the signal's reason if it aborts first. */
export function pause(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      timer.cancel();
      reject(signal?.reason);
    };
    const timer = clock.setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
