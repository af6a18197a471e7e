import { cp, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { asNodeId } from '../../src/common/ids.js';
import type { Entry, PersistedState } from '../../src/consensus/types.js';
import { WalStore } from '../../src/consensus/wal-store.js';

const encoder = new TextEncoder();
const entry = (index: number, term: number, text = `e${index}`): Entry => ({
  type: 'normal',
  index,
  term,
  data: encoder.encode(text),
});

/** Comparable form of a persisted state: byte arrays as text. */
function plain(state: PersistedState): unknown {
  const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
  return {
    hardState: state.hardState,
    snapshot: state.snapshot && { meta: state.snapshot.meta, data: text(state.snapshot.data) },
    entries: state.entries.map((e) => (e.type === 'normal' ? { ...e, data: text(e.data) } : e)),
  };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'corral-wal-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function segmentPath(at: string): Promise<string> {
  const names = (await readdir(at)).filter((name) => name.endsWith('.log')).sort();
  return join(at, names.at(-1)!);
}

describe('write-ahead log store', () => {
  it('recovers hard state, entries, truncations and snapshots after reopening', async () => {
    const { store } = await WalStore.open(dir);
    store.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
    store.saveHardState({ term: 1, vote: asNodeId('n1'), commit: 2 });
    await store.syncNow();
    store.append([entry(3, 2, 'replaced'), entry(4, 2)]);
    store.saveSnapshot({
      meta: { index: 2, term: 1, membership: { voters: [asNodeId('n1')], learners: [] } },
      data: encoder.encode('kv'),
    });
    store.compactPrefix(2);
    await store.syncNow();
    await store.close();
    const { state, store: again } = await WalStore.open(dir);
    await again.close();
    expect(state.hardState).toEqual({ term: 1, vote: 'n1', commit: 2 });
    expect(state.snapshot?.meta.index).toBe(2);
    expect(Buffer.from(state.snapshot!.data).toString()).toBe('kv');
    expect(state.entries.map((e) => [e.index, e.term])).toEqual([
      [3, 2],
      [4, 2],
    ]);
  });

  it('keeps nothing that was written but not synced', async () => {
    const { store } = await WalStore.open(dir);
    store.append([entry(1, 1)]);
    await store.syncNow();
    store.append([entry(2, 1)]);
    await store.close();
    const { state, store: again } = await WalStore.open(dir);
    await again.close();
    expect(state.entries.map((e) => e.index)).toEqual([1]);
  });

  it('recovers exactly the synced prefix when the last record is cut at any byte', async () => {
    const { store } = await WalStore.open(dir);
    store.append([entry(1, 1), entry(2, 1)]);
    store.saveHardState({ term: 1, vote: undefined, commit: 1 });
    await store.syncNow();
    const syncedBytes = (await stat(await segmentPath(dir))).size;
    const { state: before, store: peek } = await WalStore.open(dir);
    await peek.close();
    store.append([entry(3, 1), entry(4, 1)]);
    store.saveHardState({ term: 1, vote: undefined, commit: 3 });
    await store.syncNow();
    await store.close();
    const fullBytes = (await stat(await segmentPath(dir))).size;
    expect(fullBytes).toBeGreaterThan(syncedBytes);
    for (let cut = syncedBytes; cut < fullBytes; cut++) {
      const copy = await mkdtemp(join(tmpdir(), 'corral-wal-cut-'));
      await cp(dir, copy, { recursive: true });
      await truncate(await segmentPath(copy), cut);
      const { state, store: reopened } = await WalStore.open(copy);
      // The torn tail is cut, so the store appends cleanly after it.
      reopened.append([entry(3, 2)]);
      await reopened.syncNow();
      await reopened.close();
      expect(plain(state)).toEqual(plain(before));
      const { state: after, store: last } = await WalStore.open(copy);
      await last.close();
      expect(after.entries.map((e) => [e.index, e.term])).toEqual([
        [1, 1],
        [2, 1],
        [3, 2],
      ]);
      await rm(copy, { recursive: true, force: true });
    }
  });

  it('detects a corrupted byte in the last record by its checksum', async () => {
    const { store } = await WalStore.open(dir);
    store.append([entry(1, 1)]);
    await store.syncNow();
    store.append([entry(2, 1)]);
    await store.syncNow();
    await store.close();
    const path = await segmentPath(dir);
    const bytes = await readFile(path);
    bytes[bytes.byteLength - 3] = bytes[bytes.byteLength - 3]! ^ 0xff;
    await writeFile(path, bytes);
    const { state, store: again } = await WalStore.open(dir);
    await again.close();
    expect(state.entries.map((e) => e.index)).toEqual([1]);
  });

  it('rolls over to a new segment with a checkpoint and deletes the old ones', async () => {
    const { store } = await WalStore.open(dir, { segmentBytes: 300, maxRecordBytes: 1 << 20 });
    for (let i = 1; i <= 40; i++) {
      store.append([entry(i, 1, 'x'.repeat(20))]);
      store.saveHardState({ term: 1, vote: undefined, commit: i - 1 });
      if (i % 10 === 0) {
        store.saveSnapshot({
          meta: { index: i - 5, term: 1, membership: { voters: [], learners: [] } },
          data: encoder.encode(`s${i}`),
        });
        store.compactPrefix(i - 5);
      }
      await store.syncNow();
    }
    await store.close();
    const names = await readdir(dir);
    expect(names.filter((name) => name.endsWith('.log'))).toHaveLength(1);
    expect(names.filter((name) => name.endsWith('.snap'))).toEqual(['snap-0000000000000023.snap']);
    const { state, store: again } = await WalStore.open(dir);
    await again.close();
    expect(state.hardState.commit).toBe(39);
    expect(state.snapshot?.meta.index).toBe(35);
    expect(state.entries.map((e) => e.index)).toEqual([36, 37, 38, 39, 40]);
  });

  it('refuses to start on a corrupt older segment', async () => {
    const { store } = await WalStore.open(dir, { segmentBytes: 100, maxRecordBytes: 1 << 20 });
    for (let i = 1; i <= 3; i++) {
      store.append([entry(i, 1, 'y'.repeat(60))]);
      await store.syncNow();
    }
    await store.close();
    const logs = (await readdir(dir)).filter((name) => name.endsWith('.log')).sort();
    // Put back an older segment whose tail is cut: only the last segment may have a torn tail.
    await writeFile(join(dir, 'wal-0000000000000000.log'), Buffer.from([9, 0, 0, 0, 1, 2]));
    expect(logs.length).toBeGreaterThan(0);
    await expect(WalStore.open(dir)).rejects.toThrow(/corrupt/);
  });
});
