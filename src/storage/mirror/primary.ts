import {
  MIRROR_GRANULE_BYTES,
  MIRROR_HASH_BYTES,
  MIRROR_MAX_WRITE_BYTES,
  type ToPrimary,
  type ToSecondary,
} from '../../cluster/mirror-protocol.js';
import { type Clock, pause, type Timer } from '../../common/clock.js';
import { CorralError } from '../../common/errors.js';
import { invariant } from '../../common/invariant.js';
import type { Logger } from '../../common/log.js';
import {
  ActivityLog,
  type ActivityLogFile,
  type ActivityRecord,
  AL_EXTENT_BYTES,
  usableRecord,
} from './activity-log.js';
import type { BlockStore } from './block-store.js';
import { DirtyBitmap, type DirtyRun } from './dirty-bitmap.js';
import { granuleHashes, sameGranule } from './granule-hashes.js';
import { RangeLocks } from './range-locks.js';

/** The primary's end of one replication link: frames to the secondary, and its answers in order. */
export interface PrimaryLink {
  send(frame: ToSecondary): void;
  readonly replies: AsyncIterable<ToPrimary>;
  close(reason: Error): void;
}

/** The master's answer when the primary asks it to record the peer's copy as stale. */
export type OutdateAnswer =
  | { readonly outcome: 'outdated'; readonly generation: number }
  /** The config names another primary, or a newer generation: this copy must take no more writes. */
  | { readonly outcome: 'deposed'; readonly reason: string };

export interface MirrorPrimaryDeps {
  readonly store: BlockStore;
  /** The generation the config gives the disk. */
  readonly generation: number;
  /**
   * Whether the config holds the peer's copy as current. When it does not, the first connection brings a
   * checksummed resync of the whole disk, which sends only the granules that differ.
   */
  readonly peerCurrent: boolean;
  /**
   * Whether the copies may differ where writes were in flight when this node last stopped (a crash): the
   * first link then compares by checksums, though the peer still counts as current, the extents the activity
   * log names if it has a usable one, else the whole disk.
   */
  readonly verifyAll?: boolean;
  /**
   * The disk's activity log (DRBD's AL): the extents writes may be in flight in, recorded durably before
   * any of them goes out, so that a crash brings a comparison of those extents only. Without one, a crash
   * brings a comparison of the whole disk.
   */
  readonly activityLog?: {
    readonly file: ActivityLogFile;
    /** What the file held when the disk was attached (undefined: missing or unreadable). */
    readonly found: ActivityRecord | undefined;
    /** The tests' geometry; 4 MiB extents and as many as a 4 KiB record holds by default. */
    readonly extentBytes?: number;
    readonly capacity?: number;
  };
  /**
   * How long writes wait for the first link after the disk is attached before the peer is given up (DRBD's
   * wfc-timeout): a daemon that restarts links again within it, without degrading its mirror. 0 by default.
   */
  readonly firstLinkGraceMs?: number;
  /**
   * How long the peer may leave a frame unanswered before the link is dropped (DRBD's timeout × ko-count): a
   * hung peer, or one behind a cut that neither side heard of, must not hold the guest's writes for ever.
   */
  readonly peerAckTimeoutMs: number;
  /**
   * Asks the master to record the peer's copy as stale (a newer generation held by this node alone). Writes
   * that could not reach the peer are acknowledged only once it answers: DRBD's resource fencing, which
   * keeps a failover from ever starting the guest on a copy that misses an acknowledged write.
   */
  outdatePeer(generation: number): Promise<OutdateAnswer>;
  /** Tells the master the peer holds a current copy again (a resync ended) at this generation. */
  peerSynced(generation: number): Promise<void>;
  readonly clock: Clock;
  readonly log: Logger;
}

export type PrimaryConnection = 'connected' | 'syncing' | 'disconnected';

export interface PrimaryStatus {
  readonly connection: PrimaryConnection;
  /** The peer's copy may miss acknowledged writes, and the config says so. */
  readonly peerOutdated: boolean;
  readonly generation: number;
  readonly dirtyBytes: number;
  /** How much of the disk the peer holds as it is here, in percent. */
  readonly syncPercent: number;
  /** Bytes sent to the peer by resyncs since this disk was attached. */
  readonly resyncBytesSent: number;
  /** Bytes compared by checksums with the peer's copy (read on both nodes) since this disk was attached. */
  readonly resyncBytesCompared: number;
  readonly failed?: string;
}

