import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { CorralError } from '../../src/common/errors.js';
import type { AttachedDisk, InstanceSpec } from '../../src/vm/hypervisor.js';

/** The guest that scripts/test-guest.sh builds: Debian's cloud kernel and a busybox initramfs. */
export const guestReadyMarker = 'CORRAL-GUEST-READY';

export interface TestGuest {
  readonly kernel: string;
  readonly initrd: string;
}

/** Finds the guest where the script puts it; a missing guest fails the suite with what to run. */
export function testGuest(): TestGuest {
  const dir = process.env.CORRAL_TEST_GUEST_DIR ?? '/var/cache/corral/test-guest';
  const guest = { kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initramfs.cpio.gz') };
  if (!existsSync(guest.kernel) || !existsSync(guest.initrd)) {
    throw new Error(
      `no test guest in ${dir}: run scripts/test-guest.sh ${dir} (or set CORRAL_TEST_GUEST_DIR)`,
    );
  }
  return guest;
}

export function guestSpec(
  guest: TestGuest,
  name: string,
  options: { hvParams?: Record<string, string>; disks?: AttachedDisk[] } = {},
): InstanceSpec {
  return {
    name,
    uuid: randomUUID(),
    memoryMiB: 128,
    vcpus: 1,
    disks: options.disks ?? [],
    nics: [],
    // Ganeti's default of 32 MiB/s would spend seconds of the suite on each migration of this guest.
    hvParams: {
      kernel_path: guest.kernel,
      initrd_path: guest.initrd,
      migration_bandwidth: '1000',
      ...options.hvParams,
    },
  };
}

/** A client of an instance's serial console socket that remembers what the guest printed. */
export interface ConsoleReader {
  /** Resolves once `text` has been printed `count` times since the reader attached. */
  waitFor(text: string, timeoutMs: number, count?: number): Promise<void>;
  /** Types into the guest's shell on the console. */
  write(text: string): void;
  /** Everything the guest printed since the reader attached. */
  output(): string;
  close(): void;
}

export async function attachConsole(path: string): Promise<ConsoleReader> {
  const socket: Socket = createConnection({ path });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let output = '';
  const listeners = new Set<() => void>();
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    for (const listener of listeners) listener();
  });
  return {
    waitFor(text, timeoutMs, count = 1) {
      const seen = () => output.split(text).length - 1 >= count;
      return new Promise((resolve, reject) => {
        const done = () => {
          if (!seen()) return;
          clearTimeout(timer);
          listeners.delete(done);
          resolve();
        };
        const timer = setTimeout(() => {
          listeners.delete(done);
          reject(new CorralError('timeout', `the console did not show ${text} ×${count} in ${timeoutMs} ms`));
        }, timeoutMs);
        listeners.add(done);
        done();
      });
    },
    write: (text) => socket.write(text),
    output: () => output,
    close: () => socket.destroy(),
  };
}

/** Whether the process runs: an exited QEMU whose parent is gone may linger as a zombie until init reaps it. */
export function processRuns(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

/** Where the test guests write their sequence numbers: 8 MiB into their first disk, one 512-byte sector. */
const SEQ_SECTOR = 16384;

/**
 * A guest shell loop writing SEQ-n from `start + 1` on to its disk, flushed (fsync), and printing PRINTED-n
 * on its console once the write returned: a number printed is a write the guest saw acknowledged.
 */
export function seqWriterLoop(start: number): string {
  return `i=${start}; while true; do i=$((i+1)); echo SEQ-$i | dd of=/dev/vda bs=512 seek=${SEQ_SECTOR} conv=sync,fsync 2>/dev/null && echo PRINTED-$i; sleep 0.1; done &\n`;
}

/** The last sequence number a disk image holds (0 when none). */
export async function seqInImage(path: string): Promise<number> {
  const file = await open(path, 'r');
  try {
    const sector = Buffer.alloc(512);
    await file.read(sector, 0, 512, SEQ_SECTOR * 512);
    return Number(/SEQ-(\d+)/.exec(sector.toString('latin1'))?.[1] ?? 0);
  } finally {
    await file.close();
  }
}
