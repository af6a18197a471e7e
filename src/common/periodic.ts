import type { Clock, Timer } from './clock.js';

/** A loop that runs `pass` every `intervalMs` after the previous pass ended, until stopped. */
export interface Periodic {
  stop(): void;
  readonly stopped: boolean;
}

/**
 * Runs `pass` `intervalMs` after start, and again that long after each pass ends (never two at once); a pass
 * that throws goes to `onError` and the loop goes on.
 */
export function everyInterval(
  clock: Clock,
  intervalMs: number,
  pass: () => Promise<void>,
  onError: (error: unknown) => void,
): Periodic {
  let timer: Timer | undefined;
  const loop = {
    stopped: false,
    stop() {
      loop.stopped = true;
      timer?.cancel();
    },
  };
  const schedule = () => {
    if (loop.stopped) return;
    timer = clock.setTimer(intervalMs, () => {
      void pass().catch(onError).finally(schedule);
    });
  };
  schedule();
  return loop;
}
