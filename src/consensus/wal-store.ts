/**
 * The durable LogStore: a segmented write-ahead log.
 *
 * Why a WAL and not an embedded store such as LMDB: Raft's writes are almost all appends at the tail, with
 * rare truncations of that tail, and each Ready must become durable with one fsync. An append-only file does
 * exactly that with one sequential write and one fdatasync per Ready, needs no native module, and its failure
 * mode is simple to reason about: after a crash only the last record can be torn, and a checksum finds it.
 *
 * Format. A segment `wal-<seq>.log` is a run of records, each `[u32 length][u32 crc32][cbor payload]`
 * (little endian; CRC-32 from node:zlib over the payload). Each sync writes one batch record, so a Ready is
 * durable whole or not at all. Inside a batch, a record sets the hard state, appends entries
 * (replacing the log from their first index), truncates or compacts the log, or records a snapshot whose data
 * lives in its own checksummed file `snap-<index>.snap`. A new segment opens with a checkpoint record holding
 * the whole live state (hard state, snapshot metadata, the entries after the snapshot, which compaction keeps
 * short), so once that checkpoint is synced every older segment and snapshot file can be deleted.
 *
 * Recovery replays the segments in order. A record that is cut short or fails its checksum in the last
 * segment is a torn tail: the file is cut there (nothing after it was acknowledged, since every sync appends
 * one batch at the end). The same in an older segment is corruption and stops the node with an error.
 */
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { Encoder } from 'cbor-x';
import { CorralError } from '../common/errors.js';
import type { LogStore } from './log-store.js';
import {
  type Entry,
  emptyHardState,
  type HardState,
  type PersistedState,
  type Snapshot,
  type SnapshotMeta,
} from './types.js';

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true, structuredClone: false });
const headerBytes = 8;

export interface WalOptions {
  /** A segment rolls over once it passes this size. */
  readonly segmentBytes: number;
  /** A record larger than this is taken as a corrupt length field. */
  readonly maxRecordBytes: number;
}

export const defaultWalOptions: WalOptions = {
  segmentBytes: 64 * 1024 * 1024,
  maxRecordBytes: 256 * 1024 * 1024,
};

type WalRecord =
  | { readonly t: 'hard'; readonly hardState: HardState }
  | { readonly t: 'entries'; readonly entries: readonly Entry[] }
  | { readonly t: 'truncate'; readonly from: number }
  | { readonly t: 'compact'; readonly through: number }
  | { readonly t: 'snapshot'; readonly meta: SnapshotMeta }
  | { readonly t: 'batch'; readonly records: readonly WalRecord[] }
  | {
      readonly t: 'checkpoint';
      readonly hardState: HardState;
      readonly meta: SnapshotMeta | undefined;
      readonly entries: readonly Entry[];
    };

interface LiveState {
  hardState: HardState;
  meta: SnapshotMeta | undefined;
  entries: Entry[];
}

export class WalStore implements LogStore {
  private pending: WalRecord[] = [];
  private pendingSnapshot: Snapshot | undefined;
  private chain: Promise<void> = Promise.resolve();

  private constructor(
    private readonly dir: string,
    private readonly options: WalOptions,
    private segment: { seq: number; handle: FileHandle; sizeBytes: number },
    /** The state as written so far (synced or not), for checkpoints. */
    private readonly live: LiveState,
  ) {}

