import { spawn } from 'node:child_process';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import type { Clock } from '../common/clock.js';
import { writeFileDurably } from '../common/durable-file.js';
import { CorralError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { type Accel, accels } from './kvm-params.js';

/**
 * Whether this node runs guests under KVM or under TCG (QEMU's emulator). /dev/kvm opening, and even
 * KVM_CREATE_VM succeeding, does not prove that a guest runs: on some machines (nested setups) a guest
 * under KVM hangs, while the same guest boots under TCG. So the verdict comes from booting a probe guest:
 * a 512-byte boot sector, made here, that SeaBIOS loads and that writes a marker to COM1 and halts. No
 * marker under KVM within the time limit means TCG. The verdict is cached in the run dir for as long as the
 * host kernel and the QEMU binary stay the same; `-H accel=` overrides it per instance.
 */

export const probeMarker = 'CORRAL-ACCEL-PROBE-OK';
const verdictFile = 'accel-verdict.json';
const probeImageFile = 'accel-probe.img';
/** SeaBIOS reaches the boot sector in well under a second under TCG; a working KVM is faster still. */
export const defaultProbeTimeoutMs = 5_000;
const outputBytesMax = 64 * 1024;

/**
 * The boot sector: real-mode code at 0x7c00 that prints the NUL-terminated marker on the first serial port
 * (0x3f8) a byte at a time, then halts for good. Hand-assembled; the offsets are in the comments.
 */
export function probeBootSector(): Uint8Array {
  const messageOffset = 0x17;
  const code = [
    [0x31, 0xc0], // 00: xor ax, ax
    [0x8e, 0xd8], // 02: mov ds, ax
    [0xfc], //       04: cld
    [0xba, 0xf8, 0x03], // 05: mov dx, 0x3f8
    [0xbe, messageOffset, 0x7c], // 08: mov si, 0x7c00 + messageOffset
    [0xac], //       0b: lodsb
    [0x84, 0xc0], // 0c: test al, al
    [0x74, 0x03], // 0e: jz 0x13
    [0xee], //       10: out dx, al
    [0xeb, 0xf8], // 11: jmp 0x0b
    [0xfa], //       13: cli
    [0xf4], //       14: hlt
    [0xeb, 0xfd], // 15: jmp 0x14
  ].flat();
  const sector = new Uint8Array(512);
  sector.set(code);
  sector.set(new TextEncoder().encode(`${probeMarker}\r\n\0`), messageOffset);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

export interface ProbeBootOptions {
  readonly qemuBinary: string;
  readonly accel: Accel;
  readonly timeoutMs: number;
  /** Where the boot sector image is written. */
  readonly workDir: string;
  readonly clock: Clock;
}

export interface ProbeBootResult {
  readonly booted: boolean;
  readonly elapsedMs: number;
  /** Why it did not boot: QEMU's last words, or the time limit. */
  readonly detail: string;
}

/** Boots the probe guest under one accelerator; never takes longer than the time limit. */
export async function probeBoot(options: ProbeBootOptions): Promise<ProbeBootResult> {
  const image = join(options.workDir, probeImageFile);
  await writeFile(image, probeBootSector());
  const startMs = options.clock.monotonicMs();
  const child = spawn(
    options.qemuBinary,
    [
      ['-nodefaults', '-no-user-config', '-display', 'none'],
      ['-machine', 'pc', '-accel', options.accel, '-m', '16'],
      ['-serial', 'stdio', '-drive', `file=${image.replaceAll(',', ',,')},format=raw,if=ide`],
    ].flat(),
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  let spawnError: Error | undefined;
  const outcome = await new Promise<{ booted: boolean; detail: string }>((resolve) => {
    const timer = options.clock.setTimer(options.timeoutMs, () =>
      resolve({ booted: false, detail: `no marker on the serial port within ${options.timeoutMs} ms` }),
    );
    const finish = (result: { booted: boolean; detail: string }) => {
      timer.cancel();
      resolve(result);
    };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout = (stdout + chunk).slice(-outputBytesMax);
      if (stdout.includes(probeMarker))
        finish({ booted: true, detail: 'the probe guest printed its marker' });
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-outputBytesMax);
    });
    child.on('error', (error) => {
      spawnError = error;
      finish({ booted: false, detail: error.message });
    });
    child.on('exit', () => {
      const said = stderr.trim().split('\n').at(-1) ?? '';
      finish({ booted: false, detail: `QEMU exited before the marker: ${said || 'no message'}` });
    });
  });
  const elapsedMs = options.clock.monotonicMs() - startMs;
  // Without QEMU there is no verdict to give, and none to cache.
  if (spawnError !== undefined) {
    throw new CorralError('unavailable', `${options.qemuBinary} cannot run: ${spawnError.message}`, {
      cause: spawnError,
    });
  }
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
  return { ...outcome, elapsedMs };
}

const verdictSchema = z.object({
  accel: z.enum(accels),
  reason: z.string(),
  probedAtMs: z.number(),
  /** The verdict holds for this host kernel and this QEMU only. */
  hostKernel: z.string(),
  qemuBinary: z.string(),
});
export type AccelVerdict = z.infer<typeof verdictSchema>;

export interface AccelVerdictOptions {
  readonly runDir: string;
  readonly qemuBinary: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly probeTimeoutMs?: number;
  /** The KVM device; tests point it elsewhere. */
  readonly kvmDevice?: string;
}

/** The node's acceleration verdict: from the cache when it still applies, else from a probe boot. */
export async function accelVerdict(options: AccelVerdictOptions): Promise<AccelVerdict> {
  const path = join(options.runDir, verdictFile);
  const cached = await readVerdict(path);
  if (cached !== undefined && cached.hostKernel === release() && cached.qemuBinary === options.qemuBinary) {
    return cached;
  }
  await mkdir(options.runDir, { recursive: true });
  const verdict = { ...(await decide(options)), probedAtMs: options.clock.wallMs() };
  const full: AccelVerdict = { ...verdict, hostKernel: release(), qemuBinary: options.qemuBinary };
  await writeFileDurably(path, new TextEncoder().encode(JSON.stringify(full)), 0o644);
  options.log.info({ accel: full.accel, reason: full.reason }, 'kvm: acceleration verdict');
  return full;
}

async function readVerdict(path: string): Promise<AccelVerdict | undefined> {
  try {
    const parsed = verdictSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
    // A cache from another version of this file is probed again, not trusted.
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

async function decide(options: AccelVerdictOptions): Promise<{ accel: Accel; reason: string }> {
  const device = options.kvmDevice ?? '/dev/kvm';
  try {
    await (await open(device, 'r+')).close();
  } catch (error) {
    return { accel: 'tcg', reason: `${device} cannot be opened (${(error as NodeJS.ErrnoException).code})` };
  }
  const probe = await probeBoot({
    qemuBinary: options.qemuBinary,
    accel: 'kvm',
    timeoutMs: options.probeTimeoutMs ?? defaultProbeTimeoutMs,
    workDir: options.runDir,
    clock: options.clock,
  });
  if (probe.booted) {
    return { accel: 'kvm', reason: `a probe guest booted under KVM in ${Math.round(probe.elapsedMs)} ms` };
  }
  return {
    accel: 'tcg',
    reason: `${device} opens, but a probe guest under KVM did not boot: ${probe.detail}`,
  };
}
