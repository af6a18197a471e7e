import { type Clock, systemClock } from './clock.js';
import { CorralError } from './errors.js';

export interface Deadline {
  readonly signal: AbortSignal;
  /** True when it was the time limit, not a parent, that aborted. */
  expired(): boolean;
  /** Clears the timer and the links to the parents; call it when the work is done. */
  dispose(): void;
}

/**
 * An abort signal that fires after timeoutMs or when any parent aborts, and lets go of everything once the
 * work is done. (AbortSignal.timeout keeps its timer to the end, and AbortSignal.any with a long-lived parent
 * keeps every child alive as long as the parent: per request, both add up to a leak.)
 */
export function deadline(
  timeoutMs: number,
  parents: readonly (AbortSignal | undefined)[] = [],
  clock: Clock = systemClock,
): Deadline {
  const controller = new AbortController();
  let timedOut = false;
  const links: (() => void)[] = [];
  const timer = clock.setTimer(timeoutMs, () => {
    timedOut = true;
    controller.abort(new CorralError('timeout', `timed out after ${timeoutMs} ms`));
    // Past its time a deadline needs its parents no more: a long job's signal must not gather its calls'.
    for (const unlink of links) unlink();
  });
  for (const parent of parents) {
    if (parent === undefined) continue;
    if (parent.aborted) {
      controller.abort(parent.reason);
      break;
    }
    const onAbort = () => controller.abort(parent.reason);
    parent.addEventListener('abort', onAbort, { once: true });
    links.push(() => parent.removeEventListener('abort', onAbort));
  }
  return {
    signal: controller.signal,
    expired: () => timedOut,
    dispose: () => {
      timer.cancel();
      for (const unlink of links) unlink();
    },
  };
}

/**
 * AbortSignal.timeout on the given clock, so that the simulator owns the time limits of the code it runs.
 * For calls made now and then (a commit, a probe); a hot path uses deadline() and disposes of it.
 */
export function timeoutSignal(clock: Clock, timeoutMs: number, parent?: AbortSignal): AbortSignal {
  return deadline(timeoutMs, [parent], clock).signal;
}
