import { spawn } from 'node:child_process';
import { type FileHandle, mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { asCorralError, CorralError } from '../common/errors.js';
import type { OsDefinition } from './os-definitions.js';

/**
 * Running a guest OS definition's scripts as Ganeti does (OS interface API 20): a wiped environment holding
 * only the documented variables and PATH, no arguments (but `verify parameters`), the OS directory as the
 * working directory, and the output kept for the job log and in a log file per run.
 */

/** What the scripts see of one disk. */
export interface OsInstanceDisk {
  /** Block device or file on this node; absent for a disk only userspace reaches. */
  readonly path?: string;
  readonly uri?: string;
  readonly uuid: string;
  readonly name?: string;
  readonly sizeMiB: number;
  readonly access: 'rw' | 'ro';
  /** `block`, or `file:<driver>` for file disks (Ganeti's loop, blktap, blktap2). */
  readonly backendType?: string;
}

export interface OsInstanceNic {
  readonly mac: string;
  readonly ip?: string;
  /** bridged, routed or openvswitch. */
  readonly mode: string;
  /** The bridge, switch or routing table. */
  readonly link: string;
  readonly uuid: string;
  readonly name?: string;
}

export interface OsInstance {
  readonly name: string;
  readonly uuid: string;
  /** As configured, with `+variant` when one was given. */
  readonly os: string;
  readonly hypervisor: string;
  readonly primaryNode: string;
  readonly secondaryNodes: readonly string[];
  readonly ctimeMs: number;
  readonly mtimeMs: number;
  readonly disks: readonly OsInstanceDisk[];
  readonly nics: readonly OsInstanceNic[];
  /** Filled backend parameters (memory, vcpus, auto_balance, …). */
  readonly beParams: Readonly<Record<string, string | number | boolean>>;
  /** Filled hypervisor parameters. */
  readonly hvParams: Readonly<Record<string, string>>;
  readonly osParams: Readonly<Record<string, string>>;
}

/**
 * The environment of Ganeti's OSEnvironment, variable for variable. `extra` adds the script's own
 * (INSTANCE_REINSTALL, OLD_INSTANCE_NAME, IMPORT_DEVICE, …); it cannot replace one of these.
 */
export function osEnvironment(
  os: OsDefinition,
  variant: string | undefined,
  instance: OsInstance,
  extra: Readonly<Record<string, string>> = {},
  debugLevel: 0 | 1 = 0,
): Record<string, string> {
  const env: Record<string, string> = {
    OS_API_VERSION: String(os.apiVersion),
    OS_NAME: os.name,
    INSTANCE_OS: instance.os,
    // Variants came with API 15; an OS without them gets an empty variable, as in Ganeti.
    OS_VARIANT: os.apiVersion >= 15 && os.variants.length > 0 ? (variant ?? os.variants[0]!) : '',
    DEBUG_LEVEL: String(debugLevel),
    INSTANCE_NAME: instance.name,
    INSTANCE_UUID: instance.uuid,
    INSTANCE_CTIME: pythonSeconds(instance.ctimeMs),
    INSTANCE_MTIME: pythonSeconds(instance.mtimeMs),
    INSTANCE_PRIMARY_NODE: instance.primaryNode,
    INSTANCE_SECONDARY_NODES: instance.secondaryNodes.join(' '),
    HYPERVISOR: instance.hypervisor,
    DISK_COUNT: String(instance.disks.length),
    NIC_COUNT: String(instance.nics.length),
  };
  const diskType = instance.hvParams.disk_type;
  const nicType = instance.hvParams.nic_type;
  instance.disks.forEach((disk, i) => {
    const prefix = `DISK_${i}_`;
    if (disk.path !== undefined) env[`${prefix}PATH`] = disk.path;
    if (disk.uri !== undefined) env[`${prefix}URI`] = disk.uri;
    env[`${prefix}ACCESS`] = disk.access;
    env[`${prefix}UUID`] = disk.uuid;
    if (disk.name) env[`${prefix}NAME`] = disk.name;
    env[`${prefix}SIZE`] = String(disk.sizeMiB);
    if (diskType !== undefined) env[`${prefix}FRONTEND_TYPE`] = diskType;
    if (disk.backendType !== undefined) env[`${prefix}BACKEND_TYPE`] = disk.backendType;
  });
  instance.nics.forEach((nic, i) => {
    const prefix = `NIC_${i}_`;
    env[`${prefix}MAC`] = nic.mac;
    env[`${prefix}UUID`] = nic.uuid;
    if (nic.name) env[`${prefix}NAME`] = nic.name;
    if (nic.ip) env[`${prefix}IP`] = nic.ip;
    env[`${prefix}MODE`] = nic.mode;
    if (nic.mode === 'bridged') env[`${prefix}BRIDGE`] = nic.link;
    if (nic.link) env[`${prefix}LINK`] = nic.link;
    if (nicType !== undefined) env[`${prefix}FRONTEND_TYPE`] = nicType;
  });
  for (const [key, value] of Object.entries(instance.beParams))
    env[`INSTANCE_BE_${key}`] = pythonString(value);
  for (const [key, value] of Object.entries(instance.hvParams)) env[`INSTANCE_HV_${key}`] = hvString(value);
  for (const [key, value] of Object.entries(instance.osParams))
    env[`OSP_${key.toUpperCase().replaceAll('-', '_')}`] = value;
  for (const [key, value] of Object.entries(extra)) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(key) || key in env)
      throw new CorralError('internal', `OS script variable ${key} is not a new upper-case name`);
    env[key] = value;
  }
  return env;
}