type Outcome = 'done' | 'lost';

interface Pending {
  readonly seq: number;
  readonly sentAtMs: number;
  /** What the peer may miss if the link breaks before the answer. */
  readonly range: DirtyRun | undefined;
  readonly settle: (reply: ToPrimary | undefined) => void;
}

interface ActiveLink {
  readonly link: PrimaryLink;
  readonly pending: Pending[];
  /**
   * The ranges written on the peer since the flushes it has confirmed, oldest epoch first (DRBD's transfer
   * log): a peer that loses power loses them, so a broken link marks them dirty too.
   */
  epochs: DirtyRun[][];
  nextSeq: number;
  /** Armed while frames wait for answers: it drops a link whose peer stopped answering. */
  ackTimer: Timer | undefined;
}

/** Resync copies in flight at once: enough to hide the link's round trip. */
const RESYNC_WINDOW = 8;
const RESYNC_CHUNK_BYTES = MIRROR_MAX_WRITE_BYTES;
/** Writes the peer holds unflushed before the primary asks it for a flush, which bounds what a link keeps. */
const MAX_EPOCH_RANGES = 4096;
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5_000;
/** Extents one zeroing frame covers at most, with an activity log: it must hold all those of a frame at once. */
const ZERO_EXTENTS = 16;

/**
 * The primary side of one mirrored disk (DRBD's protocol C): every write goes to the local copy and to the
 * peer, and is acknowledged once both hold it; reads are local. When the peer cannot be reached, the master
 * is first told to record its copy as stale, then writes go on here alone and the granules they touch are
 * tracked, so that the peer's return resyncs only those. A peer of unknown state is brought in line by a
 * checksummed pass that sends only the granules that differ.
 */
export class MirrorPrimary {
  private readonly bitmap: DirtyBitmap;
  private readonly locks = new RangeLocks();
  private active: ActiveLink | undefined;
  private generation: number;
  private peerOutdated: boolean;
  /** The current resync compares checksums before sending (the peer's copy is of unknown state). */
  private verifying: boolean;
  private degrading: Promise<void> | undefined;
  private failed: CorralError | undefined;
  private closed = false;
  private resyncBytesSent = 0;
  private resyncBytesCompared = 0;
  private readonly activity: ActivityLog | undefined;
  private readonly attachedAtMs: number;
  /** Whether a link has come up since the disk was attached. */
  private linked = false;
  private readonly linkWaiters: (() => void)[] = [];
  /** The resync of the previous link: the next waits for it, so that one runs at a time. */
  private resyncDone: Promise<void> = Promise.resolve();

  constructor(private readonly deps: MirrorPrimaryDeps) {
    this.bitmap = new DirtyBitmap(deps.store.sizeBytes, MIRROR_GRANULE_BYTES);
    this.generation = deps.generation;
    this.attachedAtMs = deps.clock.monotonicMs();
    this.peerOutdated = !deps.peerCurrent;
    this.verifying = !deps.peerCurrent || deps.verifyAll === true;
    this.activity = this.openActivityLog();
    if (this.activity === undefined && this.verifying) this.bitmap.markAll();
  }

  /**
   * Starts the activity log from what its file held. A peer of unknown state, a log that overflowed, and a
   * crash that left no readable log bring a comparison of the whole disk (and a log that says so until it
   * ends); a crash that left a log brings one of the extents it names, which stay in the log until then.
   */
  private openActivityLog(): ActivityLog | undefined {
    const given = this.deps.activityLog;
    if (given === undefined) return undefined;
    const extentBytes = given.extentBytes ?? AL_EXTENT_BYTES;
    const found = usableRecord(given.found, this.sizeBytes, extentBytes, given.capacity);
    let extents: readonly number[] = [];
    let overflow = false;
    if (!this.deps.peerCurrent || found?.overflow === true || (this.verifying && found === undefined)) {
      this.bitmap.markAll();
      this.verifying = true;
      overflow = true;
      if (this.deps.peerCurrent)
        this.deps.log.info({}, 'no usable activity log: comparing the whole disk with the mirror peer');
    } else if (found !== undefined && found.extents.length > 0) {
      extents = found.extents;
      for (const extent of extents) {
        const offset = extent * extentBytes;
        this.bitmap.mark(offset, Math.min(extentBytes, this.sizeBytes - offset));
      }
      this.verifying = true;
      this.deps.log.info(
        { extents: extents.length, bytes: this.bitmap.dirtyBytes },
        'comparing the extents the activity log names with the mirror peer',
      );
    } else this.verifying = false;
    return new ActivityLog({
      file: given.file,
      sizeBytes: this.sizeBytes,
      extentBytes,
      ...(given.capacity !== undefined && { capacity: given.capacity }),
      lastSeq: given.found?.seq ?? 0,
      extents,
      overflow,
      barrier: () => this.logBarrier(),
    });
  }

