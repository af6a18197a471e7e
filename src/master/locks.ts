import { CorralError } from '../common/errors.js';
import { invariant } from '../common/invariant.js';

/** Ganeti's lock levels, in the one order every owner takes them in, so that no two owners can deadlock. */
export const lockLevels = ['cluster', 'instance', 'group', 'node'] as const;
export type LockLevel = (typeof lockLevels)[number];
export type LockMode = 'shared' | 'exclusive';

/** The only lock of the cluster level: Ganeti's Big Ganeti Lock. */
export const BGL = 'BGL';

export interface LockRequest {
  readonly level: LockLevel;
  /** 'all' takes the whole level, including locks that appear later (Ganeti's ALL_SET). */
  readonly names: readonly string[] | 'all';
  readonly mode: LockMode;
}

/**
 * How an owner holds or awaits one lock. Each level (below the cluster) has a level-wide lock, shown as
 * `<level>/*`: 'all' takes it shared or exclusive, and a named request takes it in an intent mode first, so
 * that 'all' conflicts with named locks and waits its turn with them (multiple-granularity locking).
 */
export type HoldMode = LockMode | 'intent-shared' | 'intent-exclusive';

export interface LockHolding {
  /** `cluster/BGL`, `node/node1.example.com`, or `node/*` for the level-wide lock. */
  readonly lock: string;
  readonly owners: readonly { readonly owner: number; readonly mode: HoldMode }[];
  /** Waiting owners, first in line first. */
  readonly pending: readonly { readonly owner: number; readonly mode: HoldMode }[];
}

const compatibleWith: Record<HoldMode, ReadonlySet<HoldMode>> = {
  'intent-shared': new Set<HoldMode>(['intent-shared', 'intent-exclusive', 'shared']),
  'intent-exclusive': new Set<HoldMode>(['intent-shared', 'intent-exclusive']),
  shared: new Set<HoldMode>(['intent-shared', 'shared']),
  exclusive: new Set<HoldMode>(),
};

/** One lock to take. Level-wide locks are keyed by the bare level, named ones by `level/name`. */
interface Step {
  readonly key: string;
  readonly mode: HoldMode;
}

interface Lock {
  readonly holders: Map<number, HoldMode>;
  /** FIFO: a newcomer never overtakes a waiter, so shared holders cannot starve an exclusive one. */
  readonly queue: Acquisition[];
}

interface Acquisition {
  readonly owner: number;
  readonly steps: readonly Step[];
  /** The step taken next, or waited on. */
  next: number;
  readonly done: () => void;
  readonly fail: (error: CorralError) => void;
}

/**
 * The master's locks, in the manner of Ganeti's locking.py. An owner asks for its whole set at once; the
 * locks are taken one by one in the fixed order (level, level-wide lock, then name), each through its own
 * FIFO queue, holding those already taken. Every wait is for a lock later in the order than all the waiter
 * holds, so there is no cycle. No timers: only releases and aborts move things on.
 */
export class LockManager {
  private readonly locks = new Map<string, Lock>();
  /** What each owner holds, in the order taken: that is lock order, so the last is the highest. */
  private readonly owned = new Map<number, string[]>();
  private readonly acquiring = new Map<number, Acquisition>();

  /** Takes the whole set now if no holder or waiter stands in the way; otherwise takes nothing. */
  tryAcquire(owner: number, requests: readonly LockRequest[]): boolean {
    this.assertIdle(owner);
    const steps = plan(requests);
    const free = steps.every((step) => {
      const lock = this.locks.get(step.key);
      return lock === undefined || (lock.queue.length === 0 && fits(lock, step.mode));
    });
    if (free) for (const step of steps) this.take(owner, step);
    return free;
  }

