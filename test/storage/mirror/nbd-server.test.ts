import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/log.js';
import { MemoryBlockStore } from '../../../src/storage/mirror/block-store.js';
import { type NbdServer, serveNbd } from '../../../src/storage/mirror/nbd-server.js';

const run = promisify(execFile);

describe('the NBD server QEMU reaches mirrored disks through', () => {
  let dir: string;
  let server: NbdServer | undefined;
  afterEach(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves qemu-io, is root-only, and drops a client that sends garbage without harm to the next', async () => {
    dir = await mkdtemp(join(tmpdir(), 'corral-nbd-'));
    const store = new MemoryBlockStore(1024 * 1024);
    const path = join(dir, 'nbd.sock');
    server = await serveNbd(
      path,
      (name) =>
        name === 'disk0'
          ? {
              sizeBytes: store.sizeBytes,
              read: (offset, length) => store.read(offset, length),
              write: (offset, data) => store.write(offset, data),
              writeZeroes: (offset, length) => store.writeZeroes(offset, length),
              flush: () => store.flush(),
            }
          : undefined,
      silentLogger,
    );
    expect((await stat(path)).mode & 0o777).toBe(0o600);

    const garbage = createConnection({ path }).resume();
    await new Promise<void>((resolve) => garbage.once('connect', () => resolve()));
    garbage.write(Buffer.alloc(4, 0xff));
    garbage.write(Buffer.from('not an NBD option, just noise of some length'));
    await new Promise<void>((resolve) => garbage.once('close', () => resolve()));

    const uri = `nbd+unix:///disk0?socket=${path}`;
    await run('qemu-io', ['-f', 'raw', uri, '-c', 'write -P 7 4096 8k']);
    const { stdout } = await run('qemu-io', ['-f', 'raw', uri, '-c', 'read -P 7 4096 8k']);
    expect(stdout).toContain('read 8192/8192 bytes');
    await expect(
      run('qemu-io', ['-f', 'raw', `nbd+unix:///nosuch?socket=${path}`, '-c', 'read 0 512']),
    ).rejects.toThrow();
  });
});