  /**
   * What an extent leaving the activity log needs first: every write done so far durable here and on the
   * peer. True when the peer then holds all this copy holds outside the log (no dirty granule).
   */
  private async logBarrier(): Promise<boolean> {
    const remote = this.toPeer(undefined, (s) => ({ t: 'f', s }));
    await this.deps.store.flush();
    return (await remote) === 'done' && this.bitmap.isClean();
  }

  get sizeBytes(): number {
    return this.deps.store.sizeBytes;
  }

  /**
   * Resolves once the activity log's first record is durable: from then on a crash finds what this
   * attachment starts from (a peer of unknown state, say), not what an earlier one left.
   */
  logged(): Promise<void> {
    return this.activity?.started ?? Promise.resolve();
  }

  status(): PrimaryStatus {
    const size = Math.max(this.sizeBytes, 1);
    return {
      connection:
        this.active === undefined ? 'disconnected' : this.bitmap.isClean() ? 'connected' : 'syncing',
      peerOutdated: this.peerOutdated,
      generation: this.generation,
      dirtyBytes: Math.min(this.bitmap.dirtyBytes, this.sizeBytes),
      syncPercent: Math.floor((1000 * (size - Math.min(this.bitmap.dirtyBytes, size))) / size) / 10,
      resyncBytesSent: this.resyncBytesSent,
      resyncBytesCompared: this.resyncBytesCompared,
      ...(this.failed !== undefined && { failed: this.failed.message }),
    };
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.checkUsable(offset, length);
    return this.deps.store.read(offset, length);
  }

  async write(offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    this.checkUsable(offset, data.byteLength);
    const parts: Promise<void>[] = [];
    for (let at = 0; at < data.byteLength; at += MIRROR_MAX_WRITE_BYTES) {
      const part = data.subarray(at, at + MIRROR_MAX_WRITE_BYTES);
      parts.push(
        this.mirrored(
          { offset: offset + at, length: part.byteLength },
          (s) => ({ t: 'w', s, o: offset + at, d: part, fua }),
          () => this.localWrite(offset + at, part, fua),
        ),
      );
    }
    await Promise.all(parts);
  }

  async writeZeroes(offset: number, length: number, fua: boolean): Promise<void> {
    this.checkUsable(offset, length);
    const zeroes = (start: number, n: number) =>
      this.mirrored(
        { offset: start, length: n },
        (s) => ({ t: 'z', s, o: start, n, fua }),
        async () => {
          await this.deps.store.writeZeroes(start, n);
          if (fua) await this.deps.store.flush();
        },
      );
    if (this.activity === undefined) return zeroes(offset, length);
    // With a log, in pieces it can hold, cut at extent boundaries.
    const piece = this.activity.extentBytes * Math.min(ZERO_EXTENTS, this.activity.capacity);
    const parts: Promise<void>[] = [];
    for (let at = offset; at < offset + length; ) {
      const end = Math.min(offset + length, (Math.floor(at / piece) + 1) * piece);
      parts.push(zeroes(at, end - at));
      at = end;
    }
    await Promise.all(parts);
  }

  async flush(): Promise<void> {
    this.checkUsable(0, 0);
    await this.firstLink();
    const remote = this.toPeer(undefined, (s) => ({ t: 'f', s }));
    await this.deps.store.flush();
    if ((await remote) === 'lost') await this.peerMustBeOutdated();
  }

