import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/common/clock.js';
import { silentLogger } from '../../src/common/log.js';
import { stopAllGuests } from '../../src/vm/kvm-guests.js';
import { livePid, runtimePaths } from '../../src/vm/kvm-runtime.js';
import { processRuns } from './kvm-guest.js';

/** Starts a guest the way a daemon does, from a process that then exits, so that only its QEMU is left. */
function startOrphan(runDir: string, name: string): number {
  const viteNode = join('node_modules', 'vite-node', 'vite-node.mjs');
  execFileSync(process.execPath, [viteNode, join('test', 'vm', 'kvm-daemon-stand-in.ts'), runDir, name], {
    stdio: 'pipe',
    timeout: 60_000,
  });
  const pid = livePid(runtimePaths(runDir, name));
  if (pid === undefined) throw new Error(`the stand-in left no QEMU for ${name}`);
  return pid;
}

describe('stopping the guests a run dir holds, with no daemon', () => {
  let runDir: string;

  beforeEach(async () => {
    runDir = await mkdtemp(join(tmpdir(), 'corral-guests-'));
  });

  afterEach(async () => {
    await stopAllGuests({ runDir, clock: systemClock, log: silentLogger });
    await rm(runDir, { recursive: true, force: true });
  });

  it('ends every QEMU left running and says which, passing over runtime dirs whose QEMU is gone', async () => {
    const pids = [startOrphan(runDir, 'left1'), startOrphan(runDir, 'left2')];
    // What a QEMU killed earlier leaves: a runtime dir whose pid file names no QEMU.
    const gone = runtimePaths(runDir, 'gone1');
    await mkdir(gone.dir, { recursive: true });
    await writeFile(gone.pid, '999999999\n');

    const stops = await stopAllGuests({ runDir, clock: systemClock, log: silentLogger });

    expect(stops.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'left1', pid: pids[0] },
      { name: 'left2', pid: pids[1] },
    ]);
    for (const pid of pids) expect(processRuns(pid)).toBe(false);
    expect(existsSync(runtimePaths(runDir, 'left1').dir)).toBe(false);
    expect(existsSync(gone.dir)).toBe(true);
  }, 120_000);

  it('finds nothing to stop in a node that never ran a kvm guest', async () => {
    expect(
      await stopAllGuests({ runDir: join(runDir, 'none'), clock: systemClock, log: silentLogger }),
    ).toEqual([]);
  });
});
