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
export function deadline(timeoutMs: number, parents: readonly (AbortSignal | undefined)[] = []): Deadline {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new CorralError('timeout', `timed out after ${timeoutMs} ms`));
  }, timeoutMs);
  const links: (() => void)[] = [];
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
      clearTimeout(timer);
      for (const unlink of links) unlink();
    },
  };
}
