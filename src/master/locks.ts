import { CorralError } from '../common/errors.js';

/** Ganeti's lock levels, in the one order every job acquires them in, so no two jobs can deadlock. */
export const lockLevels = ['cluster', 'instance', 'group', 'node'] as const;
export type LockLevel = (typeof lockLevels)[number];
export type LockMode = 'shared' | 'exclusive';

export interface LockRequest {
  readonly level: LockLevel;
  /** 'all' takes the whole level, including locks that appear later (Ganeti's ALL_SET). */
  readonly names: readonly string[] | 'all';
  readonly mode: LockMode;
}

export interface LockHolding {
  readonly lock: string;
  readonly mode: LockMode;
  readonly owners: readonly number[];
  readonly pending: readonly number[];
}

/** A level-wide lock: it conflicts with any named lock of its level held in an incompatible mode. */
const WHOLE_LEVEL = '*';

interface Want {
  readonly key: string;
  readonly mode: LockMode;
}

interface Waiter {
  readonly owner: number;
  readonly wants: readonly Want[];
  readonly resolve: () => void;
}

/**
 * The master's locks. A job asks for its whole set at once and gets all of it or waits; waiters are served
 * in arrival order, and a waiter is not overtaken by a later one that conflicts with it, so a stream of
 * shared holders cannot starve an exclusive request.
 */
export class LockManager {
  private readonly held = new Map<string, { mode: LockMode; owners: Set<number> }>();
  private readonly owned = new Map<number, Want[]>();
  private queue: Waiter[] = [];

  /** Takes the locks now if nothing held or queued stands in the way; all or nothing. */
  tryAcquire(owner: number, requests: readonly LockRequest[]): boolean {
    const wants = expand(requests);
    if (!this.free(owner, wants) || this.queue.some((waiter) => conflicts(waiter.wants, wants))) return false;
    this.take(owner, wants);
    return true;
  }

  /** Waits until the whole set can be taken; rejects and holds nothing if the signal aborts first. */
  acquire(
    owner: number,
    requests: readonly LockRequest[],
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    if (this.tryAcquire(owner, requests)) return Promise.resolve();
    const { signal } = options;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new CorralError('aborted', 'stopped waiting for locks'));
      const waiter: Waiter = {
        owner,
        wants: expand(requests),
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.queue = this.queue.filter((queued) => queued !== waiter);
        this.wake();
        reject(new CorralError('aborted', 'stopped waiting for locks'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  release(owner: number): void {
    const wants = this.owned.get(owner);
    if (wants === undefined) return;
    this.owned.delete(owner);
    for (const want of wants) {
      const lock = this.held.get(want.key);
      lock?.owners.delete(owner);
      if (lock?.owners.size === 0) this.held.delete(want.key);
    }
    this.wake();
  }

  holders(): LockHolding[] {
    const keys = new Set([
      ...this.held.keys(),
      ...this.queue.flatMap((waiter) => waiter.wants.map((w) => w.key)),
    ]);
    return [...keys].sort().map((key) => {
      const lock = this.held.get(key);
      return {
        lock: key,
        mode: lock?.mode ?? 'shared',
        owners: lock === undefined ? [] : [...lock.owners],
        pending: this.queue
          .filter((waiter) => waiter.wants.some((want) => want.key === key))
          .map((w) => w.owner),
      };
    });
  }

  /** Grants queued requests in order; one that cannot go blocks later ones it conflicts with. */
  private wake(): void {
    const blocked: Want[][] = [];
    const remaining: Waiter[] = [];
    for (const waiter of this.queue) {
      if (blocked.some((wants) => conflicts(wants, waiter.wants)) || !this.free(waiter.owner, waiter.wants)) {
        blocked.push([...waiter.wants]);
        remaining.push(waiter);
        continue;
      }
      this.take(waiter.owner, waiter.wants);
      waiter.resolve();
    }
    this.queue = remaining;
  }

  private free(owner: number, wants: readonly Want[]): boolean {
    return wants.every((want) => {
      for (const [key, lock] of this.held) {
        if (!overlaps(want.key, key)) continue;
        const others = [...lock.owners].some((holder) => holder !== owner);
        if (others && (want.mode === 'exclusive' || lock.mode === 'exclusive')) return false;
      }
      return true;
    });
  }

  private take(owner: number, wants: readonly Want[]): void {
    for (const want of wants) {
      const lock = this.held.get(want.key);
      if (lock === undefined) this.held.set(want.key, { mode: want.mode, owners: new Set([owner]) });
      else {
        lock.owners.add(owner);
        if (want.mode === 'exclusive') lock.mode = 'exclusive';
      }
    }
    this.owned.set(owner, [...(this.owned.get(owner) ?? []), ...wants]);
  }
}

/** The locks a request names, in the fixed order (level, then name). */
function expand(requests: readonly LockRequest[]): Want[] {
  const wants = requests.flatMap((request) =>
    (request.names === 'all' ? [WHOLE_LEVEL] : request.names).map((name) => ({
      key: `${lockLevels.indexOf(request.level)}/${request.level}/${name}`,
      mode: request.mode,
    })),
  );
  return wants.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function levelOf(key: string): string {
  return key.slice(0, key.lastIndexOf('/'));
}

/** Two locks meet if they are the same, or one of them is the whole of the other's level. */
function overlaps(a: string, b: string): boolean {
  if (a === b) return true;
  const whole = `/${WHOLE_LEVEL}`;
  return levelOf(a) === levelOf(b) && (a.endsWith(whole) || b.endsWith(whole));
}

function conflicts(a: readonly Want[], b: readonly Want[]): boolean {
  return a.some((x) =>
    b.some((y) => overlaps(x.key, y.key) && (x.mode === 'exclusive' || y.mode === 'exclusive')),
  );
}
