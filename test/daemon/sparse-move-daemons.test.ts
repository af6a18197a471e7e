import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonProcess, startLocalCluster } from '../../src/daemon/local-cluster.js';
import { clusterClient } from '../helpers/real-cluster.js';

const MIB = 1024 * 1024;

/**
 * instance move of a sparse file disk between two real daemons (127.0.0.90-91): the target asks the source
 * where the data lies and pulls only that, so the copy is byte for byte the disk, as long, and as sparse.
 */
describe('moving a sparse disk between real daemons', () => {
  let baseDir: string;
  let daemons: DaemonProcess[] = [];

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-sparse-move-'));
    daemons = await startLocalCluster({ baseDir, nodes: 2, firstHost: 90, logLevel: 'warn' });
  });

  afterAll(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    await rm(baseDir, { recursive: true, force: true });
  });

  const diskOf = async (node: string, uuid: string) => {
    const dir = join(baseDir, node, 'file-storage', uuid);
    const [file] = await readdir(dir);
    return join(dir, file!);
  };
  const digest = async (path: string) =>
    createHash('sha256')
      .update(await readFile(path))
      .digest('hex');

  it('copies data at the start, middle and end byte for byte, and keeps the copy as long and sparse', async () => {
    const { config, ok } = clusterClient((request) => daemons[1]!.call(request));
    await ok([
      {
        OP_ID: 'OP_INSTANCE_CREATE',
        instance_name: 'sparse1',
        disk_template: 'file',
        disks: [{ size: 256 }],
        hypervisor: 'fake',
        no_install: true,
        start: true,
        beparams: { memory: 32 },
        pnode: 'node1',
      },
    ]);
    const { uuid } = (await config()).instances.find((i) => i.name === 'sparse1')!;
    const source = await diskOf('node1', uuid);
    const handle = await open(source, 'r+');
    try {
      // A piece at the start, one across a chunk boundary, one short piece that ends the disk.
      for (const [offset, length] of [
        [0, 8192],
        [100 * MIB - 4096, 2 * MIB],
        [256 * MIB - 700, 700],
      ] as const)
        await handle.write(randomBytes(length), 0, length, offset);
    } finally {
      await handle.close();
    }
    const sourceDigest = await digest(source);

    const job = await ok([{ OP_ID: 'OP_INSTANCE_MOVE', instance_name: 'sparse1', target_node: 'node2' }]);
    expect(JSON.stringify(job.log)).toContain(`(${256 * MIB} bytes)`);
    const target = await diskOf('node2', uuid);
    expect((await stat(target)).size).toBe(256 * MIB);
    expect(await digest(target)).toBe(sourceDigest);
    // Holes stay holes: a little over the data written (file systems allocate whole blocks).
    expect((await stat(target)).blocks * 512).toBeLessThan(4 * MIB);
    await ok([{ OP_ID: 'OP_INSTANCE_REMOVE', instance_name: 'sparse1' }]);
  });
});
