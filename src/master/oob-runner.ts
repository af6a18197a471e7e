import { execFile } from 'node:child_process';
import type { OobCommand } from '../cluster/oob.js';
import { CorralError } from '../common/errors.js';

/**
 * Where the master runs a node's out-of-band program: on its own host, as Ganeti's master does (its RPC
 * goes to the master's own node daemon). Behind an interface so the simulator can run OOB opcodes.
 */
export interface OobRunner {
  /**
   * Runs `program command node` and resolves with its standard output; rejects with a CorralError saying
   * why when it cannot start, exits non-zero or outlives the timeout (it is then killed).
   */
  run(
    program: string,
    command: OobCommand,
    node: string,
    options: { readonly timeoutMs: number; readonly signal: AbortSignal },
  ): Promise<string>;
}

/** A runaway program must not fill the master's memory. */
const MAX_OUTPUT_BYTES = 1024 * 1024;

/** Runs the program as a child process of the daemon. */
export const processOobRunner: OobRunner = {
  run: (program, command, node, { timeoutMs, signal }) =>
    new Promise((resolve, reject) => {
      execFile(
        program,
        [command, node],
        { timeout: timeoutMs, maxBuffer: MAX_OUTPUT_BYTES, signal, killSignal: 'SIGKILL' },
        (error, stdout, stderr) => {
          if (error === null) return resolve(stdout);
          const reason = error.killed
            ? `timed out after ${timeoutMs / 1000} s`
            : error.message.split('\n')[0];
          const output = `${stdout}${stderr}`.trim().slice(0, 500);
          reject(
            new CorralError(
              'unavailable',
              `'${program} ${command} ${node}' failed with reason '${reason}'; output: ${output}`,
              { cause: error },
            ),
          );
        },
      );
    }),
};
