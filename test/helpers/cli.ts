import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { cliEntryPoint, type DaemonProcess } from '../../src/daemon/local-cluster.js';

const run = promisify(execFile);

/** Runs the corral CLI against one daemon's control socket, as its local root user would. */
export function cli(daemon: DaemonProcess, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [cliEntryPoint(), ...args, '--socket', daemon.socketPath]);
}

/** Runs the CLI expecting a failure: exit 1 and one line on stderr, which it returns. */
export async function cliRefusal(daemon: DaemonProcess, ...args: string[]): Promise<string> {
  const failed = await cli(daemon, ...args).then(
    () => undefined,
    (error: { code: number; stderr: string }) => error,
  );
  expect(failed, `corral ${args.join(' ')} should fail`).toBeDefined();
  expect(failed!.code).toBe(1);
  expect(failed!.stderr.trim().split('\n')).toHaveLength(1);
  return failed!.stderr.trim();
}
