import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, mkdir, open, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CorralError } from '../../common/errors.js';
import { invariant } from '../../common/invariant.js';

/**
 * The unit the activity log tracks, as DRBD's: a write to a cold extent costs one small durable write of
 * the log first, and a primary's crash brings a comparison of each extent the log names.
 */
export const AL_EXTENT_BYTES = 4 * 1024 * 1024;
/** Each record is written whole into one of two slots of this size, alternately (a torn write spares the other). */
export const AL_SLOT_BYTES = 4096;
const MAGIC = 0x314c4143; // "CAL1", little-endian
const HEADER_BYTES = 24;
const HASH_BYTES = 16;
/**
 * Active extents at most: as many as one 4 KiB record holds (1014, about 4 GiB with 4 MiB extents; DRBD's
 * default al-extents is 1237). A record then stays one page, written with one O_DSYNC write.
 */
export const AL_MAX_EXTENTS = (AL_SLOT_BYTES - HEADER_BYTES - HASH_BYTES) / 4;
/** What leaves the log at once when it is full: the barrier that eviction needs is paid once per batch. */
const EVICT_BATCH_SHARE = 32;

/** Where the log is kept: a small file written durably, read back after a crash. */
export interface ActivityLogFile {
  /** The file's bytes, or undefined when there is none. */
  read(): Promise<Uint8Array | undefined>;
  /** Writes at `offset`, durable once it resolves (the file is created, durably, on the first write). */
  writeDurably(offset: number, data: Uint8Array): Promise<void>;
  close(): Promise<void>;
  /** Deletes the file. */
  remove(): Promise<void>;
}

/** One state of the log, as written in a slot. */
export interface ActivityRecord {
  /** Each write of the log counts one up; the slot is `seq % 2`, and the highest valid one is the state. */
  readonly seq: number;
  /**
   * The copies may also differ outside the extents named (the log dropped extents while the peer was
   * missing writes, or the peer's copy is of unknown state): only a comparison of the whole disk brings
   * them level after a crash.
   */
  readonly overflow: boolean;
  readonly extentBytes: number;
  /** The active extents, by index (offset / extentBytes), ascending. */
  readonly extents: readonly number[];
}

export function encodeActivityRecord(record: ActivityRecord): Uint8Array {
  invariant(
    record.extents.length <= AL_MAX_EXTENTS,
    () => `${record.extents.length} extents do not fit a record`,
  );
  const body = HEADER_BYTES + 4 * record.extents.length;
  const out = Buffer.alloc(body + HASH_BYTES);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(record.overflow ? 1 : 0, 4);
  out.writeBigUInt64LE(BigInt(record.seq), 8);
  out.writeUInt32LE(record.extentBytes, 16);
  out.writeUInt32LE(record.extents.length, 20);
  for (const [index, extent] of record.extents.entries()) out.writeUInt32LE(extent, HEADER_BYTES + 4 * index);
  out.set(digest(out.subarray(0, body)), body);
  return out;
}

/** The newest valid record in a log file's bytes; undefined when neither slot holds one (torn, or never written). */
export function decodeActivityLog(bytes: Uint8Array): ActivityRecord | undefined {
  let best: ActivityRecord | undefined;
  for (let slot = 0; slot < 2; slot++) {
    const record = decodeSlot(bytes.subarray(slot * AL_SLOT_BYTES, (slot + 1) * AL_SLOT_BYTES));
    if (record !== undefined && record.seq % 2 === slot && (best === undefined || record.seq > best.seq))
      best = record;
  }
  return best;
}

function decodeSlot(slot: Uint8Array): ActivityRecord | undefined {
  if (slot.byteLength < HEADER_BYTES + HASH_BYTES) return undefined;
  const view = Buffer.from(slot.buffer, slot.byteOffset, slot.byteLength);
  if (view.readUInt32LE(0) !== MAGIC) return undefined;
  const flags = view.readUInt32LE(4);
  const count = view.readUInt32LE(20);
  if (flags > 1 || count > AL_MAX_EXTENTS) return undefined;
  const body = HEADER_BYTES + 4 * count;
  if (!Buffer.from(digest(view.subarray(0, body))).equals(view.subarray(body, body + HASH_BYTES)))
    return undefined;
  const extents: number[] = [];
  for (let index = 0; index < count; index++) extents.push(view.readUInt32LE(HEADER_BYTES + 4 * index));
  return {
    seq: Number(view.readBigUInt64LE(8)),
    overflow: flags === 1,
    extentBytes: view.readUInt32LE(16),
    extents,
  };
}

function digest(bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest().subarray(0, HASH_BYTES);
}

/**
 * The record if it fits this disk and log (the same extent size, every extent inside the disk, no more than
 * the log holds); undefined when it does not, which counts as no log at all.
 */
