import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { waitFor } from '../../src/common/wait.js';
import { leaseRanOut, watchOnce } from '../../src/daemon/fence-watchdog.js';
import { BOOT_ID_PATH, hostMonotonicNs, LEASE_FILE } from '../../src/daemon/lease-record.js';
import { runtimePaths } from '../../src/vm/kvm-runtime.js';

const bootId = readFileSync(BOOT_ID_PATH, 'utf8').trim();
const lease = (fenceAtNs: bigint, boot = bootId) =>
  JSON.stringify({ bootId: boot, fenceAtNs: fenceAtNs.toString() });

describe('the fence watchdog', () => {
  it('takes a lease as run out when there is none, it is of another boot, or its fence time has passed', () => {
    const now = 5_000_000_000n;
    expect(leaseRanOut(undefined, bootId, now)).toBe(true);
    expect(leaseRanOut('{not json', bootId, now)).toBe(true);
    expect(leaseRanOut(lease(now + 1n, 'another-boot'), bootId, now)).toBe(true);
    expect(leaseRanOut(lease(now), bootId, now)).toBe(true);
    expect(leaseRanOut(lease(now + 1n), bootId, now)).toBe(false);
  });

  const dirs: string[] = [];
  const processes: ChildProcess[] = [];
  afterEach(() => {
    for (const child of processes.splice(0)) child.kill('SIGKILL');
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** A node's data dir with one stand-in QEMU process whose command line names its QMP socket, as QEMU's does. */
  function node() {
    const dataDir = mkdtempSync(join(tmpdir(), 'corral-watchdog-'));
    dirs.push(dataDir);
    const kvmRunDir = join(dataDir, 'kvm');
    const paths = runtimePaths(kvmRunDir, 'guest1');
    mkdirSync(paths.dir, { recursive: true });
    const guest = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', paths.qmp], {
      stdio: 'ignore',
    });
    processes.push(guest);
    writeFileSync(paths.pid, `${guest.pid}\n`);
    const exited = new Promise<void>((resolve) => guest.once('exit', () => resolve()));
    return { dataDir, kvmRunDir, guest, exited };
  }

  it('kills the guests once the saved fence time has passed, and only then', async () => {
    const { dataDir, kvmRunDir, guest, exited } = node();
    // The kills the watchdog sends, seen as it sends them: no waiting to see whether something died.
    const kill = vi.spyOn(process, 'kill');
    writeFileSync(join(dataDir, LEASE_FILE), lease(hostMonotonicNs() + 60_000_000_000n));
    expect(watchOnce(dataDir, kvmRunDir, process.pid, bootId)).toBe(true);
    expect(kill.mock.calls.filter(([, signal]) => signal === 'SIGKILL')).toEqual([]);
    kill.mockRestore();
    writeFileSync(join(dataDir, LEASE_FILE), lease(hostMonotonicNs() - 1n));
    watchOnce(dataDir, kvmRunDir, process.pid, bootId);
    await exited;
    expect(guest.signalCode).toBe('SIGKILL');
    // Nothing left to guard and no daemon: the watchdog would stop.
    expect(watchOnce(dataDir, kvmRunDir, 2 ** 22 + 7, bootId)).toBe(false);
  });

  it('runs as a process of its own that fences while the daemon cannot', async () => {
    // The watchdog process runs the built script, as the daemon does.
    const { startFenceWatchdog } = (await import(
      // @ts-expect-error: built by `npm run build` before the real-daemon tests
      '../../dist/src/daemon/fence-watchdog.js'
    )) as typeof import('../../src/daemon/fence-watchdog.js');
    const { dataDir, kvmRunDir, exited } = node();
    writeFileSync(join(dataDir, LEASE_FILE), lease(hostMonotonicNs() + 1_000_000_000n));
    const watchdog = startFenceWatchdog(dataDir, kvmRunDir);
    processes.push({ kill: (signal: NodeJS.Signals) => process.kill(watchdog, signal) } as ChildProcess);
    expect(startFenceWatchdog(dataDir, kvmRunDir)).toBe(watchdog);
    let gone = false;
    void exited.then(() => (gone = true));
    await waitFor(() => (gone ? true : undefined), {
      timeoutMs: 10_000,
      what: 'the watchdog to kill the guest after the lease ran out',
    });
  });
});
