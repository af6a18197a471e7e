import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { nicModes } from '../cluster/model.js';
import { writeFileDurably } from '../common/durable-file.js';
import { CorralError } from '../common/errors.js';
import type { PlacedSpec } from './kvm-devices.js';
import { accels } from './kvm-params.js';
import { PCI_SLOTS } from './pci-slots.js';

/**
 * The runtime dir of one kvm instance: `<runDir>/instances/<name>/` holds QEMU's QMP and serial console
 * sockets, the pid file QEMU writes, QEMU's own output, and the record of what was started. Everything a
 * restarted daemon needs to find the instance again is here, and nothing else is.
 */

export interface RuntimePaths {
  readonly dir: string;
  readonly qmp: string;
  readonly console: string;
  readonly pid: string;
  readonly record: string;
  readonly log: string;
}

const pciSlot = z
  .number()
  .int()
  .min(0)
  .max(PCI_SLOTS - 1);

/**
 * What Corral started, with the devices plugged in or out since, each on its PCI slot; the live state comes
 * from QMP.
 */
export const runtimeRecordSchema = z.object({
  spec: z.object({
    name: z.string(),
    uuid: z.string(),
    memoryMiB: z.number(),
    vcpus: z.number(),
    disks: z.array(
      z.object({
        uuid: z.string(),
        path: z.string(),
        nbdExport: z.string().optional(),
        format: z.enum(['raw', 'qcow2']),
        readOnly: z.boolean(),
        pciSlot: pciSlot.optional(),
      }),
    ),
    nics: z.array(
      z.object({ uuid: z.string(), mac: z.string(), mode: z.enum(nicModes), link: z.string(), pciSlot }),
    ),
    hvParams: z.record(z.string(), z.string()),
  }),
  accel: z.enum(accels),
  /** When this node started the instance, or received it by migration. */
  startedMs: z.number(),
});
export type RuntimeRecord = z.infer<typeof runtimeRecordSchema>;

/** An error message quotes at most this many of QEMU's last lines. */
const logLinesQuotedMax = 3;

/** sun_path holds 108 bytes with the terminating NUL. */
const socketPathBytesMax = 107;

/** Instance names are host names; anything else could escape the runtime dir. */
const instanceName = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

export function instancesDir(runDir: string): string {
  return join(runDir, 'instances');
}

export function runtimePaths(runDir: string, name: string): RuntimePaths {
  if (!instanceName.test(name)) {
    throw new CorralError(
      'bad_request',
      `${name} is not a valid instance name (letters, digits, '.', '-', '_')`,
    );
  }
  const dir = join(instancesDir(runDir), name);
  return {
    dir,
    qmp: join(dir, 'qmp.sock'),
    console: join(dir, 'console.sock'),
    pid: join(dir, 'qemu.pid'),
    record: join(dir, 'instance.json'),
    log: join(dir, 'qemu.log'),
  };
}

/** Refuses a runtime dir whose socket paths the kernel cannot bind. */
export function checkSocketPaths(paths: RuntimePaths): void {
  for (const path of [paths.qmp, paths.console]) {
    if (Buffer.byteLength(path) > socketPathBytesMax) {
      throw new CorralError(
        'unavailable',
        `socket path ${path} is longer than ${socketPathBytesMax} bytes; give the kvm hypervisor a shorter run dir`,
      );
    }
  }
}

export async function writeRecord(
  paths: RuntimePaths,
  spec: PlacedSpec,
  record: Omit<RuntimeRecord, 'spec'>,
) {
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  const full: RuntimeRecord = {
    ...record,
    spec: { ...spec, disks: [...spec.disks], nics: [...spec.nics], hvParams: { ...spec.hvParams } },
  };
  await writeFileDurably(paths.record, new TextEncoder().encode(JSON.stringify(full)));
}

export async function readRecord(paths: RuntimePaths): Promise<RuntimeRecord | undefined> {
  let text: string;
  try {
    text = await readFile(paths.record, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const parsed = runtimeRecordSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new CorralError(
      'internal',
      `runtime record ${paths.record} is unreadable: ${parsed.error.message}`,
    );
  }
  return parsed.data;
}

/**
 * The pid of the QEMU that serves this runtime dir, or undefined when none runs. A pid alone is not
 * enough: after a reboot or a crash it may belong to another process, and an exited QEMU that nobody has
 * reaped yet is a zombie that still answers kill(pid, 0). Synchronous, because consolePath is: three reads
 * of small /proc files.
 */
export function livePid(paths: RuntimePaths): number | undefined {
  let pid: number;
  let stat: string;
  let cmdline: string;
  try {
    pid = Number.parseInt(readFileSync(paths.pid, 'utf8').trim(), 10);
    if (!Number.isSafeInteger(pid) || pid <= 1) return undefined;
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
  // The state letter follows the command name, which is in parentheses and may itself hold spaces.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  if (state === 'Z' || state === 'X') return undefined;
  return cmdline.split('\0').some((arg) => arg.includes(paths.qmp)) ? pid : undefined;
}

/** The names that have a runtime dir; some may have stopped since. */
export async function runtimeNames(runDir: string): Promise<string[]> {
  try {
    return (await readdir(instancesDir(runDir))).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

export async function removeRuntime(paths: RuntimePaths): Promise<void> {
  await rm(paths.dir, { recursive: true, force: true });
}

/** The size of QEMU's log now, so that an error can quote only what the next QEMU writes. */
export async function logSize(paths: RuntimePaths): Promise<number> {
  try {
    return (await stat(paths.log)).size;
  } catch {
    return 0;
  }
}

/** What QEMU wrote to its log after `offset`, as one line: its error messages say why it stopped. */
export async function logSince(paths: RuntimePaths, offset: number): Promise<string> {
  let text: string;
  try {
    text = (await readFile(paths.log)).subarray(offset).toString('utf8');
  } catch {
    return 'QEMU left no log';
  }
  // With -msg timestamp=on, every line starts with a stamp that says nothing here.
  const lines = text
    .split('\n')
    .map((line) => line.replace(/^\S+T\S+ /, '').trim())
    .filter((line) => line !== '');
  return lines.length === 0 ? 'QEMU printed nothing' : lines.slice(-logLinesQuotedMax).join(' / ');
}
