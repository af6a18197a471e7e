/**
 * A linearizability checker for key-value histories in the manner of Wing & Gong, with Lowe's memoization as in
 * Porcupine: depth-first search over which pending operation takes effect next, caching (linearized set, state)
 * pairs already explored. A key-value history is linearizable iff each key's sub-history is (P-compositionality),
 * so keys are checked one at a time.
 */

export type KvInput =
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'get'; readonly key: string }
  | {
      readonly op: 'cas';
      readonly key: string;
      readonly expected: string | undefined;
      readonly value: string;
    };

/** The observed result; undefined when the client never learned it (the operation may or may not have happened). */
export type KvOutput =
  | { readonly op: 'put' }
  | { readonly op: 'get'; readonly value: string | undefined }
  | { readonly op: 'cas'; readonly ok: boolean };

export interface Operation {
  readonly client: number;
  readonly input: KvInput;
  readonly output: KvOutput | undefined;
  /** Logical times: an operation precedes another when it returned before the other was called. */
  readonly callAt: number;
  /** Infinity when the outcome is unknown: such an operation may take effect at any point after its call. */
  readonly returnAt: number;
}

export type CheckResult = 'linearizable' | 'not-linearizable' | 'gave-up';

type State = string | undefined;

/** Applies an operation to a key's value: undefined when the observed output is impossible in this state. */
function step(state: State, input: KvInput, output: KvOutput | undefined): { next: State } | undefined {
  switch (input.op) {
    case 'put':
      return { next: input.value };
    case 'get':
      if (output === undefined) return { next: state };
      return output.op === 'get' && output.value === state ? { next: state } : undefined;
    case 'cas': {
      const matches = state === input.expected;
      if (output === undefined) return { next: matches ? input.value : state };
      if (output.op !== 'cas' || output.ok !== matches) return undefined;
      return { next: matches ? input.value : state };
    }
  }
}

interface Event {
  readonly kind: 'call' | 'return';
  readonly id: number;
  readonly time: number;
  prev: Event | undefined;
  next: Event | undefined;
  /** For a call, its return event. */
  match: Event | undefined;
}

export function checkHistory(history: readonly Operation[], maxSteps = 2_000_000): CheckResult {
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    const list = byKey.get(op.input.key) ?? [];
    list.push(op);
    byKey.set(op.input.key, list);
  }
  let verdict: CheckResult = 'linearizable';
  for (const ops of byKey.values()) {
    const result = checkKey(ops, maxSteps);
    if (result === 'not-linearizable') return result;
    if (result === 'gave-up') verdict = 'gave-up';
  }
  return verdict;
}

function checkKey(ops: readonly Operation[], maxSteps: number): CheckResult {
  const head = buildEvents(ops);
  const cache = new Set<string>();
  const calls: { event: Event; state: State }[] = [];
  let linearized = 0n;
  let state: State;
  let entry = head.next;
  for (let steps = 0; head.next !== undefined; steps++) {
    if (steps > maxSteps) return 'gave-up';
    if (entry === undefined) return 'not-linearizable';
    if (entry.kind === 'call') {
      const op = ops[entry.id]!;
      const outcome = step(state, op.input, op.output);
      if (outcome !== undefined) {
        const after = linearized | (1n << BigInt(entry.id));
        const key = `${after.toString(36)}|${outcome.next ?? '\u0000'}`;
        if (!cache.has(key)) {
          cache.add(key);
          calls.push({ event: entry, state });
          state = outcome.next;
          linearized = after;
          lift(entry);
          entry = head.next;
          continue;
        }
      }
      entry = entry.next;
    } else {
      // A return with its call not yet linearized: undo the last choice and try the next candidate.
      const last = calls.pop();
      if (last === undefined) return 'not-linearizable';
      state = last.state;
      linearized &= ~(1n << BigInt(last.event.id));
      unlift(last.event);
      entry = last.event.next;
    }
  }
  return 'linearizable';
}

function buildEvents(ops: readonly Operation[]): Event {
  const events: Event[] = [];
  for (const [id, op] of ops.entries()) {
    const call: Event = {
      kind: 'call',
      id,
      time: op.callAt,
      prev: undefined,
      next: undefined,
      match: undefined,
    };
    const ret: Event = {
      kind: 'return',
      id,
      time: op.returnAt,
      prev: undefined,
      next: undefined,
      match: undefined,
    };
    call.match = ret;
    events.push(call, ret);
  }
  // Calls before returns at the same instant: such operations overlap.
  events.sort((a, b) => a.time - b.time || (a.kind === b.kind ? a.id - b.id : a.kind === 'call' ? -1 : 1));
  const head: Event = { kind: 'call', id: -1, time: -1, prev: undefined, next: undefined, match: undefined };
  let last = head;
  for (const event of events) {
    last.next = event;
    event.prev = last;
    last = event;
  }
  return head;
}

function lift(call: Event): void {
  const ret = call.match!;
  call.prev!.next = call.next;
  if (call.next !== undefined) call.next.prev = call.prev;
  ret.prev!.next = ret.next;
  if (ret.next !== undefined) ret.next.prev = ret.prev;
}

function unlift(call: Event): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next !== undefined) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next !== undefined) call.next.prev = call;
}