  /**
   * Carries one connection to the peer until it breaks; the caller reconnects. Whatever was in flight when
   * it broke is marked dirty before any of it is acknowledged.
   */
  async runLink(link: PrimaryLink): Promise<void> {
    invariant(this.active === undefined, () => 'a mirrored disk has one link at a time');
    if (this.closed || this.failed !== undefined) {
      link.close(new CorralError('closed', 'the disk is detached'));
      return;
    }
    const active: ActiveLink = { link, pending: [], epochs: [[]], nextSeq: 0, ackTimer: undefined };
    this.active = active;
    this.linked = true;
    for (const wake of this.linkWaiters.splice(0)) wake();
    this.resyncDone = this.resyncDone.then(() => this.resync(active));
    try {
      for await (const reply of link.replies) {
        const pending = active.pending.shift();
        invariant(
          pending !== undefined && pending.seq === reply.s,
          () => `the peer answered ${reply.s}, expected ${pending?.seq ?? 'nothing'}`,
        );
        if (reply.t === 'e') {
          this.deps.log.warn({ reason: reply.m }, 'the mirror peer refused a write; going on without it');
          pending.settle(undefined);
          break;
        }
        pending.settle(reply);
        if (active.ackTimer !== undefined && active.pending[0] !== undefined) {
          active.ackTimer.cancel();
          active.ackTimer = undefined;
          this.watchAnswers(active);
        }
      }
    } catch (error) {
      this.deps.log.info({ reason: (error as Error).message }, 'the mirror link broke');
    } finally {
      this.breakLink(active);
    }
  }

  /**
   * The peer's copy is now another one (a new secondary, or one made anew), which the config already holds
   * as stale at `generation`: the link to the old one is dropped, and the next link brings the new one level
   * by a checksummed pass over the whole disk.
   */
  resetPeer(generation: number): Promise<void> {
    this.generation = generation;
    this.peerOutdated = true;
    this.verifying = true;
    this.bitmap.markAll();
    // Resolves once the activity log says, durably, that a crash must compare the whole disk.
    const recorded = this.activity?.markOverflow().catch(() => undefined) ?? Promise.resolve();
    this.active?.link.close(new CorralError('closed', 'the mirror peer was replaced'));
    return recorded;
  }

  /**
   * The config holds the peer's copy stale at `generation`, where this primary held it current or at an
   * older generation (it restarted and lost an outdate's answer). Nothing to copy beyond what the bitmap
   * says: every write acknowledged since this primary started reached the peer or is marked dirty, and one
   * that restarted after a crash compares every granule anyway. The next resync then reports the copy
   * current again.
   */
  peerIsStale(generation: number): void {
    this.generation = Math.max(this.generation, generation);
    this.peerOutdated = true;
    const active = this.active;
    if (active !== undefined) this.resyncDone = this.resyncDone.then(() => this.resync(active));
  }

  /** The node died with this disk attached (the simulator's crash): everything stops, nothing is flushed. */
  halt(): void {
    this.closed = true;
    this.activity?.halt();
    this.active?.link.close(new CorralError('closed', 'the node died'));
  }