/** Ganeti prints values with Python's str(): True/False for booleans. */
function pythonString(value: string | number | boolean): string {
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return String(value);
}

/**
 * Hypervisor parameters arrive as the strings the user typed, where Ganeti holds typed values: a boolean one
 * (`serial_console=true`) must read True/False, as scripts test it (debootstrap: `= "True"`).
 */
function hvString(value: string): string {
  if (value === 'true') return 'True';
  if (value === 'false') return 'False';
  return value;
}

/** Ganeti's ctime and mtime are float seconds, printed by str(): 1700000000.25, or 1700000000.0. */
function pythonSeconds(ms: number): string {
  const seconds = ms / 1000;
  return Number.isInteger(seconds) ? `${seconds}.0` : String(seconds);
}

export type OsScript = 'create' | 'import' | 'export' | 'rename' | 'verify';

export interface OsRunOptions {
  /** The script and everything it started are killed (SIGKILL to its process group) after this. */
  readonly timeoutMs: number;
  /** Kills the script, then rejects with `aborted`. */
  readonly signal?: AbortSignal;
  /** The dump that `import` reads. */
  readonly stdin?: AsyncIterable<Uint8Array>;
  /** The dump that `export` writes; when it returns a promise, reading waits for it (backpressure). */
  readonly stdout?: (chunk: Uint8Array) => void | Promise<void>;
  /** Where the run's log file goes (Ganeti's /var/log/ganeti/os); none when absent. */
  readonly logDir?: string;
  /** Each line of output as it comes, for the job log. */
  readonly onLine?: (line: string) => void;
}

export interface OsRunResult {
  /** Absent when a signal ended the script. */
  readonly exitCode: number | undefined;
  readonly signal?: string;
  readonly timedOut: boolean;
  /** stdout and stderr as they came (not export's dump), the tail only past OUTPUT_CAP_BYTES. */
  readonly output: string;
  readonly logFile?: string;
}

/** Ganeti's PATH for OS scripts and hooks. */
export const OS_SCRIPT_PATH = '/sbin:/bin:/usr/sbin:/usr/bin';
const OUTPUT_CAP_BYTES = 256 * 1024;
const LOG_CAP_BYTES = 16 * 1024 * 1024;
const LINE_CAP_CHARS = 4096;
/** After a kill, how long the output pipes may stay open before we stop reading them. */
const KILL_GRACE_MS = 1_000;
/** Ganeti names log files after the operation: `add` for create. */
const LOG_KIND: Record<OsScript, string> = {
  create: 'add',
  import: 'import',
  export: 'export',
  rename: 'rename',
  verify: 'verify',
};

/**
 * Runs one script of the OS and resolves with how it ended; a non-zero exit is for the caller to judge.
 * Rejects when the script cannot start, when the run is aborted, or when the dump's source or sink fails.
 */
