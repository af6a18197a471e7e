import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LeaseGrant } from '../../src/cluster/lease.js';
import { silentLogger } from '../../src/common/log.js';
import { SimClock } from '../../src/common/sim-clock.js';
import { LeaseKeeper, type LeaseRecord } from '../../src/daemon/lease-keeper.js';
import { leaseRecordFile, leaseRecordInMemory } from '../../src/daemon/lease-record.js';

const LEASE: LeaseGrant = { leaseMs: 8_000, fenceMarginMs: 1_000 };

/** Lets the promise chains a timer started run out: the renewals and fences here wait on nothing else. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A node with a master that grants while `granting` says so, and guests that die when fenced. */
function harness(options: { readonly startMs?: number; readonly record?: LeaseRecord } = {}) {
  const clock = new SimClock(options.startMs ?? 0);
  const record = options.record ?? leaseRecordInMemory();
  const world = {
    granting: true,
    renewals: [] as { atMs: number; deadlineMs: number }[],
    fences: [] as number[],
    events: [] as string[],
  };
  const keeper = new LeaseKeeper({
    clock,
    log: silentLogger,
    record,
    leaseMs: () => LEASE.leaseMs,
    renew: async (deadlineMs) => {
      world.renewals.push({ atMs: clock.monotonicMs(), deadlineMs });
      if (!world.granting) throw new Error('no master');
      return LEASE;
    },
    fence: async () => {
      world.fences.push(clock.monotonicMs());
      world.events.push('fence');
      return ['web1'];
    },
  });
  /** Fires every timer due up to `ms`, letting each one's renewal or fence finish before the next. */
  const runTo = async (ms: number) => {
    await settle();
    for (;;) {
      const due = clock.nextDueMs();
      if (due === undefined || due > ms) break;
      clock.step();
      await settle();
    }
    clock.advanceTo(ms);
    await settle();
  };
  /** Starts the keeper with no saved lease (so it fences at once), and forgets that first fence. */
  const start = async () => {
    await keeper.start();
    await settle();
    expect(world.fences).toEqual([clock.monotonicMs()]);
    world.fences.length = 0;
    world.events.length = 0;
  };
  return { clock, record, world, keeper, runTo, start };
}