  /**
   * Detaches: the last writes reach the peer's disk durably when it is connected. Later calls fail, and
   * the link is closed.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    let flushed = false;
    if (this.active !== undefined && this.failed === undefined) {
      const outcome = await this.toPeer(undefined, (s) => ({ t: 'f', s }));
      if (outcome === 'lost') this.deps.log.info({}, 'the mirror peer left before the final flush');
      flushed = outcome === 'done';
    }
    this.closed = true;
    this.active?.link.close(new CorralError('closed', 'the disk is detached'));
    await this.deps.store.flush();
    // Both copies level and durable: the next attachment has nothing to compare.
    await this.activity?.close(flushed && !this.verifying && this.bitmap.isClean());
  }

  private checkUsable(offset: number, length: number): void {
    if (this.failed !== undefined) throw this.failed;
    if (this.closed) throw new CorralError('closed', 'the disk is detached from this node');
    if (offset < 0 || length < 0 || offset + length > this.sizeBytes)
      throw new CorralError(
        'bad_request',
        `range ${offset}+${length} is outside the disk (${this.sizeBytes} bytes)`,
      );
  }

  private async localWrite(offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    await (fua ? this.deps.store.writeDurably(offset, data) : this.deps.store.write(offset, data));
  }

  /**
   * One write: sent to the peer and done here under the range's lock (so overlapping writes reach both
   * copies in one order), acknowledged when both are done, or when the peer is recorded stale.
   */
  private async mirrored(
    range: DirtyRun,
    frame: (seq: number) => ToSecondary,
    local: () => Promise<void>,
  ): Promise<void> {
    const release = await this.locks.acquire(range.offset, range.length);
    let remote: Promise<Outcome>;
    const log = this.activity;
    try {
      await this.firstLink();
      // A cold extent is recorded in the log before the write goes anywhere; a hot one costs a lookup.
      const logging = log?.begin(range.offset, range.length);
      if (logging !== undefined) await logging;
    } catch (error) {
      release();
      throw error;
    }
    try {
      remote = this.toPeer(range, frame);
      await local();
    } catch (error) {
      // The extents stay held until the peer's answer too: the write may still land there.
      void remote!.then(() => log?.end(range.offset, range.length));
      throw error;
    } finally {
      release();
    }
    const outcome = await remote;
    log?.end(range.offset, range.length);
    if (outcome === 'lost') await this.peerMustBeOutdated();
  }

  /** Waits, within the grace after attaching, for the first link, unless the peer is known stale. */
  private async firstLink(): Promise<void> {
    if (this.linked || this.peerOutdated) return;
    const leftMs = (this.deps.firstLinkGraceMs ?? 0) - (this.deps.clock.monotonicMs() - this.attachedAtMs);
    if (leftMs <= 0) return;
    await new Promise<void>((resolve) => {
      const timer = this.deps.clock.setTimer(leftMs, resolve);
      this.linkWaiters.push(() => {
        timer.cancel();
        resolve();
      });
    });
  }

  /** Sends a frame when a link is up; 'lost' (with the range marked dirty) when there is none or it broke. */
  private toPeer(
    range: DirtyRun | undefined,
    frame: (seq: number) => ToSecondary,
    via?: ActiveLink,
  ): Promise<Outcome> {
    return this.exchange(range, frame, via).then((reply) => (reply === undefined ? 'lost' : 'done'));
  }

  /**
   * Sends a frame on the current link and resolves to its answer; undefined when there is no link, when the
   * link breaks first, or when `via` (a resync's own link) is no longer the current one.
   */
  private exchange(
    range: DirtyRun | undefined,
    frame: (seq: number) => ToSecondary,
    via?: ActiveLink,
  ): Promise<ToPrimary | undefined> {
    const active = this.active;
    if (active === undefined || (via !== undefined && via !== active)) {
      if (range !== undefined) this.bitmap.mark(range.offset, range.length);
      return Promise.resolve(undefined);
    }
    const sent = frame(active.nextSeq++);
    const open = active.epochs.at(-1)!;
    if (range !== undefined && (sent.t === 'w' || sent.t === 'z') && !sent.fua) open.push(range);
    // A flush, or the flush that comes with recording a consistent copy, makes the open epoch durable there.
    const closes = sent.t === 'f' || sent.t === 'c' ? open : undefined;
    if (closes !== undefined) active.epochs.push([]);
    const answered = new Promise<ToPrimary | undefined>((settle) => {
      active.pending.push({
        seq: sent.s,
        sentAtMs: this.deps.clock.monotonicMs(),
        range,
        settle: (reply) => {
          if (reply !== undefined && closes !== undefined)
            active.epochs.splice(0, active.epochs.indexOf(closes) + 1);
          settle(reply);
        },
      });
    });
    active.link.send(sent);
    this.watchAnswers(active);
    if (open.length >= MAX_EPOCH_RANGES && closes === undefined)
      void this.exchange(undefined, (s) => ({ t: 'f', s }));
    return answered;
  }

