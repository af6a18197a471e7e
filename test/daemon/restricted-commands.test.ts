import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directoryCommands } from '../../src/daemon/restricted-commands.js';

/** A node's restricted commands, run for real from a directory this test makes (as root, as CI runs). */
describe.runIf(process.getuid?.() === 0)('restricted commands from a directory', () => {
  let base: string;
  let dir: string;
  const signal = new AbortController().signal;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'corral-restricted-'));
    dir = join(base, 'restricted-commands');
    await mkdir(dir, { mode: 0o755 });
    await chmod(dir, 0o755);
    const script = async (name: string, body: string, mode = 0o755) => {
      await writeFile(join(dir, name), `#!/bin/sh\n${body}\n`);
      await chmod(join(dir, name), mode);
    };
    await script('hello', 'echo "hello from $(pwd)"; echo "args: $#"');
    await script('failing', 'echo broken >&2; exit 3');
    await script('shared', 'echo no', 0o775);
    await script('plain', 'echo no', 0o644);
  });
  afterAll(() => rm(base, { recursive: true, force: true }));

  it('runs a command by name, without arguments, from /, and reports a failure with its output', async () => {
    const commands = directoryCommands(dir);
    expect(await commands.run('hello', signal)).toEqual({ ok: true, output: 'hello from /\nargs: 0\n' });
    expect(await commands.run('failing', signal)).toEqual({ ok: false, output: 'broken\nexited with 3' });
  });

  it('refuses names with paths, files others may write or not run, and missing ones', async () => {
    const commands = directoryCommands(dir);
    await expect(commands.run('../hello', signal)).rejects.toThrow(
      '../hello is not a restricted command name (letters, digits, - and _)',
    );
    await expect(commands.run('shared', signal)).rejects.toThrow(
      `${join(dir, 'shared')} is writable by group or others`,
    );
    await expect(commands.run('plain', signal)).rejects.toThrow(`${join(dir, 'plain')} is not executable`);
    await expect(commands.run('none', signal)).rejects.toThrow(`${join(dir, 'none')} does not exist`);
    await chmod(dir, 0o777);
    await expect(commands.run('hello', signal)).rejects.toThrow(`${dir} is writable by group or others`);
    await chmod(dir, 0o755);
  });
});
