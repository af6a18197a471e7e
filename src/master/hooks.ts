import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CorralError } from '../common/errors.js';

/** Ganeti runs only scripts whose names match this; `x.sh` is skipped silently. */
const SCRIPT_NAME = /^[a-zA-Z0-9_-]+$/;
const HOOK_PATH = '/sbin:/bin:/usr/sbin:/usr/bin';
const OUTPUT_CAP_BYTES = 64 * 1024;

export interface HookScriptResult {
  readonly name: string;
  readonly exitCode?: number;
  readonly signal?: string;
  readonly timedOut: boolean;
  readonly output: string;
  readonly durationMs: number;
}

export interface HookEnvironmentInput {
  readonly phase: 'pre' | 'post';
  readonly hpath: string;
  readonly opCode: string;
  readonly objectType: string;
  readonly cluster: string;
  readonly master: string;
  readonly dataDir: string;
  readonly target: string;
  /** Per-operation variables, named without the GANETI_ prefix. */
  readonly extra: Readonly<Record<string, string>>;
}

/** The variables every hook gets (Ganeti's hooks version 2), plus the operation's own. */
export function hookEnvironment(input: HookEnvironmentInput): Record<string, string> {
  const env: Record<string, string> = {
    GANETI_HOOKS_VERSION: '2',
    GANETI_HOOKS_PHASE: input.phase,
    GANETI_HOOKS_PATH: input.hpath,
    GANETI_OP_CODE: input.opCode,
    GANETI_OBJECT_TYPE: input.objectType,
    GANETI_CLUSTER: input.cluster,
    GANETI_MASTER: input.master,
    GANETI_DATA_DIR: input.dataDir,
    GANETI_OP_TARGET: input.target,
  };
  for (const [key, value] of Object.entries(input.extra)) env[`GANETI_${key}`] = value;
  return env;
}

/**
 * Runs every executable of `<hooksDir>/<hpath>-<phase>.d/` in name order, with no arguments, stdin from
 * /dev/null and an environment of only PATH and the GANETI_ variables; each is killed after `timeoutMs`.
 * A missing directory means no hooks.
 */
export async function runHooks(options: {
  readonly hooksDir: string;
  readonly hpath: string;
  readonly phase: 'pre' | 'post';
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}): Promise<HookScriptResult[]> {
  for (const key of Object.keys(options.env)) {
    if (!key.startsWith('GANETI_'))
      throw new CorralError('bad_request', `hook variable ${key} lacks the GANETI_ prefix`);
  }
  const dir = join(options.hooksDir, `${options.hpath}-${options.phase}.d`);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => SCRIPT_NAME.test(name)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const results: HookScriptResult[] = [];
  for (const name of names) {
    const path = join(dir, name);
    if (!(await isExecutableFile(path))) continue;
    if (options.signal?.aborted) break;
    results.push(
      await runScript(name, path, { ...options.env, PATH: HOOK_PATH }, options.timeoutMs, options.signal),
    );
  }
  return results;
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

function runScript(
  name: string,
  path: string,
  env: Record<string, string>,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<HookScriptResult> {
  const startedMs = performance.now();
  return new Promise((resolve) => {
    const child = spawn(path, [], { env, stdio: ['ignore', 'pipe', 'pipe'], ...(signal && { signal }) });
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    const collect = (chunk: Buffer) => {
      if (size >= OUTPUT_CAP_BYTES) {
        truncated = true;
        return;
      }
      chunks.push(chunk.subarray(0, OUTPUT_CAP_BYTES - size));
      size += chunk.length;
      if (size > OUTPUT_CAP_BYTES) truncated = true;
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const finish = (exitCode: number | null, killedBy: NodeJS.Signals | null) => {
      clearTimeout(timer);
      const output = Buffer.concat(chunks).toString('utf8') + (truncated ? '\n[output truncated]' : '');
      resolve({
        name,
        ...(exitCode !== null && { exitCode }),
        ...(killedBy !== null && { signal: killedBy }),
        timedOut,
        output,
        durationMs: performance.now() - startedMs,
      });
    };
    child.once('error', (error) => {
      chunks.push(Buffer.from(`cannot run ${name}: ${error.message}`));
      finish(null, null);
    });
    child.once('close', finish);
  });
}