  /** Keeps a timer on the oldest unanswered frame; when it has waited too long the link is dropped. */
  private watchAnswers(active: ActiveLink): void {
    if (active.ackTimer !== undefined) return;
    const oldest = active.pending[0];
    if (oldest === undefined || this.active !== active) return;
    const { clock, peerAckTimeoutMs } = this.deps;
    // At least a millisecond: a timer may fire a hair early on a clock finer than its own.
    const leftMs = Math.max(1, oldest.sentAtMs + peerAckTimeoutMs - clock.monotonicMs());
    active.ackTimer = clock.setTimer(leftMs, () => {
      active.ackTimer = undefined;
      const waiting = active.pending[0];
      if (waiting === undefined || this.active !== active) return;
      if (clock.monotonicMs() - waiting.sentAtMs < peerAckTimeoutMs) return this.watchAnswers(active);
      this.deps.log.warn(
        { waitedMs: Math.round(clock.monotonicMs() - waiting.sentAtMs) },
        'the mirror peer stopped answering; dropping the link',
      );
      active.link.close(
        new CorralError('timeout', `the mirror peer did not answer within ${peerAckTimeoutMs} ms`),
      );
      this.breakLink(active);
    });
  }

  private breakLink(active: ActiveLink): void {
    if (this.active !== active) return;
    active.ackTimer?.cancel();
    this.active = undefined;
    for (const epoch of active.epochs)
      for (const range of epoch) this.bitmap.mark(range.offset, range.length);
    active.epochs = [[]];
    for (const pending of active.pending.splice(0)) {
      if (pending.range !== undefined) this.bitmap.mark(pending.range.offset, pending.range.length);
      pending.settle(undefined);
    }
    active.link.close(new CorralError('closed', 'the mirror link broke'));
  }

  /** Resolves once the config holds the peer's copy as stale; until then the write that needs it waits. */
  private async peerMustBeOutdated(): Promise<void> {
    if (this.peerOutdated) return;
    this.degrading ??= this.askOutdate().finally(() => {
      this.degrading = undefined;
    });
    await this.degrading;
    if (this.failed !== undefined) throw this.failed;
  }

  private async askOutdate(): Promise<void> {
    let delayMs = RETRY_MIN_MS;
    while (!this.closed) {
      try {
        const answer = await this.deps.outdatePeer(this.generation);
        if (answer.outcome === 'deposed') {
          this.failed = new CorralError('conflict', `this copy may no longer take writes: ${answer.reason}`);
          this.deps.log.error({ reason: answer.reason }, 'the mirrored disk was deposed; refusing its I/O');
          return;
        }
        this.generation = answer.generation;
        this.peerOutdated = true;
        this.deps.log.warn(
          { generation: answer.generation },
          'the mirror peer is outdated; running degraded',
        );
        // A link that came up while the master was out of reach ran its resync then: it brought the peer
        // level but did not mark it consistent, since the peer was not outdated yet, and only a new link
        // would resync again. Finish on this one, or the peer stays stale while connected and in sync
        // (found by the master simulation, seeds 13 and 40).
        const active = this.active;
        if (active !== undefined) this.resyncDone = this.resyncDone.then(() => this.resync(active));
        return;
      } catch (error) {
        this.deps.log.warn(
          { reason: (error as Error).message },
          'cannot record the mirror peer as outdated; holding writes',
        );
        await pause(this.deps.clock, delayMs);
        delayMs = Math.min(delayMs * 2, RETRY_MAX_MS);
      }
    }
    this.failed = new CorralError('closed', 'the disk was detached while its peer could not be outdated');
  }

  /** Brings the peer's copy in line over this link, then tells the master it is current again. */
  private async resync(active: ActiveLink): Promise<void> {
    try {
      if (!this.bitmap.isClean()) {
        if (
          (await this.toPeer(undefined, (s) => ({ t: 'c', s, g: this.generation, consistent: false }))) ===
          'lost'
        )
          return;
        const [compared, sent] = [this.resyncBytesCompared, this.resyncBytesSent];
        await this.copyDirty(active);
        if (this.active === active && this.bitmap.isClean())
          this.deps.log.info(
            { comparedBytes: this.resyncBytesCompared - compared, sentBytes: this.resyncBytesSent - sent },
            'the mirror resync pass ended',
          );
      }
      if (this.active !== active || !this.bitmap.isClean()) return;
      this.verifying = false;
      // The peer holds all this copy does: a log that overflowed may say so again.
      void this.activity?.settled().catch(() => undefined);
      if (!this.peerOutdated) return;
      if (
        (await this.toPeer(undefined, (s) => ({ t: 'c', s, g: this.generation, consistent: true }))) ===
        'lost'
      )
        return;
      // From here on a write the peer misses needs the master again, whatever becomes of this call: the
      // master ignores a report of a generation older than its own.
      this.peerOutdated = false;
      await this.reportSynced(active);
    } catch (error) {
      if (this.active === active) active.link.close(error as Error);
    }
  }

