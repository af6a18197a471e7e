import { describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/common/clock.js';
import { silentLogger } from '../../../src/common/log.js';
import { type Rng, seededRng } from '../../../src/common/random.js';
import { SimClock } from '../../../src/common/sim-clock.js';
import { type ActivityLogFile, MemoryActivityLogFile } from '../../../src/storage/mirror/activity-log.js';
import { type BlockStore, MemoryBlockStore } from '../../../src/storage/mirror/block-store.js';
import {
  MirrorPrimary,
  type MirrorPrimaryDeps,
  type OutdateAnswer,
} from '../../../src/storage/mirror/primary.js';
import { type CopyState, MirrorSecondary } from '../../../src/storage/mirror/secondary.js';
import { linkPair } from './link-pair.js';

const SIZE = 4 * 1024 * 1024;

function fill(length: number, value: number): Uint8Array {
  return new Uint8Array(length).fill(value);
}

/** A node that dies: from then on, nothing it had not yet done happens (its promises never settle). */
interface Death {
  dead: boolean;
}

/**
 * Lets each store operation finish after a seeded number of event-loop turns, so that they interleave; once
 * `death` is dead, an operation that had not reached the store yet never does.
 */
function jittered(store: MemoryBlockStore, rng: Rng | undefined, death?: Death): BlockStore {
  const turns = async () => {
    for (let turn = rng?.int(4) ?? 0; turn > 0; turn--) await new Promise((resolve) => setImmediate(resolve));
    if (death?.dead) await new Promise(() => undefined);
  };
  return {
    sizeBytes: store.sizeBytes,
    read: (offset, length) => turns().then(() => store.read(offset, length)),
    write: (offset, data) => turns().then(() => store.write(offset, data)),
    writeDurably: (offset, data) => turns().then(() => store.writeDurably(offset, data)),
    writeZeroes: (offset, length) => turns().then(() => store.writeZeroes(offset, length)),
    flush: () => turns().then(() => store.flush()),
    close: () => store.close(),
  };
}

/** An activity log file whose writes take a few turns too, and stop when the node dies. */
function jitteredLog(file: MemoryActivityLogFile, rng: Rng | undefined, death: Death): ActivityLogFile {
  return {
    read: () => file.read(),
    writeDurably: async (offset, data) => {
      for (let turn = rng?.int(3) ?? 0; turn > 0; turn--)
        await new Promise((resolve) => setImmediate(resolve));
      if (death.dead) await new Promise(() => undefined);
      await file.writeDurably(offset, data);
    },
    close: async () => undefined,
    remove: () => file.remove(),
  };
}

function setup(
  options: {
    peerCurrent?: boolean;
    verifyAll?: boolean;
    outdate?: (g: number) => Promise<OutdateAnswer>;
    rng?: Rng;
  } = {},
) {
  const local = new MemoryBlockStore(SIZE);
  const remote = new MemoryBlockStore(SIZE);
  const states: CopyState[] = [];
  const synced: number[] = [];
  const outdates: number[] = [];
  const primary = new MirrorPrimary({
    store: jittered(local, options.rng),
    generation: 1,
    peerCurrent: options.peerCurrent ?? true,
    verifyAll: options.verifyAll ?? false,
    peerAckTimeoutMs: 60_000,
    outdatePeer:
      options.outdate ??
      (async (generation) => {
        outdates.push(generation);
        return { outcome: 'outdated', generation: generation + 1 };
      }),
    peerSynced: async (generation) => {
      synced.push(generation);
    },
    clock: systemClock,
    log: silentLogger,
  });
  const secondary = new MirrorSecondary(jittered(remote, options.rng), async (state) => {
    states.push(state);
  });
  const connect = () => {
    const link = linkPair();
    const served = secondary.serve(link.secondary);
    const running = primary.runLink(link.primary);
    return { ...link, served, running };
  };
  return { local, remote, primary, secondary, states, synced, outdates, connect };
}

/** Compares the two copies byte for byte (a deep equality over megabytes is too slow). */
function expectSameCopies(world: { local: MemoryBlockStore; remote: MemoryBlockStore }, label = ''): void {
  const local = Buffer.from(world.local.snapshot());
  const remote = Buffer.from(world.remote.snapshot());
  expect(local.equals(remote), `${label} copies differ`).toBe(true);
}

/** Waits until the primary reports the peer in sync (driven by promises, not by time). */
async function untilSynced(primary: MirrorPrimary, label = ''): Promise<void> {
  for (let turn = 0; turn < 10_000 && primary.status().connection !== 'connected'; turn++)
    await new Promise((resolve) => setImmediate(resolve));
  expect(primary.status(), label).toMatchObject({ connection: 'connected' });
}

describe('mirrored disk (protocol C)', () => {
  it('acknowledges a write once both copies hold it, and reads locally', async () => {
    const world = setup();
    world.connect();
    await world.primary.write(8192, fill(4096, 7), false);
    expect(world.remote.snapshot().subarray(8192, 8192 + 4096)).toEqual(fill(4096, 7));
    expect(await world.primary.read(8192, 4096)).toEqual(fill(4096, 7));
    await world.primary.flush();
    expect(world.outdates).toEqual([]);
  });

  it('holds writes the peer missed until the master records it stale, then tracks them and resyncs only those', async () => {
    let answer!: (value: OutdateAnswer) => void;
    const asked: number[] = [];
    const world = setup({
      outdate: (generation) => {
        asked.push(generation);
        return new Promise((resolve) => (answer = resolve));
      },
    });
    const first = world.connect();
    await world.primary.write(0, fill(SIZE, 1), false);
    await world.primary.flush();
    first.cut();
    await first.running;
    let acknowledged = false;
    const write = world.primary.write(65536, fill(8192, 2), false).then(() => (acknowledged = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(asked).toEqual([1]);
    expect(acknowledged).toBe(false);
    answer({ outcome: 'outdated', generation: 2 });
    await write;
    await world.primary.write(1024 * 1024 + 100, fill(10, 3), false);
    expect(world.primary.status()).toMatchObject({
      connection: 'disconnected',
      peerOutdated: true,
      generation: 2,
    });
    expect(world.primary.status().dirtyBytes).toBe(8192 + 4096);

    world.connect();
    await untilSynced(world.primary);
    expectSameCopies(world);
    expect(world.primary.status().resyncBytesSent).toBe(8192 + 4096);
    expect(world.synced).toEqual([2]);
    expect(world.states.at(-1)).toEqual({ generation: 2, consistent: true });
  });

  it('takes a new link while the old one is broken on the primary’s side only, as a cut network leaves it', async () => {
    const world = setup();
    const first = world.connect();
    await world.primary.write(0, fill(65536, 1), false);
    first.cutSilently();
    await first.running;
    await world.primary.write(4096, fill(4096, 2), false);
    world.connect();
    await untilSynced(world.primary);
    await first.served;
    expectSameCopies(world);
  });

  it('drops a link whose peer stops answering, and goes on without it once the master records it stale', async () => {
    const clock = new SimClock();
    const outdates: number[] = [];
    const primary = new MirrorPrimary({
      store: new MemoryBlockStore(SIZE),
      generation: 1,
      peerCurrent: true,
      peerAckTimeoutMs: 6_000,
      outdatePeer: async (generation) => {
        outdates.push(generation);
        return { outcome: 'outdated', generation: generation + 1 };
      },
      peerSynced: async () => undefined,
      clock,
      log: silentLogger,
    });
    // A peer that takes the link and never answers: hung, or behind a cut nobody heard of.
    const link = linkPair();
    const running = primary.runLink(link.primary);
    let acknowledged = false;
    const write = primary.write(0, fill(4096, 5), false).then(() => (acknowledged = true));
    const turns = async () => {
      for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
    };
    await turns();
    clock.advanceBy(5_999);
    await turns();
    expect(acknowledged).toBe(false);
    expect(primary.status().connection).not.toBe('disconnected');
    clock.advanceBy(1);
    await write;
    await running;
    expect(outdates).toEqual([1]);
    expect(primary.status()).toMatchObject({
      connection: 'disconnected',
      peerOutdated: true,
      dirtyBytes: 4096,
    });
  });

  it('resends what the peer had not flushed when it loses power', async () => {
    const world = setup();
    const first = world.connect();
    await world.primary.write(0, fill(65536, 1), false);
    await world.primary.flush();
    await world.primary.write(4096, fill(4096, 2), false);
    first.cut();
    world.remote.crash();
    await first.running;
    expect(world.primary.status().dirtyBytes).toBe(4096);
    world.connect();
    await untilSynced(world.primary);
    expectSameCopies(world);
    expect(world.outdates).toEqual([]);
  });

  it('brings a peer of unknown state in line by checksums, sending only what differs', async () => {
    const world = setup({ peerCurrent: false });
    await world.local.write(0, fill(SIZE, 9));
    await world.remote.write(0, fill(SIZE, 9));
    await world.remote.write(3 * 4096, fill(4096, 1));
    await world.remote.write(SIZE - 4096, fill(4096, 1));
    world.connect();
    await untilSynced(world.primary);
    expectSameCopies(world);
    expect(world.primary.status().resyncBytesSent).toBe(2 * 4096);
    expect(world.synced).toEqual([1]);
  });

  it('after a crash, compares every granule with a peer that still counts as current, and reports nothing', async () => {
    const world = setup({ verifyAll: true });
    await world.local.write(0, fill(SIZE, 5));
    await world.remote.write(0, fill(SIZE, 5));
    await world.remote.write(8 * 4096, fill(4096, 6));
    world.connect();
    await untilSynced(world.primary);
    expectSameCopies(world);
    expect(world.primary.status()).toMatchObject({ peerOutdated: false, resyncBytesSent: 4096 });
    expect(world.synced).toEqual([]);
  });

  it('refuses all I/O once the master says another copy took over', async () => {
    const world = setup({
      outdate: async () => ({ outcome: 'deposed', reason: 'node2 is the primary now' }),
    });
    await expect(world.primary.write(0, fill(512, 1), false)).rejects.toThrow(/node2 is the primary now/);
    await expect(world.primary.read(0, 512)).rejects.toThrow(/no longer take writes/);
  });

  it('ends with identical copies whatever the interleaving of overlapping writes, cuts, secondary power losses and resyncs', async () => {
    for (let seed = 1; seed <= 60; seed++) {
      const rng = seededRng(seed);
      const random = () => rng.next();
      const world = setup({ peerCurrent: seed % 2 === 0, rng: rng.fork() });
      let link = world.connect();
      const writes: Promise<void>[] = [];
      for (let step = 0; step < 60; step++) {
        const roll = random();
        if (roll < 0.08) {
          link.cut();
          // Sometimes the secondary loses power with the link: what it had not flushed is gone.
          if (random() < 0.5) world.remote.crash();
        } else if (roll < 0.16 && world.primary.status().connection === 'disconnected')
          link = world.connect();
        else {
          const offset = Math.floor(random() * (SIZE - 70_000));
          const length = 1 + Math.floor(random() * 65_536);
          writes.push(world.primary.write(offset, fill(length, 1 + step), random() < 0.1));
        }
        if (random() < 0.3) await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(writes);
      if (world.primary.status().connection === 'disconnected') link = world.connect();
      await untilSynced(world.primary, `seed ${seed}`);
      expectSameCopies(world, `seed ${seed}`);
    }
  });
});

const MiB = 1024 * 1024;

type Linked = ReturnType<typeof linkPair> & { served: Promise<void>; running: Promise<void> };

/**
 * A primary with an activity log (1 MiB extents, `capacity` of them) over a `size` disk, linked to its
 * secondary; it can crash (its node dies, with or without a power cut) and start again on the same copy
 * and log, as a restarted daemon does.
 */
class CrashWorld {
  readonly local: MemoryBlockStore;
  readonly remote: MemoryBlockStore;
  readonly logFile = new MemoryActivityLogFile();
  readonly secondary: MirrorSecondary;
  /** Runs before each write of the primary's copy (not FUA ones): a test may hold it there. */
  beforeLocalWrite: ((offset: number) => Promise<void>) | undefined;
  primary: MirrorPrimary;
  link!: Linked;
  private death: Death = { dead: false };

  constructor(private readonly options: { size?: number; capacity?: number; rng?: Rng } = {}) {
    const size = options.size ?? 16 * MiB;
    this.local = new MemoryBlockStore(size);
    this.remote = new MemoryBlockStore(size);
    this.secondary = new MirrorSecondary(jittered(this.remote, options.rng?.fork()), async () => undefined);
    this.primary = this.start({});
  }

  /** A primary on this copy and log, as an attach makes it (the master's, or a restore's with `verifyAll`). */
  start(extra: Partial<MirrorPrimaryDeps>): MirrorPrimary {
    const { rng, capacity } = this.options;
    const store = jittered(this.local, rng?.fork(), this.death);
    return new MirrorPrimary({
      store: {
        ...store,
        write: async (offset, data) => {
          await this.beforeLocalWrite?.(offset);
          return store.write(offset, data);
        },
      },
      generation: 1,
      peerCurrent: true,
      activityLog: {
        file: jitteredLog(this.logFile, rng?.fork(), this.death),
        found: this.logFile.record(),
        extentBytes: MiB,
        ...(capacity !== undefined && { capacity }),
      },
      peerAckTimeoutMs: 60_000,
      outdatePeer: async (generation) => ({ outcome: 'outdated', generation: generation + 1 }),
      peerSynced: async () => undefined,
      clock: systemClock,
      log: silentLogger,
      ...extra,
    });
  }

  connect(): Linked {
    const link = linkPair();
    const served = this.secondary.serve(link.secondary);
    const running = this.primary.runLink(link.primary);
    this.link = { ...link, served, running };
    return this.link;
  }

  /** The node dies: what it had not done stays undone; with a power cut, what it had not flushed is lost. */
  async crash(powerCut: { primary: boolean; secondary: boolean }): Promise<void> {
    this.death.dead = true;
    this.primary.halt();
    await this.link.served;
    if (powerCut.primary) this.local.crash();
    if (powerCut.secondary) this.remote.crash();
  }

  /** The daemon starts again after a crash: it restores the disk, and links. */
  restart(extra: Partial<MirrorPrimaryDeps> = {}): Linked {
    this.death = { dead: false };
    this.primary = this.start({ verifyAll: true, ...extra });
    return this.connect();
  }
}

describe('activity log (a primary that crashes with writes in flight)', () => {
  it('sends nothing of a write to a cold extent, nor writes it here, before the log names it durably', async () => {
    const world = new CrashWorld();
    const sentWhileLogged: boolean[] = [];
    world.connect();
    const send = world.link.primary.send.bind(world.link.primary);
    world.link.primary.send = (frame) => {
      if (frame.t === 'w')
        sentWhileLogged.push(world.logFile.record()?.extents.includes(Math.floor(frame.o / MiB)) === true);
      send(frame);
    };
    world.beforeLocalWrite = async (offset) => {
      expect(world.logFile.record()?.extents).toContain(Math.floor(offset / MiB));
    };
    await world.primary.write(5 * MiB + 4096, fill(8192, 1), false);
    await world.primary.write(5 * MiB, fill(4096, 2), false);
    await world.primary.write(9 * MiB - 4096, fill(8192, 3), false);
    expect(sentWhileLogged).toEqual([true, true, true]);
    expect(world.logFile.record()?.extents).toEqual([5, 8, 9]);
  });

  it('after a crash between sending a write and doing it here, compares only the logged extents, and the primary’s copy wins', async () => {
    const world = new CrashWorld();
    world.connect();
    await world.primary.write(0, fill(16 * MiB, 4), false);
    await world.primary.flush();
    // The log is full of every extent now; a clean close would empty it, so start from a restart that did.
    await world.primary.close();
    expect(world.logFile.record()).toMatchObject({ extents: [], overflow: false });
    world.primary = world.start({});
    world.connect();
    await untilSynced(world.primary);

    // The next write reaches the secondary, and the node dies before it is done here.
    world.beforeLocalWrite = () => new Promise(() => undefined);
    void world.primary.write(7 * MiB + 8192, fill(4096, 9), false);
    for (let turn = 0; turn < 50 && world.remote.snapshot()[7 * MiB + 8192] !== 9; turn++)
      await new Promise((resolve) => setImmediate(resolve));
    expect(world.remote.snapshot()[7 * MiB + 8192]).toBe(9);
    await world.crash({ primary: false, secondary: false });
    world.beforeLocalWrite = undefined;
    expect(world.logFile.record()).toMatchObject({ extents: [7], overflow: false });

    world.restart();
    await untilSynced(world.primary);
    expectSameCopies(world);
    expect(world.remote.snapshot()[7 * MiB + 8192]).toBe(4);
    expect(world.primary.status()).toMatchObject({ resyncBytesCompared: MiB, resyncBytesSent: 4096 });
  });

  it('zeroes a range larger than the log in pieces it holds', async () => {
    const world = new CrashWorld({ capacity: 4 });
    world.connect();
    await world.primary.write(0, fill(16 * MiB, 6), false);
    await world.primary.writeZeroes(MiB / 2, 15 * MiB, false);
    expectSameCopies(world);
    expect(
      world.local
        .snapshot()
        .subarray(MiB / 2, 15 * MiB + MiB / 2)
        .every((byte) => byte === 0),
    ).toBe(true);
    expect(world.logFile.record()?.extents.length).toBeLessThanOrEqual(4);
  });

  it('records that a crash must compare the whole disk once the peer is replaced, until it is level', async () => {
    const world = new CrashWorld();
    world.connect();
    await world.primary.write(2 * MiB, fill(4096, 1), false);
    await world.primary.resetPeer(2);
    expect(world.logFile.record()).toMatchObject({ overflow: true, extents: [2] });
    world.connect();
    await untilSynced(world.primary);
    for (let turn = 0; turn < 100 && world.logFile.record()?.overflow; turn++)
      await new Promise((resolve) => setImmediate(resolve));
    expect(world.logFile.record()).toMatchObject({ overflow: false, extents: [2] });
  });

  it('compares the whole disk after a crash that left no readable log', async () => {
    const world = new CrashWorld();
    world.connect();
    await world.primary.write(3 * MiB, fill(4096, 1), false);
    await world.crash({ primary: false, secondary: false });
    world.restart({ activityLog: { file: world.logFile, found: undefined, extentBytes: MiB } });
    await untilSynced(world.primary);
    expect(world.primary.status().resyncBytesCompared).toBe(16 * MiB);
  });

  it('brings the copies level after crashes at random moments, comparing only the extents the log names', async () => {
    let limited = 0;
    const seeds = 40;
    for (let seed = 1; seed <= seeds; seed++) {
      const rng = seededRng(1000 + seed);
      const random = () => rng.next();
      const world = new CrashWorld({ size: 8 * MiB, capacity: 4, rng: rng.fork() });
      world.connect();
      const writes: Promise<void>[] = [];
      const steps = 20 + rng.int(60);
      for (let step = 0; step < steps; step++) {
        const roll = random();
        // Now and then the link breaks (the peer then misses writes, and the log may overflow).
        if (roll < 0.015) world.link.cut();
        else if (roll < 0.2 && world.primary.status().connection === 'disconnected') world.connect();
        else if (roll < 0.12) writes.push(world.primary.flush());
        else {
          // Mostly in a few hot extents, sometimes anywhere: the log fills and extents leave it.
          const base = random() < 0.7 ? rng.int(3) * MiB : rng.int(8) * MiB;
          const offset = base + Math.floor(random() * (MiB - 70_000));
          const length = 1 + Math.floor(random() * 65_536);
          writes.push(world.primary.write(offset, fill(length, 1 + (step % 250)), random() < 0.1));
        }
        if (random() < 0.3) await new Promise((resolve) => setImmediate(resolve));
      }
      // The crash comes with writes still in flight (those not awaited here never finish).
      for (let turn = rng.int(6); turn > 0; turn--) await new Promise((resolve) => setImmediate(resolve));
      for (const write of writes) write.catch(() => undefined);
      const powerCut = { primary: random() < 0.4, secondary: random() < 0.3 };
      await world.crash(powerCut);
      const record = world.logFile.record();
      const primaryCopy = Buffer.from(world.local.snapshot());

      world.restart();
      await untilSynced(world.primary, `seed ${seed}`);
      expectSameCopies(world, `seed ${seed}`);
      expect(Buffer.from(world.remote.snapshot()).equals(primaryCopy), `seed ${seed}: the primary wins`).toBe(
        true,
      );
      const compared = world.primary.status().resyncBytesCompared;
      if (record !== undefined && !record.overflow) {
        expect(compared, `seed ${seed}`).toBe(record.extents.length * MiB);
        limited++;
      } else expect(compared, `seed ${seed}`).toBe(8 * MiB);
    }
    expect(limited).toBeGreaterThan(seeds / 2);
  });

  it('compares a small share of a large disk after a crash with writes in flight', async () => {
    const size = 128 * MiB;
    const world = new CrashWorld({ size });
    world.connect();
    // A guest that wrote here and there, then a burst in flight at the crash.
    for (const at of [1, 40, 41, 100]) await world.primary.write(at * MiB, fill(65_536, 3), false);
    await world.primary.flush();
    world.beforeLocalWrite = () => new Promise(() => undefined);
    for (const at of [41, 120]) void world.primary.write(at * MiB + 8192, fill(4096, 7), false);
    await new Promise((resolve) => setTimeout(resolve, 10));
    await world.crash({ primary: false, secondary: false });
    world.beforeLocalWrite = undefined;

    world.restart();
    await untilSynced(world.primary);
    expectSameCopies(world);
    const { resyncBytesCompared, resyncBytesSent } = world.primary.status();
    expect(world.logFile.record()?.extents).toEqual([1, 40, 41, 100, 120]);
    expect(resyncBytesCompared).toBe(5 * MiB);
    expect(resyncBytesSent).toBeLessThanOrEqual(2 * 4096);
  });
});
