import { execFile, execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
/** The compiled entry point, as npm links it (npm test builds first). */
const entry = resolve('dist/src/cli/main.js');
/** A PATH whose first node is the one running the tests (Node 22), as `npx corral` has it. */
const withThisNode = [dirname(process.execPath), process.env.PATH ?? ''].join(delimiter);

describe('the installed entry point', () => {
  let links: string;
  beforeAll(async () => {
    links = await mkdtemp(join(tmpdir(), 'corral-bin-'));
    await symlink(entry, join(links, 'corral'));
    await symlink(entry, join(links, 'gnt-cluster'));
  });
  afterAll(async () => {
    await rm(links, { recursive: true, force: true });
  });

  it('is executable and runs by its shebang, as corral and as a gnt-* name', async () => {
    expect(statSync(entry).mode & 0o111).not.toBe(0);
    const env = { ...process.env, PATH: withThisNode };
    const corral = await run(join(links, 'corral'), ['--help'], { env });
    expect(corral.stdout).toMatch(/^corral <command>/);
    // Called as gnt-cluster, the family comes from the name: `gnt-cluster --help` is cluster's help.
    const gnt = await run(join(links, 'gnt-cluster'), ['--help'], { env });
    expect(gnt.stdout).toMatch(/getmaster/);
  });

  // This machine's system Node (Debian 12's) is older than the project's: the refusal is what a user of
  // `npm link` with it sees.
  const systemNode = '/usr/bin/node';
  const systemMajor = existsSync(systemNode)
    ? Number(execFileSync(systemNode, ['-p', 'process.versions.node'], { encoding: 'utf8' }).split('.')[0])
    : Number.NaN;
  it.skipIf(!(systemMajor < 22))('refuses an older Node in one line that says what to do', async () => {
    const failure = await run(systemNode, [entry, '--help']).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure).toMatchObject({ code: 1 });
    expect((failure as { stderr: string }).stderr.trim()).toMatch(
      /^corral: needs Node.js 22 or newer and this is v\d+\.\d+\.\d+; run 'npx corral' in the checkout/,
    );
  });
});
