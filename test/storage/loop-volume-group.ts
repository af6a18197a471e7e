import { execFile } from 'node:child_process';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * A throwaway LVM volume group on loop devices over sparse files, for testing `plain` for real. Needs root,
 * losetup and lvm2. Every step that succeeded is undone by cleanup, in reverse order, even after a failure.
 */
export interface LoopVolumeGroup {
  readonly vg: string;
  /** The loop devices of its physical volumes, the first one first. */
  readonly devices: readonly string[];
  /** Detaches the last physical volume's loop device, as a failed disk: the group then misses a volume. */
  loseLastDevice(): Promise<void>;
  cleanup(): Promise<void>;
}

const run = promisify(execFile);
/** No metadata backups in /etc/lvm for a group that lives a few seconds. */
const NO_BACKUP = ['--config', 'backup { backup = 0 archive = 0 }'];
const ENV = { ...process.env, LVM_SUPPRESS_FD_WARNINGS: '1', LC_ALL: 'C' };

/** A group of `devices` physical volumes of `sizeMiB` each. */
export async function makeLoopVolumeGroup(sizeMiB = 64, devices = 1): Promise<LoopVolumeGroup> {
  const undo: { device?: string; step: () => Promise<unknown> }[] = [];
  const cleanup = async () => {
    const errors: string[] = [];
    for (const { step } of undo.reverse()) await step().catch((error: Error) => errors.push(error.message));
    undo.length = 0;
    if (errors.length > 0) throw new Error(`loop volume group cleanup failed: ${errors.join('; ')}`);
  };
  try {
    const dir = await mkdtemp(join(tmpdir(), 'corral-lvm-'));
    undo.push({ step: () => rm(dir, { recursive: true, force: true }) });
    const loops: string[] = [];
    for (let i = 0; i < devices; i++) {
      const backing = join(dir, `pv${i}.img`);
      const file = await open(backing, 'w');
      await file.truncate(sizeMiB * 1024 * 1024);
      await file.close();
      const device = (await run('losetup', ['--find', '--show', backing], { env: ENV })).stdout.trim();
      undo.push({ device, step: () => run('losetup', ['--detach', device], { env: ENV }) });
      await run('pvcreate', ['-q', ...NO_BACKUP, device], { env: ENV });
      undo.push({
        device,
        step: () => run('pvremove', ['-q', '-ff', '-y', ...NO_BACKUP, device], { env: ENV }),
      });
      loops.push(device);
    }
    const vg = `corraltest${process.pid}x${Date.now().toString(36)}`;
    await run('vgcreate', ['-q', ...NO_BACKUP, vg, ...loops], { env: ENV });
    undo.push({ step: () => run('vgremove', ['-q', '-f', ...NO_BACKUP, vg], { env: ENV }) });
    const loseLastDevice = async () => {
      const lost = loops.pop();
      if (lost === undefined) throw new Error('the group has no device left to lose');
      await run('losetup', ['--detach', lost], { env: ENV });
      // Nothing of it is left to undo: its loop device is gone, and with it the volume's label.
      for (let i = undo.length - 1; i >= 0; i--) if (undo[i]?.device === lost) undo.splice(i, 1);
    };
    return { vg, devices: loops, loseLastDevice, cleanup };
  } catch (error) {
    await cleanup().catch(() => undefined);
    throw error;
  }
}
