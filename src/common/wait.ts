import { CorralError } from './errors.js';

export interface WaitOptions {
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  /** Says what was awaited, for the error. */
  readonly what: string;
  /** Stops the polling early, rejecting with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** Polls until the check returns a value (not undefined) or the deadline passes; never a fixed sleep. */
export async function waitFor<T>(
  check: () => Promise<T | undefined> | T | undefined,
  options: WaitOptions,
): Promise<T> {
  const deadline = performance.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    if (options.signal?.aborted) throw options.signal.reason;
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (performance.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new CorralError(
        'timeout',
        `gave up after ${options.timeoutMs} ms waiting for ${options.what}${why}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}
