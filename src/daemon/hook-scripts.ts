import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Clock, systemClock } from '../common/clock.js';
import { CorralError } from '../common/errors.js';
import type { HookEnv, HookPhase } from '../master/hook-env.js';

/**
 * Runs the hook scripts of one phase on this node, with the environment the master built (master/hook-env.ts):
 * the only part of Ganeti's hooks that touches processes and files.
 */

/** Ganeti runs only scripts whose names match this; `x.sh` is skipped silently. */
const SCRIPT_NAME = /^[a-zA-Z0-9_-]+$/;
const HOOK_PATH = '/sbin:/bin:/usr/sbin:/usr/bin';
const OUTPUT_CAP_BYTES = 64 * 1024;
const TRUNCATED_MARKER = `\n[output truncated after ${OUTPUT_CAP_BYTES} bytes]`;

export interface HookScriptResult {
  readonly name: string;
  /** The exit status; absent when a signal (the timeout's included) ended the script, or it could not start. */
  readonly exitCode?: number;
  readonly signal?: string;
  readonly timedOut: boolean;
  /** stdout and stderr as they came, capped at 64 KiB with a marker after. */
  readonly output: string;
  readonly durationMs: number;
}

export interface RunHooksOptions {
  readonly hooksDir: string;
  readonly hpath: string;
  readonly phase: HookPhase;
  /** GANETI_ variables only; PATH is set here. */
  readonly env: HookEnv;
  /** Per script. */
  readonly timeoutMs: number;
  /** Kills the running script and rejects with 'aborted'. */
  readonly signal?: AbortSignal;
  readonly clock?: Clock;
}

/**
 * Runs every executable of `<hooksDir>/<hpath>-<phase>.d/` in name order, one at a time, with no arguments,
 * stdin from /dev/null and an environment of only PATH and the GANETI_ variables; each is killed, with
 * whatever it started, after `timeoutMs`. A failing script does not stop the rest: the caller decides.
 * A missing directory means no hooks.
 */
export async function runHooks(options: RunHooksOptions): Promise<HookScriptResult[]> {
  for (const key of Object.keys(options.env))
    if (!key.startsWith('GANETI_'))
      throw new CorralError('bad_request', `hook variable ${key} lacks the GANETI_ prefix`);
  const dir = join(options.hooksDir, `${options.hpath}-${options.phase}.d`);
  const env = { ...options.env, PATH: HOOK_PATH };
  const results: HookScriptResult[] = [];
  for (const name of await scriptNames(dir)) {
    const path = join(dir, name);
    if (!(await isExecutableFile(path))) continue;
    throwIfAborted(options.signal, name);
    results.push(await runScript(name, path, env, options));
    throwIfAborted(options.signal, name);
  }
  return results;
}

async function scriptNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((name) => SCRIPT_NAME.test(name)).sort();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw new CorralError('internal', `cannot list the hooks in ${dir} (${code}); check its permissions`, {
      cause: error,
    });
  }
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function throwIfAborted(signal: AbortSignal | undefined, name: string): void {
  if (signal?.aborted)
    throw new CorralError('aborted', `hooks stopped at ${name}: the operation was canceled`, {
      cause: signal.reason,
    });
}

function runScript(
  name: string,
  path: string,
  env: Record<string, string>,
  options: RunHooksOptions,
): Promise<HookScriptResult> {
  const clock = options.clock ?? systemClock;
  const startedMs = clock.monotonicMs();
  // Its own process group (and session, so no tty), so that a kill reaches whatever it started: a
  // grandchild holding the output pipe would otherwise keep us waiting.
  const child = spawn(path, [], { cwd: '/', env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const chunks: Buffer[] = [];
  let keptBytes = 0;
  let truncated = false;
  const collect = (chunk: Buffer) => {
    const room = OUTPUT_CAP_BYTES - keptBytes;
    if (chunk.length > room) truncated = true;
    if (room <= 0) return;
    chunks.push(chunk.subarray(0, room));
    keptBytes += Math.min(chunk.length, room);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);

  let timedOut = false;
  const killGroup = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  const timer = clock.setTimer(options.timeoutMs, () => {
    timedOut = true;
    killGroup();
  });
  options.signal?.addEventListener('abort', killGroup, { once: true });

  return new Promise((resolve) => {
    let startError: Error | undefined;
    child.once('error', (error) => {
      startError = error;
    });
    child.once('close', (exitCode: number | null, killedBy: NodeJS.Signals | null) => {
      timer.cancel();
      options.signal?.removeEventListener('abort', killGroup);
      const output = Buffer.concat(chunks).toString('utf8') + (truncated ? TRUNCATED_MARKER : '');
      resolve({
        name,
        ...(exitCode !== null && startError === undefined && { exitCode }),
        ...(killedBy !== null && { signal: killedBy }),
        timedOut,
        output: startError === undefined ? output : `cannot run ${name}: ${startError.message}`,
        durationMs: clock.monotonicMs() - startedMs,
      });
    });
  });
}
