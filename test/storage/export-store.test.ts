import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agentProtocols } from '../../src/cluster/agent-protocols.js';
import { createExportStore, createMemoryExportStore } from '../../src/storage/export-store.js';

const MiB = 1024 * 1024;

describe('export dumps of sparse disks', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'corral-export-store-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps runs of zeros as holes in the dump, and reads them back as zeros', async () => {
    const store = createExportStore(dir);
    const data = new Uint8Array(MiB).fill(7);
    await store.writeDump('web1', 'disk0.dump', 0, { data });
    for (let k = 1; k <= 64; k++) await store.writeDump('web1', 'disk0.dump', k * MiB, { zeros: MiB });
    await store.writeDump('web1', 'disk0.dump', 65 * MiB, { data: data.subarray(0, 4096) });
    await store.finalize('web1', '[export]\n');
    const dump = await stat(join(dir, 'web1', 'disk0.dump'));
    expect(dump.size).toBe(65 * MiB + 4096);
    // 1 MiB and 4 KiB of data; the 64 MiB between them take no blocks.
    expect(dump.blocks * 512).toBeLessThan(4 * MiB);
    const hole = await store.readDump('web1', 'disk0.dump', 10 * MiB, MiB);
    expect(hole.data.every((byte) => byte === 0)).toBe(true);
    expect(hole.data.byteLength).toBe(MiB);
    const tail = await store.readDump('web1', 'disk0.dump', 65 * MiB, MiB);
    expect(tail).toEqual({ data: data.subarray(0, 4096), eof: true });
  });

  it('refuses zeros out of order, as it refuses data', async () => {
    const store = createExportStore(dir);
    await store.writeDump('web1', 'disk0.dump', 0, { zeros: MiB });
    await expect(store.writeDump('web1', 'disk0.dump', 3 * MiB, { zeros: MiB })).rejects.toThrow(
      /not 3145728 bytes long/,
    );
  });

  it('holds zeros in the memory store too', async () => {
    const store = createMemoryExportStore();
    await store.writeDump('web1', 'disk0.dump', 0, { data: new Uint8Array([1, 2]) });
    await store.writeDump('web1', 'disk0.dump', 2, { zeros: 3 });
    await store.finalize('web1', '');
    expect((await store.readDump('web1', 'disk0.dump', 0, 16)).data).toEqual(new Uint8Array([1, 2, 0, 0, 0]));
  });

  it('takes a chunk of zeros on the wire only without data', () => {
    const chunk = { name: 'web1', file: 'disk0.dump', offset: 0 };
    const request = agentProtocols.exportWrite.request;
    expect(request.safeParse({ ...chunk, data: new Uint8Array(0), zeros: MiB }).success).toBe(true);
    expect(request.safeParse({ ...chunk, data: new Uint8Array(1), zeros: MiB }).success).toBe(false);
    expect(request.safeParse({ ...chunk, data: new Uint8Array(0), zeros: 2 * MiB }).success).toBe(false);
  });
});