export async function runOsScript(
  os: OsDefinition,
  script: OsScript,
  env: Readonly<Record<string, string>>,
  options: OsRunOptions,
): Promise<OsRunResult> {
  const what = `${script} of OS ${os.name}${env.INSTANCE_NAME ? ` for ${env.INSTANCE_NAME}` : ''}`;
  if (script === 'verify' && Math.max(...os.apiVersions) < 20)
    // Ganeti validates parameters only with API 20 definitions; older ones have no verify script.
    return {
      exitCode: 0,
      timedOut: false,
      output: `OS ${os.name} declares API ${Math.max(...os.apiVersions)}, which has no verify script: nothing to check`,
    };
  if (script === 'import' && options.stdin === undefined)
    throw new CorralError('internal', `${what}: import needs the dump as its standard input`);
  if (script === 'export' && options.stdout === undefined)
    throw new CorralError('internal', `${what}: export needs somewhere to write the dump`);
  const path = join(os.dir, script);
  if (script === 'create' && !(await isFile(path)))
    throw new CorralError(
      'unavailable',
      `OS ${os.name} has only create_untrusted, which Ganeti runs in its install helper VM; Corral runs create scripts only`,
    );
  if (options.signal?.aborted) throw new CorralError('aborted', `${what} was canceled before it started`);

  const log = options.logDir === undefined ? undefined : await openLog(options.logDir, script, os, env);
  const output = new OutputTail(OUTPUT_CAP_BYTES);
  let failure: unknown;
  const lineOut = (line: string) => {
    if (failure !== undefined || options.onLine === undefined) return;
    try {
      options.onLine(line);
    } catch (error) {
      fail(error);
    }
  };
  const lines = { out: new LineSplitter(lineOut), err: new LineSplitter(lineOut) };

  // Its own process group (and session, so no tty), so that a kill reaches whatever it started.
  const child = spawn(path, script === 'verify' ? ['parameters'] : [], {
    cwd: os.dir,
    env: { ...env, PATH: OS_SCRIPT_PATH },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  const killGroup = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  // After a kill, what is still in the pipes is read for a moment; a process that escaped the group (its own
  // session) could hold them open forever, so then we stop reading.
  let grace: NodeJS.Timeout | undefined;
  const stop = () => {
    killGroup();
    grace ??= setTimeout(() => {
      child.stdout.destroy();
      child.stderr.destroy();
    }, KILL_GRACE_MS);
  };
  function fail(error: unknown): void {
    failure ??= error;
    stop();
  }

  const take = (splitter: LineSplitter) => (chunk: Buffer) => {
    output.push(chunk);
    log?.write(chunk);
    splitter.push(chunk);
  };
  child.stderr.on('data', take(lines.err));
  if (script === 'export') {
    const sink = options.stdout!;
    child.stdout.on('data', (chunk: Buffer) => {
      if (failure !== undefined) return;
      try {
        const pending = sink(chunk);
        if (pending === undefined) return;
        child.stdout.pause();
        pending.then(() => child.stdout.resume(), fail);
      } catch (error) {
        fail(error);
      }
    });
  } else {
    child.stdout.on('data', take(lines.out));
  }
  // The script may exit before it reads all of its input, or fail to start: not an error of ours.
  child.stdin.on('error', () => undefined);
  // Only import reads anything: the others find their standard input at its end at once.
  if (script === 'import')
    pipeline(Readable.from(options.stdin!), child.stdin).catch((error: NodeJS.ErrnoException) => {
      // The script stopped reading (it exited, or was killed): its exit status tells how it went.
      if (!['EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED'].includes(error.code ?? ''))
        fail(error);
    });
  else child.stdin.end();

  let exited = false;
  let timedOut = false;
  let heldOpen = false;
  const timer = setTimeout(() => {
    // Once the script has exited, the timeout ends only what it left running with our output open.
    if (exited) heldOpen = true;
    else timedOut = true;
    stop();
  }, options.timeoutMs);
  let aborted = false;
  const onAbort = () => {
    aborted = true;
    stop();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; startError?: Error }>(
    (resolve) => {
      let startError: Error | undefined;
      child.once('error', (error) => {
        startError = error;
      });
      child.once('exit', () => {
        exited = true;
      });
      // After the exit and the end of both output pipes, so that no output is lost.
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        resolve({ code, signal, ...(startError !== undefined && { startError }) });
      });
    },
  );
  clearTimeout(timer);
  clearTimeout(grace);
  options.signal?.removeEventListener('abort', onAbort);
  child.stdin.destroy();
  lines.out.end();
  lines.err.end();
  if (heldOpen) {
    const note = `[the script exited, but a process it left running kept its output open until the ${options.timeoutMs} ms timeout; output after that is not kept]`;
    output.push(Buffer.from(`${note}\n`));
    log?.write(Buffer.from(`${note}\n`));
    lineOut(note);
  }
  const logFile = await log?.close();

  if (ended.startError !== undefined)
    throw new CorralError('unavailable', `cannot run ${what}: ${ended.startError.message}`, {
      cause: ended.startError,
    });
  if (aborted) throw new CorralError('aborted', `${what} was canceled; the script was killed`);
  if (failure !== undefined) {
    const error = asCorralError(failure);
    throw new CorralError(error.code, `${what} stopped: ${error.message}`, { cause: failure });
  }
  return {
    exitCode: ended.code ?? undefined,
    ...(ended.signal !== null && { signal: ended.signal }),
    timedOut,
    output: output.text(logFile),
    ...(logFile !== undefined && { logFile }),
  };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** The last capBytes of the output, and how much came before them. */
class OutputTail {
  private readonly chunks: Buffer[] = [];
  private keptBytes = 0;
  private droppedBytes = 0;

  constructor(private readonly capBytes: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.keptBytes += chunk.length;
    while (this.keptBytes > this.capBytes) {
      const first = this.chunks[0]!;
      const excess = this.keptBytes - this.capBytes;
      if (first.length <= excess) {
        this.chunks.shift();
        this.keptBytes -= first.length;
        this.droppedBytes += first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.keptBytes -= excess;
        this.droppedBytes += excess;
      }
    }
  }

  text(logFile: string | undefined): string {
    const tail = Buffer.concat(this.chunks).toString('utf8');
    if (this.droppedBytes === 0) return tail;
    const where = logFile === undefined ? '' : `; all of it is in ${logFile}`;
    return `[output cut: the first ${this.droppedBytes} bytes are not shown${where}]\n${tail}`;
  }
}

/** Whole lines of one stream, decoded as UTF-8; an endless line is passed on in pieces. */
class LineSplitter {
  private readonly decoder = new TextDecoder('utf-8');
  private partial = '';

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer): void {
    this.split(this.partial + this.decoder.decode(chunk, { stream: true }));
  }

  end(): void {
    this.split(this.partial + this.decoder.decode());
    if (this.partial !== '') this.onLine(this.partial);
    this.partial = '';
  }

  private split(text: string): void {
    const lines = text.split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) this.onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
    while (this.partial.length > LINE_CAP_CHARS) {
      this.onLine(this.partial.slice(0, LINE_CAP_CHARS));
      this.partial = this.partial.slice(LINE_CAP_CHARS);
    }
  }
}

