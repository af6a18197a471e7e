import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DiskRef, DiskTemplate } from '../../src/storage/disk-template.js';

/**
 * The behaviour every disk template that stores data owes the node agent (diskless has its own tests). A
 * suite file calls this with a factory that builds the template over fresh storage, once per test, and the
 * formats the template stores (the suite runs once per format).
 */
export interface TemplateSubject {
  readonly template: DiskTemplate;
  cleanup(): Promise<void>;
  /** The disk's size as its user sees it; by default what qemu-img reads at its path. */
  virtualSizeMiB?(disk: DiskRef): Promise<number>;
}

const MIB = 1024 * 1024;
/** Multiples of LVM's default 4 MiB extent, so that every template allocates exactly what is asked. */
const SIZE_MIB = 8;
const GROWN_MIB = 12;

export function disk(format: DiskRef['format'], overrides: Partial<DiskRef> = {}): DiskRef {
  return {
    instanceName: 'web1.example.com',
    instanceUuid: 'inst-6f1c2a',
    diskUuid: `disk-${format}-0`,
    index: 0,
    sizeMiB: SIZE_MIB,
    format,
    ...overrides,
  };
}

/** What qemu-img reads as the disk's size, for files and block devices alike. */
export async function virtualSizeMiB(path: string, format: DiskRef['format']): Promise<number> {
  const { stdout } = await promisify(execFile)('qemu-img', [
    'info',
    '-U',
    '-f',
    format,
    '--output=json',
    path,
  ]);
  return (JSON.parse(stdout) as { 'virtual-size': number })['virtual-size'] / MIB;
}

/** sizeMiB of bytes that differ MiB by MiB, with one MiB of zeros and one half-zero MiB, in uneven chunks. */
export async function* pattern(sizeMiB: number, chunkBytes = 300 * 1024): AsyncGenerator<Uint8Array> {
  const all = Buffer.alloc(sizeMiB * MIB);
  for (let mib = 0; mib < sizeMiB; mib++) {
    if (mib === 2) continue;
    const end = mib === 3 ? mib * MIB + MIB / 2 : (mib + 1) * MIB;
    for (let i = mib * MIB; i < end; i++) all[i] = (i * 31 + mib) & 0xff;
  }
  for (let offset = 0; offset < all.length; offset += chunkBytes)
    yield all.subarray(offset, offset + chunkBytes);
}

export async function* take(source: AsyncIterable<Uint8Array>, bytes: number): AsyncGenerator<Uint8Array> {
  let left = bytes;
  for await (const chunk of source) {
    if (left <= 0) return;
    yield chunk.subarray(0, left);
    left -= chunk.length;
  }
}

export async function digest(source: AsyncIterable<Uint8Array>): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of source) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

export function templateCompliance(
  label: string,
  setup: () => Promise<TemplateSubject>,
  formats: readonly DiskRef['format'][],
  timeoutMs = 30_000,
): void {
  describe.each(formats)(`${label} disk template compliance (%s)`, (format) => {
    let subject: TemplateSubject;
    let template: DiskTemplate;
    const a = disk(format);
    const b = disk(format, { diskUuid: `disk-${format}-1`, index: 1 });

    const sizeOf = (d: DiskRef) => subject.virtualSizeMiB?.(d) ?? virtualSizeMiB(template.path(d)!, format);

    beforeEach(async () => {
      subject = await setup();
      template = subject.template;
    }, timeoutMs);

    afterEach(async () => {
      for (const d of [a, b]) await template.remove(d);
      await subject.cleanup();
    }, timeoutMs);

    it('is available on this node and reports its space', { timeout: timeoutMs }, async () => {
      expect(await template.availability()).toEqual({ available: true });
      const space = await template.space();
      expect(space.totalMiB).toBeGreaterThan(0);
      expect(space.freeMiB).toBeGreaterThanOrEqual(0);
      expect(space.freeMiB).toBeLessThanOrEqual(space.totalMiB);
    });

    it('creates a disk that exists at its path with its size', { timeout: timeoutMs }, async () => {
      expect(await template.exists(a)).toBe(false);
      await template.create(a);
      expect(await template.exists(a)).toBe(true);
      expect(template.path(a)).toBeDefined();
      expect(await sizeOf(a)).toBe(SIZE_MIB);
    });

    it('create is idempotent; the same disk at another size is a conflict', {
      timeout: timeoutMs,
    }, async () => {
      await template.create(a);
      await template.create(a);
      await expect(template.create({ ...a, sizeMiB: 16 })).rejects.toMatchObject({
        code: 'conflict',
        message: expect.stringMatching(/already exists .* not 16 MiB/),
      });
      expect(await sizeOf(a)).toBe(SIZE_MIB);
    });

    it('grows, treats the same size as done and refuses to shrink', { timeout: timeoutMs }, async () => {
      await template.create(a);
      await template.grow(a, GROWN_MIB);
      expect(await sizeOf(a)).toBe(GROWN_MIB);
      await template.grow(a, GROWN_MIB);
      await expect(template.grow(a, SIZE_MIB)).rejects.toMatchObject({
        code: 'bad_request',
        message: expect.stringMatching(/cannot shrink to 8 MiB; disks only grow/),
      });
      expect(await sizeOf(a)).toBe(GROWN_MIB);
      await expect(template.grow(b, GROWN_MIB)).rejects.toMatchObject({ code: 'not_found' });
    });

    it('read and write copy a disk byte for byte', { timeout: timeoutMs }, async () => {
      // The image file's bytes in, the same bytes out: the template keeps what it was given.
      const source = () => (format === 'raw' ? pattern(SIZE_MIB) : qcow2Image(SIZE_MIB));
      await template.write(a, source());
      expect(await digest(template.read(a))).toEqual(await digest(source()));
      const original = await digest(template.read(a));
      await template.write(b, template.read(a));
      expect(await digest(template.read(b))).toEqual(original);
      expect(await sizeOf(b)).toBe(SIZE_MIB);
    });

    it('refuses a copy cut short; the next whole copy replaces it', { timeout: timeoutMs }, async () => {
      await template.write(a, format === 'raw' ? pattern(SIZE_MIB) : qcow2Image(SIZE_MIB));
      const original = await digest(template.read(a));
      await expect(template.write(b, take(template.read(a), original.bytes / 2))).rejects.toMatchObject({
        code: 'bad_request',
        message: expect.stringMatching(/cut short/),
      });
      await template.write(b, template.read(a));
      expect(await digest(template.read(b))).toEqual(original);
    });

    it('removes a disk; removing it again is fine', { timeout: timeoutMs }, async () => {
      await template.create(a);
      await template.create(b);
      await template.remove(a);
      expect(await template.exists(a)).toBe(false);
      expect(await template.exists(b)).toBe(true);
      await template.remove(a);
      await expect(digest(template.read(a))).rejects.toMatchObject({ code: 'not_found' });
    });
  });
}

/** A qcow2 image holding the pattern, made with qemu-img convert in a directory of its own. */
export async function* qcow2Image(sizeMiB: number): AsyncGenerator<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), 'corral-qcow2-'));
  try {
    const raw = join(dir, 'raw');
    const image = join(dir, 'image');
    const handle = await open(raw, 'w');
    for await (const chunk of pattern(sizeMiB)) await handle.write(chunk);
    await handle.close();
    await promisify(execFile)('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, image]);
    yield await readFile(image);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
