import { execFile } from 'node:child_process';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * A throwaway LVM volume group on a loop device over a sparse file, for testing `plain` for real. Needs root,
 * losetup and lvm2. Every step that succeeded is undone by cleanup, in reverse order, even after a failure.
 */
export interface LoopVolumeGroup {
  readonly vg: string;
  readonly device: string;
  cleanup(): Promise<void>;
}

const run = promisify(execFile);
/** No metadata backups in /etc/lvm for a group that lives a few seconds. */
const NO_BACKUP = ['--config', 'backup { backup = 0 archive = 0 }'];
const ENV = { ...process.env, LVM_SUPPRESS_FD_WARNINGS: '1', LC_ALL: 'C' };

export async function makeLoopVolumeGroup(sizeMiB = 64): Promise<LoopVolumeGroup> {
  const undo: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    const errors: string[] = [];
    for (const step of undo.reverse()) await step().catch((error: Error) => errors.push(error.message));
    undo.length = 0;
    if (errors.length > 0) throw new Error(`loop volume group cleanup failed: ${errors.join('; ')}`);
  };
  try {
    const dir = await mkdtemp(join(tmpdir(), 'corral-lvm-'));
    undo.push(() => rm(dir, { recursive: true, force: true }));
    const backing = join(dir, 'pv.img');
    const file = await open(backing, 'w');
    await file.truncate(sizeMiB * 1024 * 1024);
    await file.close();
    const device = (await run('losetup', ['--find', '--show', backing], { env: ENV })).stdout.trim();
    undo.push(() => run('losetup', ['--detach', device], { env: ENV }));
    await run('pvcreate', ['-q', ...NO_BACKUP, device], { env: ENV });
    undo.push(() => run('pvremove', ['-q', '-ff', '-y', ...NO_BACKUP, device], { env: ENV }));
    const vg = `corraltest${process.pid}x${Date.now().toString(36)}`;
    await run('vgcreate', ['-q', ...NO_BACKUP, vg, device], { env: ENV });
    undo.push(() => run('vgremove', ['-q', '-f', ...NO_BACKUP, vg], { env: ENV }));
    return { vg, device, cleanup };
  } catch (error) {
    await cleanup().catch(() => undefined);
    throw error;
  }
}
