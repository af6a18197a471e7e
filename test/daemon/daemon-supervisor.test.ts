import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/wait.js';
import { type DaemonSupervisor, superviseDaemons } from '../../src/daemon/daemon-supervisor.js';
import { spawnLocalNodes } from '../../src/daemon/local-cluster.js';

/** One unjoined daemon on 127.0.0.72: what the supervisor does is the same for a cluster member. */
describe('the dev cluster supervisor', () => {
  let baseDir: string;
  let supervisor: DaemonSupervisor | undefined;
  const lines: string[] = [];

  beforeEach(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-supervisor-'));
    lines.length = 0;
  });

  afterEach(async () => {
    await supervisor?.stop();
    await rm(baseDir, { recursive: true, force: true });
  });

  const said = (pattern: RegExp) =>
    waitFor(() => lines.find((line) => pattern.test(line)), { timeoutMs: 30_000, what: `a line ${pattern}` });

  it('says when a daemon dies and brings it back, then gives up with the command to start it by hand', async () => {
    const daemons = await spawnLocalNodes({ baseDir, nodes: 1, firstHost: 72 });
    const first = daemons[0]!;
    const nodeId = (await first.status()).nodeId;
    supervisor = superviseDaemons(daemons, { maxRestarts: 1, say: (line) => lines.push(line) });

    process.kill(first.pid!, 'SIGKILL');
    expect(await said(/^node1 died/)).toBe(`node1 died (killed by SIGKILL); its log is ${first.logPath}`);
    expect(await said(/^node1 is back/)).toMatch(/^node1 is back \(pid \d+; restart 1 of 1\)$/);
    const second = supervisor.daemons()[0]!;
    expect(second.pid).not.toBe(first.pid);
    // The same node: its identity is in the data dir it came back on.
    expect((await second.status()).nodeId).toBe(nodeId);

    process.kill(second.pid!, 'SIGKILL');
    const gaveUp = await said(/gave up/);
    expect(gaveUp).toMatch(/^node1: gave up after 1 restart; to start it by hand: \S+ /);
    expect(gaveUp).toContain(`daemon --data-dir ${join(baseDir, 'node1')} --listen /ip4/127.0.0.72/tcp/`);
    expect(gaveUp).toContain(`>>${first.logPath} 2>&1 &`);
    expect(lines.filter((line) => line.includes('died'))).toHaveLength(2);
  }, 60_000);

  it('does not restart a daemon that exited cleanly', async () => {
    const daemons = await spawnLocalNodes({ baseDir, nodes: 1, firstHost: 73 });
    supervisor = superviseDaemons(daemons, { maxRestarts: 3, say: (line) => lines.push(line) });
    // SIGTERM is how a daemon ends itself (removed from its cluster): it exits 0.
    await daemons[0]!.stop('SIGTERM');
    expect(await said(/stopped itself/)).toMatch(
      /^node1 stopped itself, so it is not restarted; to start it/,
    );
    expect(lines[0]).toBe(`node1 died (exit code 0); its log is ${daemons[0]!.logPath}`);
    expect(supervisor.daemons()[0]).toBe(daemons[0]);
  }, 60_000);
});
