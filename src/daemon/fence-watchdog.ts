import { spawn } from 'node:child_process';
import { openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { livePid, runtimePaths } from '../vm/kvm-runtime.js';
import { BOOT_ID_PATH, hostMonotonicNs, LEASE_FILE, savedLeaseSchema } from './lease-record.js';

/**
 * The node's fence watchdog (notes/leases.md): a process of its own, so that a daemon that hangs (stopped,
 * stuck in a loop, swapped out) still fences. It reads the fence time the daemon saves with every lease, on
 * the host's monotonic clock, and once that has passed kills the node's QEMU guests. It exits once the
 * daemon is gone and no guest is left to guard. Proxmox arms a hardware or kernel watchdog that resets the
 * whole host; this kills only the guests, and works where no watchdog device exists.
 */

const POLL_MS = 250;
const PID_FILE = 'fence-watchdog.pid';
/** The pid of the daemon the watchdog serves now: a restarted daemon takes over its predecessor's watchdog. */
const OWNER_FILE = 'fence-watchdog.owner';
const LOG_FILE = 'fence-watchdog.log';
// Named, not this module's own URL: in the CLI bundle the daemon's copy of this code sits in a chunk, beside
// the watchdog's own file of this name (scripts/bundle-cli.mjs); from the modules, the name is this file's.
const SCRIPT = fileURLToPath(new URL('./fence-watchdog.js', import.meta.url));

/** Whether the node's lease has run out: no lease saved, one of another boot, or its fence time passed. */
export function leaseRanOut(saved: string | undefined, bootId: string, nowNs: bigint): boolean {
  if (saved === undefined) return true;
  let parsed: unknown;
  try {
    parsed = JSON.parse(saved);
  } catch {
    return true;
  }
  const record = savedLeaseSchema.safeParse(parsed);
  return !record.success || record.data.bootId !== bootId || nowNs >= BigInt(record.data.fenceAtNs);
}

/** The QEMU processes of the node's guests, from the kvm hypervisor's runtime dirs. */
function liveGuests(kvmRunDir: string): { name: string; pid: number }[] {
  let names: string[];
  try {
    names = readdirSync(join(kvmRunDir, 'instances'));
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    try {
      const pid = livePid(runtimePaths(kvmRunDir, name));
      return pid === undefined ? [] : [{ name, pid }];
    } catch {
      return [];
    }
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** One look: kills the guests if the lease ran out; says whether there is still something to guard. */
export function watchOnce(dataDir: string, kvmRunDir: string, daemonPid: number, bootId: string): boolean {
  const guests = liveGuests(kvmRunDir);
  if (
    guests.length > 0 &&
    leaseRanOut(readOrUndefined(join(dataDir, LEASE_FILE)), bootId, hostMonotonicNs())
  ) {
    for (const guest of guests) {
      try {
        process.kill(guest.pid, 'SIGKILL');
        process.stderr.write(
          `${new Date().toISOString()} the node lease ran out: killed ${guest.name} (pid ${guest.pid})\n`,
        );
      } catch {
        // Gone already.
      }
    }
  }
  return alive(daemonPid) || guests.length > 0;
}

/**
 * Starts the node's watchdog unless one already runs for this data directory (a restarted daemon finds the
 * one its predecessor left, which guarded its guests meanwhile).
 */
export function startFenceWatchdog(dataDir: string, kvmRunDir: string): number {
  writeFileSync(join(dataDir, OWNER_FILE), `${process.pid}\n`, { mode: 0o600 });
  const pidFile = join(dataDir, PID_FILE);
  const running = Number.parseInt(readOrUndefined(pidFile) ?? '', 10);
  if (Number.isSafeInteger(running) && running > 1 && isWatchdog(running, dataDir)) return running;
  const log = openSync(join(dataDir, LOG_FILE), 'a', 0o600);
  const child = spawn(process.execPath, [SCRIPT, dataDir, kvmRunDir, String(process.pid)], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  child.unref();
  if (child.pid === undefined) throw new Error('could not start the fence watchdog');
  writeFileSync(pidFile, `${child.pid}\n`, { mode: 0o600 });
  return child.pid;
}

function isWatchdog(pid: number, dataDir: string): boolean {
  const cmdline = readOrUndefined(`/proc/${pid}/cmdline`)?.split('\0') ?? [];
  return cmdline.includes(SCRIPT) && cmdline.includes(dataDir);
}

async function main(args: readonly string[]): Promise<void> {
  const [dataDir, kvmRunDir, daemonPid] = args;
  if (dataDir === undefined || kvmRunDir === undefined || daemonPid === undefined) {
    process.stderr.write('usage: fence-watchdog DATA_DIR KVM_RUN_DIR DAEMON_PID (started by the daemon)\n');
    process.exit(2);
  }
  const bootId = readFileSync(BOOT_ID_PATH, 'utf8').trim();
  let daemon = Number.parseInt(daemonPid, 10);
  for (;;) {
    // A daemon restarted since took over this watchdog: follow the one the owner file names now.
    const current = Number.parseInt(readOrUndefined(join(dataDir, OWNER_FILE)) ?? '', 10);
    if (Number.isSafeInteger(current) && current > 1) daemon = current;
    if (!watchOnce(dataDir, kvmRunDir, daemon, bootId)) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

if (process.argv[1] === SCRIPT) await main(process.argv.slice(2));
