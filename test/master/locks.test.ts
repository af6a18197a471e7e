import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/common/random.js';
import { LockManager, type LockRequest } from '../../src/master/locks.js';

const bgl = (mode: LockRequest['mode']): LockRequest => ({ level: 'cluster', names: ['BGL'], mode });
const nodes = (names: string[] | 'all', mode: LockRequest['mode']): LockRequest => ({
  level: 'node',
  names,
  mode,
});

describe('the master lock manager', () => {
  it('shares shared locks and makes exclusive ones wait', async () => {
    const locks = new LockManager();
    expect(locks.tryAcquire(1, [bgl('shared')])).toBe(true);
    expect(locks.tryAcquire(2, [bgl('shared')])).toBe(true);
    let got = false;
    const waiting = locks.acquire(3, [bgl('exclusive')]).then(() => {
      got = true;
    });
    locks.release(1);
    await Promise.resolve();
    expect(got).toBe(false);
    locks.release(2);
    await waiting;
    expect(got).toBe(true);
  });

  it('does not let later shared requests overtake a waiting exclusive one', () => {
    const locks = new LockManager();
    locks.tryAcquire(1, [bgl('shared')]);
    void locks.acquire(2, [bgl('exclusive')]);
    expect(locks.tryAcquire(3, [bgl('shared')])).toBe(false);
  });

  it('treats all as every lock of the level, named or not yet', () => {
    const locks = new LockManager();
    expect(locks.tryAcquire(1, [nodes(['node1'], 'exclusive')])).toBe(true);
    expect(locks.tryAcquire(2, [nodes('all', 'shared')])).toBe(false);
    expect(locks.tryAcquire(3, [nodes(['node2'], 'exclusive')])).toBe(true);
    locks.release(1);
    locks.release(3);
    expect(locks.tryAcquire(2, [nodes('all', 'shared')])).toBe(true);
    expect(locks.tryAcquire(4, [nodes(['node9'], 'exclusive')])).toBe(false);
  });

  it('holds nothing after an aborted wait', async () => {
    const locks = new LockManager();
    locks.tryAcquire(1, [nodes(['a'], 'exclusive')]);
    const controller = new AbortController();
    const waiting = locks.acquire(2, [nodes(['a', 'b'], 'exclusive')], { signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toThrow(/stopped waiting/);
    expect(locks.tryAcquire(3, [nodes(['b'], 'exclusive')])).toBe(true);
  });

  it('never deadlocks jobs that ask in different orders', async () => {
    const seed = 4242;
    const rng = seededRng(seed);
    const locks = new LockManager();
    const names = ['a', 'b', 'c', 'd'];
    const jobs = Array.from({ length: 50 }, (_, owner) => {
      const picked = names.filter(() => rng.chance(0.5));
      const requests: LockRequest[] = [
        bgl(rng.chance(0.1) ? 'exclusive' : 'shared'),
        nodes(picked.reverse(), rng.chance(0.5) ? 'exclusive' : 'shared'),
      ];
      return locks.acquire(owner + 1, requests).then(async () => {
        await Promise.resolve();
        locks.release(owner + 1);
      });
    });
    await expect(Promise.all(jobs)).resolves.toBeDefined();
  });
});