  private async reportSynced(active: ActiveLink): Promise<void> {
    let delayMs = RETRY_MIN_MS;
    const generation = this.generation;
    while (this.active === active && !this.peerOutdated && this.generation === generation) {
      try {
        await this.deps.peerSynced(generation);
        this.deps.log.info({ generation, sentBytes: this.resyncBytesSent }, 'the mirror peer is in sync');
        return;
      } catch (error) {
        this.deps.log.warn(
          { reason: (error as Error).message },
          'cannot report the mirror peer in sync; retrying',
        );
        await pause(this.deps.clock, delayMs);
        delayMs = Math.min(delayMs * 2, RETRY_MAX_MS);
      }
    }
  }

  /** Passes over the dirty runs, a window of them at a time, until none is left or the link breaks. */
  private async copyDirty(active: ActiveLink): Promise<void> {
    while (this.active === active && !this.closed && !this.bitmap.isClean()) {
      const inFlight = new Set<Promise<void>>();
      let run = this.bitmap.nextRun(0, RESYNC_CHUNK_BYTES);
      while (run !== undefined && this.active === active) {
        const step: Promise<void> = this.copyRun(active, run).finally(() => inFlight.delete(step));
        inFlight.add(step);
        if (inFlight.size >= RESYNC_WINDOW) await Promise.race(inFlight);
        run = this.bitmap.nextRun(run.offset + run.length, RESYNC_CHUNK_BYTES);
      }
      await Promise.all(inFlight);
    }
  }

  /** Copies one dirty run under its lock; its granules are clean once the peer has them. */
  private async copyRun(active: ActiveLink, run: DirtyRun): Promise<void> {
    const release = await this.locks.acquire(run.offset, run.length);
    let sends: Promise<void>[];
    try {
      const data = await this.deps.store.read(run.offset, run.length);
      sends = this.verifying
        ? await this.copyDiffering(active, run, data)
        : [this.sendCopy(active, run.offset, data)];
    } finally {
      release();
    }
    await Promise.all(sends);
  }

  /** Asks the peer for its checksums of the run, and sends the granules that differ; the others are clean. */
  private async copyDiffering(active: ActiveLink, run: DirtyRun, data: Uint8Array): Promise<Promise<void>[]> {
    const theirs = await this.exchange(
      undefined,
      (s) => ({ t: 'h', s, o: run.offset, n: run.length }),
      active,
    );
    if (theirs?.t !== 'H') return [];
    this.resyncBytesCompared += run.length;
    const ours = granuleHashes(data, MIRROR_GRANULE_BYTES);
    const granules = ours.byteLength / MIRROR_HASH_BYTES;
    const sends: Promise<void>[] = [];
    let differ = -1;
    for (let index = 0; index <= granules; index++) {
      const same = index === granules || sameGranule(ours, theirs.h, index);
      if (!same && differ < 0) differ = index;
      if (same && differ >= 0) {
        const start = differ * MIRROR_GRANULE_BYTES;
        sends.push(
          this.sendCopy(active, run.offset + start, data.subarray(start, index * MIRROR_GRANULE_BYTES)),
        );
        differ = -1;
      }
      if (same && index < granules)
        this.bitmap.clearCovered(run.offset + index * MIRROR_GRANULE_BYTES, MIRROR_GRANULE_BYTES);
    }
    return sends;
  }

  private async sendCopy(active: ActiveLink, offset: number, data: Uint8Array): Promise<void> {
    const range = { offset, length: data.byteLength };
    this.resyncBytesSent += data.byteLength;
    if ((await this.toPeer(range, (s) => ({ t: 'w', s, o: offset, d: data, fua: false }), active)) === 'done')
      this.bitmap.clearCovered(offset, data.byteLength);
  }
}
