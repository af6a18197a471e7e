import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { systemClock } from '../../src/common/clock.js';
import { silentLogger } from '../../src/common/log.js';
import { createKvmHypervisor } from '../../src/vm/kvm-hypervisor.js';
import { guestSpec, testGuest } from './kvm-guest.js';

/**
 * Runtime memory on kvm: Corral's QEMU command line has no virtio-balloon device, so QMP's query-balloon
 * fails and the change is refused with the way to make it instead.
 */
it('refuses to balloon a guest without a balloon device, and one that does not run', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'corral-kvm-balloon-'));
  const hv = createKvmHypervisor({ runDir: dir, clock: systemClock, log: silentLogger, accel: 'tcg' });
  try {
    await hv.start(guestSpec(testGuest(), 'mem1'));
    await expect(hv.setMemory('mem1', 64)).rejects.toThrow(
      'mem1 has no balloon device, so its memory cannot change while it runs; change it with -B memory=SIZE and restart it',
    );
    expect((await hv.status('mem1'))?.state).toBe('running');
    await expect(hv.setMemory('mem2', 64)).rejects.toThrow('mem2 is not running on this node');
  } finally {
    for (const inst of await hv.list()) await hv.stop(inst.name, { timeoutMs: 1_000, force: true });
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);
