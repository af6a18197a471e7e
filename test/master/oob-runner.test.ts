import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CorralError } from '../../src/common/errors.js';
import { processOobRunner } from '../../src/master/oob-runner.js';

/** The master's runner of out-of-band programs: `<program> <command> <node>`, its output, its failures. */
describe('the process OOB runner', () => {
  let dir: string;
  const script = async (name: string, body: string) => {
    const path = join(dir, name);
    await writeFile(path, `#!/bin/sh\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  };
  const options = () => ({ timeoutMs: 2_000, signal: new AbortController().signal });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'corral-oob-runner-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes the command and the node name, and returns what the program prints', async () => {
    const echo = await script('echo.sh', 'printf \'{"args": "%s %s"}\' "$1" "$2"');
    expect(await processOobRunner.run(echo, 'power-status', 'node2', options())).toBe(
      '{"args": "power-status node2"}',
    );
  });

  it("fails with Ganeti's reason and output when the program fails, is missing or outlives its timeout", async () => {
    const failing = await script('fail.sh', 'echo "no BMC answers" >&2; exit 3');
    const failure = await processOobRunner
      .run(failing, 'health', 'node2', options())
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(CorralError);
    expect((failure as Error).message).toMatch(
      new RegExp(`^'${failing} health node2' failed with reason '.*'; output: no BMC answers$`),
    );
    const missing = await processOobRunner
      .run(join(dir, 'none.sh'), 'health', 'node2', options())
      .catch((e: unknown) => e);
    expect((missing as Error).message).toContain('ENOENT');
    const slow = await script('slow.sh', 'sleep 5');
    const timedOut = await processOobRunner
      .run(slow, 'power-on', 'node2', { ...options(), timeoutMs: 200 })
      .catch((e: unknown) => e);
    expect((timedOut as Error).message).toContain("failed with reason 'timed out after 0.2 s'");
  });
});
