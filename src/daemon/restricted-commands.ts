import { execFile } from 'node:child_process';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { CorralError } from '../common/errors.js';

/**
 * Ganeti's restricted commands (gnt-node restricted-command): the master may run, on a node, only the
 * executables the node's administrator put in one directory, by name and without arguments. As Ganeti's
 * noded checks them: the directory and the file belong to root and no one else may write them, the file is
 * a regular executable, and the name is a plain word.
 */

export interface RestrictedCommands {
  /** Runs the command named; resolves with whether it succeeded and what it printed. */
  run(name: string, signal: AbortSignal): Promise<{ readonly ok: boolean; readonly output: string }>;
}

/** Ganeti's EXT_PLUGIN_MASK: no path, no dot, nothing a shell would read. */
export const RESTRICTED_COMMAND_NAME = /^[A-Za-z0-9_-]{1,128}$/;
const TIMEOUT_MS = 10 * 60_000;
const OUTPUT_BYTES = 1024 * 1024;

/** Refuses a path that is not root's alone: owned by someone else, or writable by group or others. */
async function rootsAlone(path: string, kind: 'directory' | 'file'): Promise<void> {
  const stat = await lstat(path).catch(() => undefined);
  if (stat === undefined) throw new CorralError('not_found', `${path} does not exist`);
  if (kind === 'directory' ? !stat.isDirectory() : !stat.isFile())
    throw new CorralError(
      'conflict',
      `${path} is not a ${kind === 'directory' ? 'directory' : 'regular file'}`,
    );
  if (stat.uid !== 0) throw new CorralError('conflict', `${path} is not owned by root`);
  if ((stat.mode & 0o022) !== 0) throw new CorralError('conflict', `${path} is writable by group or others`);
  if (kind === 'file' && (stat.mode & 0o100) === 0)
    throw new CorralError('conflict', `${path} is not executable`);
}

/** The commands of `dir` (Ganeti: /etc/ganeti/restricted-commands), each run in a fixed environment. */
export function directoryCommands(dir: string): RestrictedCommands {
  return {
    async run(name, signal) {
      if (!RESTRICTED_COMMAND_NAME.test(name))
        throw new CorralError(
          'bad_request',
          `${name} is not a restricted command name (letters, digits, - and _)`,
        );
      await rootsAlone(dir, 'directory');
      const path = join(dir, name);
      await rootsAlone(path, 'file');
      return new Promise((resolve) => {
        execFile(
          path,
          [],
          {
            cwd: '/',
            env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
            timeout: TIMEOUT_MS,
            killSignal: 'SIGKILL',
            maxBuffer: OUTPUT_BYTES,
            encoding: 'utf8',
            signal,
          },
          (error, stdout, stderr) => {
            const output = `${stdout}${stderr}`;
            if (error === null) resolve({ ok: true, output });
            else
              resolve({
                ok: false,
                output: `${output}${output.endsWith('\n') || output === '' ? '' : '\n'}${error.killed ? `killed after ${TIMEOUT_MS / 60_000} minutes` : `exited with ${error.code ?? error.signal ?? 'an error'}`}`,
              });
          },
        );
      });
    },
  };
}
