import type { Entry } from './types.js';

export type NormalEntry = Entry & { readonly type: 'normal' };

/**
 * The replicated state machine. It sees every committed normal entry in order (the empty entry each new leader
 * appends included; it should ignore entries with no data); membership entries are the core's business.
 */
export interface StateMachine<Result> {
  apply(entry: NormalEntry): Result;
  snapshot(): Uint8Array;
  restore(data: Uint8Array): void;
}