  /** Opens (or creates) the store in `dir`, cutting a torn tail, and returns it with what it holds. */
  static async open(
    dir: string,
    options: WalOptions = defaultWalOptions,
  ): Promise<{ store: WalStore; state: PersistedState }> {
    await mkdir(dir, { recursive: true });
    const segments = (await readdir(dir))
      .map((name) => /^wal-([0-9a-f]{16})\.log$/.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number.parseInt(m[1]!, 16))
      .sort((a, b) => a - b);
    const live: LiveState = { hardState: emptyHardState, meta: undefined, entries: [] };
    for (const [i, seq] of segments.entries()) {
      await replaySegment(join(dir, segmentName(seq)), live, i === segments.length - 1, options);
    }
    const seq = segments.at(-1) ?? 0;
    const handle = await open(join(dir, segmentName(seq)), 'a');
    const { size } = await handle.stat();
    const store = new WalStore(dir, options, { seq, handle, sizeBytes: size }, live);
    if (segments.length === 0) await syncDir(dir);
    let snapshot: Snapshot | undefined;
    if (live.meta !== undefined)
      snapshot = { meta: live.meta, data: await readSnapshotFile(dir, live.meta.index) };
    return { store, state: { hardState: live.hardState, snapshot, entries: [...live.entries] } };
  }

  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const lastIndex = this.live.entries.at(-1)?.index ?? this.live.meta?.index ?? 0;
    if (first.index > lastIndex + 1)
      throw new RangeError(`append at ${first.index} leaves a gap after ${lastIndex}`);
    applyRecord(this.live, { t: 'entries', entries });
    this.pending.push({ t: 'entries', entries });
  }

  truncateSuffix(fromIndex: number): void {
    this.write({ t: 'truncate', from: fromIndex });
  }

  compactPrefix(throughIndex: number): void {
    this.write({ t: 'compact', through: throughIndex });
  }

  saveHardState(hardState: HardState): void {
    this.write({ t: 'hard', hardState });
  }

  saveSnapshot(snapshot: Snapshot): void {
    this.pendingSnapshot = snapshot;
    this.write({ t: 'snapshot', meta: snapshot.meta });
  }

  sync(done: (error: Error | undefined) => void): void {
    const records = this.pending;
    const snapshot = this.pendingSnapshot;
    this.pending = [];
    this.pendingSnapshot = undefined;
    this.chain = this.chain.then(() => this.flush(records, snapshot));
    this.chain.then(
      () => done(undefined),
      (error: unknown) => done(error instanceof Error ? error : new Error(String(error))),
    );
  }

  /** Syncs, as a promise. */
  syncNow(): Promise<void> {
    return new Promise((resolve, reject) =>
      this.sync((error) => (error === undefined ? resolve() : reject(error))),
    );
  }

  async close(): Promise<void> {
    await this.chain.catch(() => undefined);
    await this.segment.handle.close();
  }

  private write(record: WalRecord): void {
    applyRecord(this.live, record);
    this.pending.push(record);
  }

  private async flush(records: readonly WalRecord[], snapshot: Snapshot | undefined): Promise<void> {
    // The snapshot's data must be durable before the record that points at it.
    if (snapshot !== undefined) await writeSnapshotFile(this.dir, snapshot);
    if (records.length > 0) {
      // One record per sync: a Ready is on disk whole or not at all.
      const bytes = frame({ t: 'batch', records });
      await this.segment.handle.write(bytes);
      await this.segment.handle.datasync();
      this.segment.sizeBytes += bytes.byteLength;
    }
    if (this.segment.sizeBytes >= this.options.segmentBytes) await this.rollOver();
    else if (snapshot !== undefined) await this.removeObsolete(this.segment.seq);
  }

  /** Starts a new segment with a checkpoint of the live state, then drops what it makes obsolete. */
  private async rollOver(): Promise<void> {
    const seq = this.segment.seq + 1;
    const handle = await open(join(this.dir, segmentName(seq)), 'a');
    const checkpoint = frame({
      t: 'checkpoint',
      hardState: this.live.hardState,
      meta: this.live.meta,
      entries: this.live.entries,
    });
    await handle.write(checkpoint);
    await handle.datasync();
    await syncDir(this.dir);
    await this.segment.handle.close();
    this.segment = { seq, handle, sizeBytes: checkpoint.byteLength };
    await this.removeObsolete(seq);
  }

  /** Deletes segments before `firstSeq` and every snapshot file but the current one. */
  private async removeObsolete(firstSeq: number): Promise<void> {
    for (const name of await readdir(this.dir)) {
      const wal = /^wal-([0-9a-f]{16})\.log$/.exec(name);
      const snap = /^snap-([0-9a-f]{16})\.snap$/.exec(name);
      if (wal !== null && Number.parseInt(wal[1]!, 16) < firstSeq) await rm(join(this.dir, name));
      if (snap !== null && Number.parseInt(snap[1]!, 16) !== this.live.meta?.index)
        await rm(join(this.dir, name));
    }
  }
}