interface RunLog {
  write(chunk: Buffer): void;
  /** Resolves with the file's path once everything is on disk. */
  close(): Promise<string>;
}

/**
 * Ganeti's log file for one run: `<operation>-<os>-<instance>[-<disk>]-<YYYY-MM-DD_HH_MM_SS>.log`, the OS as
 * the instance names it (with its variant), the disk index for import and export. A second run in the same
 * second gets a numbered name instead of overwriting the first.
 */
async function openLog(
  logDir: string,
  script: OsScript,
  os: OsDefinition,
  env: Readonly<Record<string, string>>,
): Promise<RunLog> {
  await mkdir(logDir, { recursive: true, mode: 0o750 });
  const disk = script === 'import' ? env.IMPORT_INDEX : script === 'export' ? env.EXPORT_INDEX : undefined;
  const parts = [LOG_KIND[script], env.INSTANCE_OS || os.name, env.INSTANCE_NAME || 'unknown'];
  if (disk !== undefined) parts.push(disk);
  const base = `${parts.map(safeName).join('-')}-${timestampForFilename(new Date())}`;
  let handle: FileHandle | undefined;
  let path = '';
  for (let attempt = 1; handle === undefined; attempt++) {
    path = join(logDir, attempt === 1 ? `${base}.log` : `${base}.${attempt}.log`);
    try {
      handle = await open(path, 'wx', 0o640);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 100) throw error;
    }
  }
  const stream = handle.createWriteStream();
  let loggedBytes = 0;
  return {
    write(chunk) {
      if (loggedBytes >= LOG_CAP_BYTES) return;
      const room = LOG_CAP_BYTES - loggedBytes;
      stream.write(chunk.subarray(0, room));
      loggedBytes += Math.min(room, chunk.length);
      if (loggedBytes >= LOG_CAP_BYTES) stream.write(`\n[log cut after ${LOG_CAP_BYTES} bytes]\n`);
    },
    close() {
      return new Promise((resolve, reject) => {
        stream.once('error', reject);
        stream.end(() => resolve(path));
      });
    },
  };
}

function safeName(part: string): string {
  return part.replace(/[^A-Za-z0-9._+-]/g, '_');
}

/** Python's time.strftime("%Y-%m-%d_%H_%M_%S"), in local time as Ganeti writes it. */
function timestampForFilename(date: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}_${two(date.getHours())}_${two(date.getMinutes())}_${two(date.getSeconds())}`;
}