  /**
   * Resolves once the owner holds the whole set. Rejects with 'aborted', holding nothing, if the signal
   * aborts or the owner is released first.
   */
  acquire(
    owner: number,
    requests: readonly LockRequest[],
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    const { signal } = options;
    return new Promise((resolve, reject) => {
      this.assertIdle(owner);
      const steps = plan(requests);
      if (signal?.aborted) throw abortedError(owner, signal);
      const onAbort = () => this.cancel(owner, () => abortedError(owner, signal));
      const acquisition: Acquisition = {
        owner,
        steps,
        next: 0,
        done: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        fail: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.acquiring.set(owner, acquisition);
      this.advance(acquisition);
    });
  }

  /** Frees everything the owner holds, ends its wait if it has one, and lets waiters in. */
  release(owner: number): void {
    this.cancel(
      owner,
      () =>
        new CorralError('aborted', `job ${owner} stopped waiting for locks because its locks were released`),
    );
    this.freeAll(owner);
  }

  /** What is held and awaited, in lock order, for `debug locks`. */
  holders(): LockHolding[] {
    return [...this.locks.entries()]
      .sort(([a], [b]) => compareKeys(a, b))
      .map(([key, lock]) => ({
        lock: shownKey(key),
        owners: [...lock.holders].map(([owner, mode]) => ({ owner, mode })),
        pending: lock.queue.map((waiter) => ({ owner: waiter.owner, mode: currentStep(waiter).mode })),
      }));
  }

  /** Taking locks out of order could deadlock, so an owner asks for its whole set at once. */
  private assertIdle(owner: number): void {
    const held = this.owned.get(owner) ?? [];
    invariant(
      held.length === 0 && !this.acquiring.has(owner),
      () =>
        `lock order: job ${owner} asked for more locks while ${held.length > 0 ? `holding ${held.map(shownKey).join(', ')}` : 'awaiting others'}; an owner asks for its whole set at once`,
    );
  }

  /** Takes steps while the next lock is free; otherwise queues for it and returns. */
  private advance(acquisition: Acquisition): void {
    while (acquisition.next < acquisition.steps.length) {
      const step = currentStep(acquisition);
      const lock = this.lock(step.key);
      if (lock.queue.length > 0 || !fits(lock, step.mode)) {
        assertInLockOrder(acquisition.owner, this.owned.get(acquisition.owner)?.at(-1), step.key);
        lock.queue.push(acquisition);
        return;
      }
      this.take(acquisition.owner, step);
      acquisition.next += 1;
    }
    this.acquiring.delete(acquisition.owner);
    acquisition.done();
  }

  /** Lets in the waiters at the head of the queue that fit, in order, stopping at the first that does not. */
  private wake(key: string): void {
    const lock = this.locks.get(key);
    if (lock === undefined) return;
    for (
      let head = lock.queue[0];
      head !== undefined && fits(lock, currentStep(head).mode);
      head = lock.queue[0]
    ) {
      lock.queue.shift();
      this.take(head.owner, currentStep(head));
      head.next += 1;
      this.advance(head);
    }
    this.dropIfIdle(key, lock);
  }

  /** Ends an owner's wait, if it has one, and frees what that wait had taken so far. */
  private cancel(owner: number, error: () => CorralError): void {
    const acquisition = this.acquiring.get(owner);
    if (acquisition === undefined) return;
    this.acquiring.delete(owner);
    const key = currentStep(acquisition).key;
    const queue = this.locks.get(key)?.queue ?? [];
    const at = queue.indexOf(acquisition);
    if (at >= 0) queue.splice(at, 1);
    this.freeAll(owner);
    // It may have been at the head, holding back waiters that fit.
    this.wake(key);
    acquisition.fail(error());
  }

  private freeAll(owner: number): void {
    const keys = this.owned.get(owner);
    if (keys === undefined) return;
    this.owned.delete(owner);
    for (const key of keys) this.locks.get(key)?.holders.delete(owner);
    for (const key of keys) this.wake(key);
  }

  private take(owner: number, step: Step): void {
    const keys = this.owned.get(owner) ?? [];
    assertInLockOrder(owner, keys.at(-1), step.key);
    this.lock(step.key).holders.set(owner, step.mode);
    keys.push(step.key);
    this.owned.set(owner, keys);
  }

  private lock(key: string): Lock {
    let lock = this.locks.get(key);
    if (lock === undefined) {
      lock = { holders: new Map(), queue: [] };
      this.locks.set(key, lock);
    }
    return lock;
  }

  /** Locks live only while held or awaited, so instance names that come and go leave nothing behind. */
  private dropIfIdle(key: string, lock: Lock): void {
    if (lock.holders.size === 0 && lock.queue.length === 0) this.locks.delete(key);
  }
}

function fits(lock: Lock, mode: HoldMode): boolean {
  for (const held of lock.holders.values()) if (!compatibleWith[mode].has(held)) return false;
  return true;
}

function currentStep(acquisition: Acquisition): Step {
  const step = acquisition.steps[acquisition.next];
  invariant(step !== undefined, () => `job ${acquisition.owner} has no lock left to take`);
  return step;
}

/**
 * The promise that makes deadlock impossible: an owner takes (or waits for) a lock only when it comes after
 * every lock it holds, in level order (cluster, instance, group, node), the level-wide lock before the
 * level's named ones, then by name. `last` is the highest lock the owner holds.
 */
export function assertInLockOrder(owner: number, last: string | undefined, key: string): void {
  invariant(
    last === undefined || compareKeys(last, key) < 0,
    () =>
      `lock order: job ${owner} asked for ${shownKey(key)} while holding ${shownKey(last ?? '')}, which does not come before it`,
  );
}

/** A level-wide lock is keyed by its bare level and shown as `<level>/*`. */
function shownKey(key: string): string {
  return key.includes('/') ? key : `${key}/*`;
}

function abortedError(owner: number, signal: AbortSignal | undefined): CorralError {
  return new CorralError('aborted', `job ${owner} stopped waiting for locks because it was canceled`, {
    cause: signal?.reason,
  });
}

const stronger = (a: LockMode | undefined, b: LockMode): LockMode => (a === 'exclusive' ? a : b);

/**
 * The steps for a set of requests, in the fixed order. Requests for one lock merge into the stronger mode;
 * 'all' at a level covers any named request there, in the strongest mode asked for at that level.
 */
function plan(requests: readonly LockRequest[]): Step[] {
  const steps: Step[] = [];
  for (const level of lockLevels) {
    const here = requests.filter(
      (request) => request.level === level && (request.names === 'all' || request.names.length > 0),
    );
    const levelMode = here.reduce<LockMode | undefined>(
      (mode, request) => stronger(mode, request.mode),
      undefined,
    );
    if (levelMode === undefined) continue;
    if (level === 'cluster') {
      for (const request of here)
        if (request.names !== 'all' && request.names.some((name) => name !== BGL))
          throw new CorralError('bad_request', `the cluster level has only the ${BGL} lock`);
      steps.push({ key: `cluster/${BGL}`, mode: levelMode });
      continue;
    }
    if (here.some((request) => request.names === 'all')) {
      steps.push({ key: level, mode: levelMode });
      continue;
    }
    const modes = new Map<string, LockMode>();
    for (const request of here)
      for (const name of request.names) {
        if (name === '') throw new CorralError('bad_request', `a ${level} lock needs a name`);
        modes.set(name, stronger(modes.get(name), request.mode));
      }
    const anyExclusive = [...modes.values()].includes('exclusive');
    steps.push({ key: level, mode: anyExclusive ? 'intent-exclusive' : 'intent-shared' });
    for (const name of [...modes.keys()].sort())
      steps.push({ key: `${level}/${name}`, mode: modes.get(name)! });
  }
  return steps;
}

/** Level order, then the level-wide lock before the level's named locks, then name. */
function compareKeys(a: string, b: string): number {
  const [levelA, nameA] = splitKey(a);
  const [levelB, nameB] = splitKey(b);
  if (levelA !== levelB) return levelA - levelB;
  return nameA === nameB ? 0 : nameA < nameB ? -1 : 1;
}

function splitKey(key: string): [number, string] {
  const slash = key.indexOf('/');
  const level = slash < 0 ? key : key.slice(0, slash);
  return [lockLevels.indexOf(level as LockLevel), slash < 0 ? '' : `/${key.slice(slash + 1)}`];
}
