import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/wait.js';
import { runHooks } from '../../src/daemon/hook-scripts.js';

let hooksDir: string;
const phaseDir = () => join(hooksDir, 'instance-start-pre.d');

beforeEach(async () => {
  hooksDir = await mkdtemp(join(tmpdir(), 'corral-hooks-'));
  await mkdir(phaseDir());
});
afterEach(async () => {
  await rm(hooksDir, { recursive: true, force: true });
});

async function script(name: string, body: string, mode = 0o755): Promise<void> {
  const path = join(phaseDir(), name);
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, mode);
}

const run = (env: Record<string, string> = {}, timeoutMs = 5_000, signal?: AbortSignal) =>
  runHooks({
    hooksDir,
    hpath: 'instance-start',
    phase: 'pre',
    env,
    timeoutMs,
    ...(signal !== undefined && { signal }),
  });

describe('runHooks', () => {
  it('runs the executables in name order and skips other names and files silently', async () => {
    await script('20-second', 'echo two');
    await script('10-first', 'echo one');
    await script('30_third', 'echo three');
    await script('x.sh', 'echo dotted');
    await script('40-not-executable', 'echo no', 0o644);
    await mkdir(join(phaseDir(), '50-a-directory'));
    const results = await run();
    expect(results.map((result) => [result.name, result.exitCode, result.output])).toEqual([
      ['10-first', 0, 'one\n'],
      ['20-second', 0, 'two\n'],
      ['30_third', 0, 'three\n'],
    ]);
  });

  it('runs nothing when the phase has no directory', async () => {
    await expect(
      runHooks({ hooksDir, hpath: 'node-add', phase: 'post', env: {}, timeoutMs: 1_000 }),
    ).resolves.toEqual([]);
  });

  it('gives scripts only PATH and the GANETI_ variables, no arguments and an empty stdin', async () => {
    process.env.CORRAL_HOOKS_TEST_LEAK = 'leaked';
    try {
      await script('10-env', 'echo "args=$#"; cat; exec /usr/bin/env');
      const [result] = await run({ GANETI_INSTANCE_NAME: 'inst1', GANETI_FORCE: 'False' });
      const lines = result!.output.trim().split('\n');
      expect(lines[0]).toBe('args=0');
      // dash exports PWD itself; nothing else may come in.
      expect(
        lines
          .slice(1)
          .filter((line) => !line.startsWith('PWD='))
          .sort(),
      ).toEqual(['GANETI_FORCE=False', 'GANETI_INSTANCE_NAME=inst1', 'PATH=/sbin:/bin:/usr/sbin:/usr/bin']);
    } finally {
      delete process.env.CORRAL_HOOKS_TEST_LEAK;
    }
  });

  it('refuses variables without the GANETI_ prefix', async () => {
    await expect(run({ PATH: '/tmp' })).rejects.toMatchObject({ code: 'bad_request' });
  });

  it('reports a failing script with its exit status and output, and runs the rest', async () => {
    await script('10-deny', 'echo "not today" >&2; exit 3');
    await script('20-after', 'echo ran');
    const [deny, after] = await run();
    expect(deny).toMatchObject({ name: '10-deny', exitCode: 3, timedOut: false, output: 'not today\n' });
    expect(after).toMatchObject({ name: '20-after', exitCode: 0 });
  });

  it('kills a script and what it started once the timeout passes', async () => {
    // The sleep is a child of the shell and holds the output pipe: only a group kill ends the wait.
    await script('10-slow', 'echo started; sleep 30; echo never');
    await script('20-next', 'echo next');
    const [slow, next] = await run({}, 300);
    expect(slow).toMatchObject({ name: '10-slow', timedOut: true, signal: 'SIGKILL', output: 'started\n' });
    expect(slow!.exitCode).toBeUndefined();
    expect(slow!.durationMs).toBeGreaterThanOrEqual(250);
    expect(slow!.durationMs).toBeLessThan(10_000);
    expect(next).toMatchObject({ exitCode: 0, timedOut: false });
  });

  it('caps the output of a script and says so', async () => {
    await script('10-chatty', "head -c 200000 /dev/zero | tr '\\0' x; echo tail >&2");
    const [result] = await run();
    expect(result!.exitCode).toBe(0);
    expect(result!.output).toBe(`${'x'.repeat(64 * 1024)}\n[output truncated after 65536 bytes]`);
  });

  it('kills the running script and rejects when the operation is canceled', async () => {
    const started = join(hooksDir, 'slow-started');
    await script('10-slow', `touch ${started}; sleep 30`);
    await script('20-never', 'echo never');
    const controller = new AbortController();
    const running = run({}, 60_000, controller.signal);
    // Cancels once the script is surely running, not after a guessed delay.
    await waitFor(() => (existsSync(started) ? true : undefined), {
      timeoutMs: 10_000,
      what: 'the script to start',
    });
    controller.abort();
    const startedMs = performance.now();
    await expect(running).rejects.toMatchObject({ code: 'aborted' });
    expect(performance.now() - startedMs).toBeLessThan(10_000);
  });
});