function segmentName(seq: number): string {
  return `wal-${seq.toString(16).padStart(16, '0')}.log`;
}

function snapshotName(index: number): string {
  return `snap-${index.toString(16).padStart(16, '0')}.snap`;
}

function frame(record: WalRecord | { meta: SnapshotMeta; data: Uint8Array }): Buffer {
  const payload = cbor.encode(record);
  const header = Buffer.alloc(headerBytes);
  header.writeUInt32LE(payload.byteLength, 0);
  header.writeUInt32LE(crc32(payload), 4);
  return Buffer.concat([header, payload]);
}

/** Reads one framed record at `offset`; undefined when it is cut short or fails its checksum. */
function readFrame(
  bytes: Buffer,
  offset: number,
  maxRecordBytes: number,
): { value: unknown; end: number } | undefined {
  if (offset + headerBytes > bytes.byteLength) return undefined;
  const length = bytes.readUInt32LE(offset);
  const end = offset + headerBytes + length;
  if (length > maxRecordBytes || end > bytes.byteLength) return undefined;
  const payload = bytes.subarray(offset + headerBytes, end);
  if (crc32(payload) !== bytes.readUInt32LE(offset + 4)) return undefined;
  return { value: cbor.decode(payload), end };
}

async function replaySegment(
  path: string,
  live: LiveState,
  isLast: boolean,
  options: WalOptions,
): Promise<void> {
  const bytes = await readFile(path);
  let offset = 0;
  while (offset < bytes.byteLength) {
    const record = readFrame(bytes, offset, options.maxRecordBytes);
    if (record === undefined) {
      if (!isLast) {
        throw new CorralError(
          'internal',
          `write-ahead log ${path} is corrupt at byte ${offset}; remove this node's data directory and let it catch up from the cluster`,
        );
      }
      // A torn tail: the write that was cut short was never acknowledged.
      const handle = await open(path, 'r+');
      await handle.truncate(offset);
      await handle.datasync();
      await handle.close();
      return;
    }
    applyRecord(live, record.value as WalRecord);
    offset = record.end;
  }
}

function applyRecord(live: LiveState, record: WalRecord): void {
  switch (record.t) {
    case 'hard':
      live.hardState = { ...record.hardState, vote: record.hardState.vote ?? undefined };
      return;
    case 'entries': {
      const first = record.entries[0];
      if (first === undefined) return;
      // The log is contiguous, so the entries from `first` on sit at a known position: no scan per append.
      const base = live.entries[0]?.index;
      if (base !== undefined)
        live.entries.length = Math.max(0, Math.min(live.entries.length, first.index - base));
      const compacted = live.meta?.index ?? 0;
      for (const entry of record.entries) if (entry.index > compacted) live.entries.push(entry);
      return;
    }
    case 'truncate':
      live.entries = live.entries.filter((entry) => entry.index < record.from);
      return;
    case 'compact':
      live.entries = live.entries.filter((entry) => entry.index > record.through);
      return;
    case 'snapshot':
      live.meta = record.meta;
      return;
    case 'batch':
      for (const inner of record.records) applyRecord(live, inner);
      return;
    case 'checkpoint':
      live.hardState = { ...record.hardState, vote: record.hardState.vote ?? undefined };
      live.meta = record.meta ?? undefined;
      live.entries = [...record.entries];
      return;
  }
}

async function writeSnapshotFile(dir: string, snapshot: Snapshot): Promise<void> {
  const path = join(dir, snapshotName(snapshot.meta.index));
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w');
  await handle.write(frame({ meta: snapshot.meta, data: snapshot.data }));
  await handle.datasync();
  await handle.close();
  await rename(tmp, path);
  await syncDir(dir);
}

async function readSnapshotFile(dir: string, index: number): Promise<Uint8Array> {
  const path = join(dir, snapshotName(index));
  const record = readFrame(await readFile(path), 0, Number.MAX_SAFE_INTEGER);
  if (record === undefined) {
    throw new CorralError(
      'internal',
      `snapshot ${path} is corrupt; remove this node's data directory and let it catch up`,
    );
  }
  return (record.value as { data: Uint8Array }).data;
}

/** A new or renamed file survives a crash only once its directory entry is synced. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  await handle.sync();
  await handle.close();
}
