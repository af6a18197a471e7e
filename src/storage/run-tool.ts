import { execFile } from 'node:child_process';
import { CorralError } from '../common/errors.js';

/**
 * Runs a storage tool (qemu-img, lvcreate, …) with an argument array and a small fixed environment, and turns
 * its failures into one line an operator can act on. The tools print machine-readable output on stdout.
 */

/** Where the tools are looked up: the daemon may run with a PATH that lacks the sbin directories. */
export const DEFAULT_TOOL_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const TOOL_TIMEOUT_MS = 120_000;
const OUTPUT_CAP_BYTES = 4 * 1024 * 1024;

export interface ToolOptions {
  /** The PATH the tool is searched in; DEFAULT_TOOL_PATH unless a test points it elsewhere. */
  readonly toolPath?: string;
  /** Said in the error when the tool is missing, e.g. "install qemu-utils". */
  readonly installHint: string;
}

/** Resolves with stdout; rejects with `unavailable` when the tool is missing, fails or hangs. */
export function runTool(command: string, args: readonly string[], options: ToolOptions): Promise<string> {
  // LC_ALL=C: numbers and messages in one format. The LVM variable silences a warning per inherited descriptor.
  const env = { PATH: options.toolPath ?? DEFAULT_TOOL_PATH, LC_ALL: 'C', LVM_SUPPRESS_FD_WARNINGS: '1' };
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { env, timeout: TOOL_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: OUTPUT_CAP_BYTES, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve(stdout);
          return;
        }
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') {
          reject(
            new CorralError(
              'unavailable',
              `${command} is not installed on this node (${options.installHint})`,
            ),
          );
          return;
        }
        const why = error.killed
          ? `no answer after ${TOOL_TIMEOUT_MS} ms`
          : (summary(stderr) ?? summary(stdout) ?? error.message);
        reject(
          new CorralError('unavailable', `${command} ${args[0] ?? ''} failed: ${why}`, { cause: error }),
        );
      },
    );
  });
}

const SUMMARY_CAP_CHARS = 300;

/** The tool's complaint on one line; LVM's closing "Run `lvcreate --help'" advice is noise here. */
function summary(text: string): string | undefined {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('Run `'));
  if (lines.length === 0) return undefined;
  const joined = lines.join('; ');
  return joined.length > SUMMARY_CAP_CHARS ? `${joined.slice(0, SUMMARY_CAP_CHARS)}…` : joined;
}