describe('LeaseKeeper', () => {
  it('renews every quarter lease, giving each request a quarter lease to answer', async () => {
    const { start, keeper, world, runTo } = harness();
    await start();
    await runTo(8_000);
    expect(world.renewals.map((r) => r.atMs)).toEqual([0, 2_000, 4_000, 6_000, 8_000]);
    expect(world.renewals.every((r) => r.deadlineMs === 2_000)).toBe(true);
    expect(world.fences).toEqual([]);
    keeper.stop();
  });

  it('fences at askedAt + lease − margin of the last renewal when the next ones fail, and not before', async () => {
    const { start, keeper, world, runTo } = harness();
    await start();
    await runTo(2_000); // granted when asked at 0 and at 2000
    world.granting = false;
    await runTo(8_999);
    expect(world.renewals.length).toBeGreaterThan(3); // it kept trying
    expect(world.fences).toEqual([]);
    expect(keeper.holds()).toBe(true);
    await runTo(9_000);
    expect(world.fences).toEqual([2_000 + LEASE.leaseMs - LEASE.fenceMarginMs]);
    expect(keeper.holds()).toBe(false);
    await runTo(20_000);
    expect(world.fences).toHaveLength(1);
    keeper.stop();
  });

  it('refuses a start with code unavailable while no lease can be had, and allows one after a renewal', async () => {
    const { start, keeper, world, runTo } = harness();
    world.granting = false;
    await start();
    await runTo(100);
    await expect(keeper.acquire()).rejects.toMatchObject({ code: 'unavailable' });
    world.granting = true;
    const asked = world.renewals.length;
    await expect(keeper.acquire()).resolves.toBeUndefined();
    expect(world.renewals).toHaveLength(asked + 1);
    expect(keeper.holds()).toBe(true);
    // Holding one, it asks for none.
    await keeper.acquire();
    expect(world.renewals).toHaveLength(asked + 1);
    keeper.stop();
  });

  it('runs a start under the lease it holds', async () => {
    const { start, keeper, world, runTo } = harness();
    await start();
    await runTo(0);
    await expect(keeper.underLease(async () => 'started')).resolves.toBe('started');
    expect(world.fences).toEqual([]);
    keeper.stop();
  });

  it('fences again and refuses when the lease ran out while the start ran', async () => {
    const { start, keeper, world, clock, runTo } = harness();
    await start();
    await runTo(0); // fence at 7000
    world.granting = false;
    const underway = keeper.underLease(async () => {
      clock.advanceTo(7_500);
      world.events.push('started');
      return 'started';
    });
    await expect(underway).rejects.toMatchObject({ code: 'unavailable' });
    // The timer's fence may have come before the guest ran; one more comes after it.
    expect(world.events.at(-1)).toBe('fence');
    expect(world.events.indexOf('started')).toBeLessThan(world.events.lastIndexOf('fence'));
    keeper.stop();
  });

  it('refuses a start that a fence ran through, even when a new lease came before it ended', async () => {
    const { start, keeper, world, runTo } = harness();
    await start();
    await runTo(0); // fence at 7000
    world.granting = false;
    const underway = keeper.underLease(async () => {
      await runTo(12_000); // the fence runs at 7000, before this guest ran
      world.granting = true;
      await runTo(12_300); // a renewal succeeds again
      world.events.push('started');
      return 'started';
    });
    await expect(underway).rejects.toMatchObject({ code: 'unavailable' });
    expect(world.events.at(-1)).toBe('fence');
    keeper.stop();
  });

  it('fences at once when started with no saved fence time: guests of an earlier daemon may still run', async () => {
    const { keeper, world } = harness({ startMs: 300 });
    world.granting = false;
    await keeper.start();
    await settle();
    expect(world.fences).toEqual([300]);
    expect(keeper.holds()).toBe(false);
    keeper.stop();
  });

  it('fences at once when started with a saved fence time that has passed', async () => {
    const record = leaseRecordInMemory();
    await record.save(500);
    const { keeper, world } = harness({ startMs: 1_000, record });
    world.granting = false;
    await keeper.start();
    await settle();
    expect(world.fences).toEqual([1_000]);
    expect(keeper.holds()).toBe(false);
    keeper.stop();
  });

  it('holds a saved fence time in the future, and fences then unless renewed', async () => {
    const record = leaseRecordInMemory();
    await record.save(5_000);
    const { keeper, world, runTo } = harness({ record });
    world.granting = false;
    await keeper.start();
    expect(keeper.holds()).toBe(true);
    await runTo(4_999);
    expect(world.fences).toEqual([]);
    await runTo(5_000);
    expect(world.fences).toEqual([5_000]);
    keeper.stop();
  });

  it('does not fence at a saved fence time once it renewed, and saves the new one', async () => {
    const record = leaseRecordInMemory();
    await record.save(5_000);
    const { keeper, world, runTo } = harness({ record });
    await keeper.start();
    await runTo(0);
    expect(await record.load()).toBe(LEASE.leaseMs - LEASE.fenceMarginMs);
    await runTo(20_000);
    expect(world.fences).toEqual([]);
    keeper.stop();
  });

  it('cancels its timers on stop', async () => {
    const { start, keeper, world, clock, runTo } = harness();
    await start();
    await runTo(0);
    keeper.stop();
    expect(clock.nextDueMs()).toBeUndefined();
    await runTo(60_000);
    expect(world.renewals).toHaveLength(1);
    expect(world.fences).toEqual([]);
  });
});

describe('leaseRecordFile', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'corral-lease-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips a fence time, as time left on the host, into another daemon’s clock', async () => {
    const bootIdPath = join(dir, 'boot_id');
    await writeFile(bootIdPath, 'boot-a\n');
    const path = join(dir, 'lease.json');
    expect(await leaseRecordFile(path, new SimClock(0), bootIdPath).load()).toBeUndefined();
    await leaseRecordFile(path, new SimClock(1_000), bootIdPath).save(61_000); // 60 s left
    // The next daemon's clock reads 500000 where this one read 1000: the same time left, less what passed.
    const loaded = await leaseRecordFile(path, new SimClock(500_000), bootIdPath).load();
    expect(loaded).toBeLessThanOrEqual(560_000);
    expect(loaded).toBeGreaterThan(559_000);
  });

  it('takes a record of another boot for none', async () => {
    const bootIdPath = join(dir, 'boot_id');
    const path = join(dir, 'lease.json');
    await writeFile(bootIdPath, 'boot-a\n');
    const clock = new SimClock(0);
    await leaseRecordFile(path, clock, bootIdPath).save(60_000);
    await writeFile(bootIdPath, 'boot-b\n');
    expect(await leaseRecordFile(path, clock, bootIdPath).load()).toBeUndefined();
  });
});