export function usableRecord(
  record: ActivityRecord | undefined,
  sizeBytes: number,
  extentBytes: number,
  capacity = AL_MAX_EXTENTS,
): ActivityRecord | undefined {
  if (record === undefined || record.extentBytes !== extentBytes) return undefined;
  if (record.extents.length > Math.min(capacity, AL_MAX_EXTENTS)) return undefined;
  const extents = Math.ceil(sizeBytes / extentBytes);
  return record.extents.every((extent) => extent < extents) ? record : undefined;
}

/** Reads a log back: its newest valid record, or undefined when the file is missing or unreadable. */
export async function readActivityLog(file: ActivityLogFile): Promise<ActivityRecord | undefined> {
  try {
    const bytes = await file.read();
    return bytes === undefined ? undefined : decodeActivityLog(bytes);
  } catch {
    return undefined;
  }
}

/** The log as a file of two 4 KiB slots, written through an O_DSYNC descriptor: one system call per record. */
export function activityLogFile(path: string): ActivityLogFile {
  let handle: Promise<FileHandle> | undefined;
  const opened = () => {
    handle ??= (async () => {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      const file = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_DSYNC, 0o600);
      // The file's name must outlive a crash too, or the log read back would be missing.
      const dir = await open(dirname(path), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
      return file;
    })();
    return handle;
  };
  const close = async () => {
    const file = handle;
    handle = undefined;
    await (await file?.catch(() => undefined))?.close();
  };
  return {
    async read() {
      try {
        return await readFile(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    async writeDurably(offset, data) {
      const file = await opened();
      let done = 0;
      while (done < data.byteLength) {
        const { bytesWritten } = await file.write(data, done, data.byteLength - done, offset + done);
        done += bytesWritten;
      }
    },
    close,
    async remove() {
      await close();
      await rm(path, { force: true });
    },
  };
}

/** A log held in memory, for the tests and the simulator: what it holds survives the engine that wrote it. */
export class MemoryActivityLogFile implements ActivityLogFile {
  bytes: Uint8Array | undefined;
  /** Durable writes done, to count what the log cost. */
  writes = 0;

  async read(): Promise<Uint8Array | undefined> {
    return this.bytes?.slice();
  }

  async writeDurably(offset: number, data: Uint8Array): Promise<void> {
    const end = offset + data.byteLength;
    if (this.bytes === undefined || this.bytes.byteLength < end) {
      const grown = new Uint8Array(Math.max(end, 2 * AL_SLOT_BYTES));
      if (this.bytes !== undefined) grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes.set(data, offset);
    this.writes++;
  }

  async close(): Promise<void> {}

  async remove(): Promise<void> {
    this.bytes = undefined;
  }

  /** The record the log holds now, as a restart would read it. */
  record(): ActivityRecord | undefined {
    return this.bytes === undefined ? undefined : decodeActivityLog(this.bytes);
  }
}

export interface ActivityLogOptions {
  readonly file: ActivityLogFile;
  readonly sizeBytes: number;
  readonly extentBytes?: number;
  readonly capacity?: number;
  /** The seq of the record the file holds, so that the first write goes to the other slot. */
  readonly lastSeq: number;
  /** The extents active from the start (those a crash left in the log and not yet compared). */
  readonly extents: readonly number[];
  /** The copies may differ anywhere: recorded so until a barrier finds the peer level outside the log. */
  readonly overflow: boolean;
  /**
   * Makes every write completed so far durable on both copies (a local flush and a flush the peer answers),
   * and tells whether the peer then holds everything outside the log: no granule is dirty. Extents leave the
   * log only behind it, so that a write the log forgets cannot be lost on one copy alone by a power cut.
   */
  barrier(): Promise<boolean>;
}

interface Extent {
  refs: number;
  /** When a write last began in it: the least recently used idle extents leave the log first. */
  used: number;
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

interface Request extends Waiter {
  readonly first: number;
  readonly last: number;
}

/**
 * DRBD's activity log: before a write to an extent that is not hot (active) reaches either copy, the extent
 * is recorded active, durably; a write to a hot extent costs nothing more than a lookup. Extents leave the
 * log lazily, the least recently used first, when more than `capacity` would be active. A primary that
 * crashes thus knows where its copy and its peer's may differ: in the extents its log names, unless the log
 * says it overflowed.
 *
 * The log's state on disk is always a superset of the extents writes may be in flight in: an extent enters
 * the map writes check only once a record naming it is durable, and leaves it before the record that drops
 * it is written. One record is written at a time; writes that wait meanwhile share the next.
 */
export class ActivityLog {
  readonly extentBytes: number;
  readonly capacity: number;
  private readonly active = new Map<number, Extent>();
  private readonly queue: Request[] = [];
  private running = false;
  private seq: number;
  private overflow: boolean;
  /** Counts the reasons to hold the log overflowed, so that a barrier that raced a new one does not clear it. */
  private overflowMarks = 0;
  /** A record to write even with no extent coming or going (the first, an overflow, a clearing). */
  private rewrite: { readonly clear: boolean; readonly waiters: Waiter[] } | undefined;
  private releaseWaiters: (() => void)[] = [];
  private tick = 0;
  private halted = false;
  /** The extents to start with, until the first record naming them is durable. */
  private pendingInitial: readonly number[] | undefined;
  /** Records written since the log was opened. */
  transactions = 0;
  /** Resolves once the first record is durable (the state this attachment starts from); rejects if it failed. */
  readonly started: Promise<void>;

  constructor(private readonly options: ActivityLogOptions) {
    this.extentBytes = options.extentBytes ?? AL_EXTENT_BYTES;
    this.capacity = Math.min(options.capacity ?? AL_MAX_EXTENTS, AL_MAX_EXTENTS);
    invariant(this.capacity >= 1, () => 'an activity log holds at least one extent');
    this.seq = options.lastSeq;
    this.overflow = options.overflow;
    // The first record is written before any write goes ahead: the file says what this attachment started
    // from, whatever an earlier one left in it. The extents a crash left enter the map once it is durable.
    const initial = [...new Set(options.extents)];
    invariant(initial.length <= this.capacity, () => 'the log starts with more extents than it holds');
    this.pendingInitial = initial;
    this.started = new Promise((resolve, reject) => {
      this.rewrite = { clear: false, waiters: [{ resolve, reject }] };
    });
    this.started.catch(() => undefined);
    this.kick();
  }

  isHot(extent: number): boolean {
    return this.active.has(extent);
  }

  /** The extents a byte range touches. */
  extentsOf(offset: number, length: number): { first: number; last: number } {
    return {
      first: Math.floor(offset / this.extentBytes),
      last: Math.floor((offset + Math.max(length, 1) - 1) / this.extentBytes),
    };
  }

  /**
   * Holds the extents of a write about to go out: undefined when they are all hot (nothing to wait for),
   * else a promise that resolves once a durable record names them. `end` releases them.
   */
  begin(offset: number, length: number): Promise<void> | undefined {
    const { first, last } = this.extentsOf(offset, length);
    invariant(
      last - first < this.capacity,
      () => `a write over ${last - first + 1} extents cannot fit a log of ${this.capacity}`,
    );
    let hot = true;
    for (let extent = first; extent <= last && hot; extent++) hot = this.active.has(extent);
    if (hot) {
      this.hold(first, last);
      return undefined;
    }
    if (this.halted) return Promise.reject(halted());
    return new Promise((resolve, reject) => {
      this.queue.push({ first, last, resolve, reject });
      this.kick();
    });
  }

  /** Releases what `begin` held: the write is done on both copies, or lost to the peer and marked dirty. */
  end(offset: number, length: number): void {
    const { first, last } = this.extentsOf(offset, length);
    let idle = false;
    for (let extent = first; extent <= last; extent++) {
      const entry = this.active.get(extent);
      invariant(entry !== undefined && entry.refs > 0, () => `extent ${extent} ended without a begin`);
      entry.refs--;
      idle ||= entry.refs === 0;
    }
    if (idle && this.releaseWaiters.length > 0) for (const wake of this.releaseWaiters.splice(0)) wake();
  }

  /** The peer's copy is of unknown state from now on (it was replaced): recorded, durably once this resolves. */
  markOverflow(): Promise<void> {
    this.overflowMarks++;
    this.overflow = true;
    return this.requestRewrite(false);
  }

  /**
   * The peer may now hold everything outside the log (a resync ended): if the log says it overflowed, a
   * barrier checks that, and the next record says it no more.
   */
  settled(): Promise<void> {
    if (!this.overflow || this.halted) return Promise.resolve();
    return this.requestRewrite(true);
  }

  /** The node died: nothing more is written. */
  halt(): void {
    this.halted = true;
    for (const request of [...this.queue.splice(0), ...(this.rewrite?.waiters ?? [])])
      request.reject(halted());
    this.rewrite = undefined;
    for (const wake of this.releaseWaiters.splice(0)) wake();
    // What was written stays; the descriptor is let go (a real crash would drop it too).
    void this.options.file.close().catch(() => undefined);
  }

  /**
   * Detaches. With `level` (both copies hold the same bytes, durably, and no write is in flight), the log is
   * emptied first: the next attachment has nothing to compare.
   */
  async close(level: boolean): Promise<void> {
    if (level && !this.halted && this.queue.length === 0 && !this.running && this.rewrite === undefined) {
      const busy = [...this.active.values()].some((entry) => entry.refs > 0);
      if (!busy) {
        this.active.clear();
        this.overflow = false;
        await this.write([]).catch(() => undefined);
      }
    }
    this.halt();
    await this.options.file.close();
  }

  private hold(first: number, last: number): void {
    const now = ++this.tick;
    for (let extent = first; extent <= last; extent++) {
      const entry = this.active.get(extent)!;
      entry.refs++;
      entry.used = now;
    }
  }

  private requestRewrite(clear: boolean): Promise<void> {
    if (this.halted) return Promise.reject(halted());
    return new Promise((resolve, reject) => {
      if (this.rewrite === undefined) this.rewrite = { clear, waiters: [] };
      else if (clear) this.rewrite = { clear: true, waiters: this.rewrite.waiters };
      this.rewrite.waiters.push({ resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    void this.run().finally(() => {
      this.running = false;
      if (!this.halted && (this.queue.length > 0 || this.rewrite !== undefined)) this.kick();
    });
  }

  /** Writes records until no write waits for one. */
  private async run(): Promise<void> {
    while (!this.halted && (this.queue.length > 0 || this.rewrite !== undefined)) {
      // As many waiting writes as fit the log together share one record.
      const batch: Request[] = [];
      const wanted = new Set<number>();
      while (this.queue.length > 0) {
        const next = this.queue[0]!;
        const added: number[] = [];
        for (let extent = next.first; extent <= next.last; extent++)
          if (!wanted.has(extent)) added.push(extent);
        if (batch.length > 0 && wanted.size + added.length > this.capacity) break;
        for (const extent of added) wanted.add(extent);
        batch.push(this.queue.shift()!);
      }
      const rewrite = this.rewrite;
      this.rewrite = undefined;
      try {
        await this.transaction(wanted, rewrite?.clear === true);
        for (const request of batch) {
          if (this.halted) request.reject(halted());
          else {
            this.hold(request.first, request.last);
            request.resolve();
          }
        }
        for (const waiter of rewrite?.waiters ?? []) waiter.resolve();
      } catch (error) {
        // What failed stays to write in memory (an overflow, the first extents): the next record retries it.
        for (const waiter of [...batch, ...(rewrite?.waiters ?? [])]) waiter.reject(error as Error);
      }
    }
  }

  /** One record: the extents wanted enter, and if the log is full the least recently used idle ones leave. */
  private async transaction(wanted: ReadonlySet<number>, clear: boolean): Promise<void> {
    const initial = this.pendingInitial;
    const incoming = [
      ...new Set([...(initial ?? []), ...[...wanted].filter((extent) => !this.active.has(extent))]),
    ];
    let dropped = false;
    const excess = this.active.size + incoming.length - this.capacity;
    if (excess > 0) {
      const batch = Math.max(excess, Math.floor(this.capacity / EVICT_BATCH_SHARE));
      await this.evict(excess, batch, wanted);
      dropped = true;
    }
    if (dropped || (clear && this.overflow)) {
      const marks = this.overflowMarks;
      const level = await this.options.barrier();
      if (!level) this.overflow = true;
      else if (clear && marks === this.overflowMarks) this.overflow = false;
    }
    if (this.halted) throw halted();
    await this.write([...this.active.keys(), ...incoming]);
    this.pendingInitial = undefined;
    for (const extent of incoming) this.active.set(extent, { refs: 0, used: 0 });
  }

  /**
   * Takes `count` idle extents out of the map (more, up to `batch`, if idle ones are there), the least
   * recently used first and none a waiting write needs, waiting for writes to end while too few are idle.
   */
  private async evict(count: number, batch: number, keep: ReadonlySet<number>): Promise<void> {
    for (;;) {
      if (this.halted) throw halted();
      const idle = [...this.active]
        .filter(([extent, entry]) => entry.refs === 0 && !keep.has(extent))
        .sort((a, b) => a[1].used - b[1].used);
      if (idle.length >= count) {
        for (const [extent] of idle.slice(0, Math.max(count, Math.min(batch, idle.length))))
          this.active.delete(extent);
        return;
      }
      await new Promise<void>((resolve) => this.releaseWaiters.push(resolve));
    }
  }

  private async write(extents: readonly number[]): Promise<void> {
    const seq = this.seq + 1;
    const record = encodeActivityRecord({
      seq,
      overflow: this.overflow,
      extentBytes: this.extentBytes,
      extents: [...extents].sort((a, b) => a - b),
    });
    await this.options.file.writeDurably((seq % 2) * AL_SLOT_BYTES, record);
    this.seq = seq;
    this.transactions++;
  }
}

function halted(): CorralError {
  return new CorralError('closed', 'the disk is detached from this node');
}
