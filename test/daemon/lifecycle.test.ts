import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/wait.js';
import { DaemonProcess, startLocalCluster } from '../../src/daemon/local-cluster.js';
import { IDENTITY_FILE, loadOrCreateIdentity } from '../../src/peer/identity.js';

describe('a daemon across its life', () => {
  let baseDir: string;
  let daemons: DaemonProcess[];

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-lifecycle-'));
    daemons = await startLocalCluster({ baseDir, nodes: 2, firstHost: 80 });
  });

  afterAll(async () => {
    await Promise.all((daemons ?? []).map((daemon) => daemon.stop('SIGKILL')));
    await rm(baseDir, { recursive: true, force: true });
  });

  const allConnected = (daemon: DaemonProcess, count: number) =>
    waitFor(
      async () => {
        const { members } = await daemon.status();
        return members.length === count && members.every((member) => member.connected) ? true : undefined;
      },
      { timeoutMs: 30_000, what: `${daemon.options.name} to see ${count} connected members` },
    );

  it('keeps its key private and its identity stable', async () => {
    const dataDir = daemons[0]!.options.dataDir;
    const mode = (await stat(join(dataDir, IDENTITY_FILE))).mode & 0o777;
    expect(mode.toString(8)).toBe('600');
    expect((await loadOrCreateIdentity(dataDir)).nodeId).toBe((await daemons[0]!.status()).nodeId);
  });

  it('shuts down cleanly on SIGTERM and comes back a member', async () => {
    const node2 = daemons[1]!;
    expect(await node2.stop('SIGTERM')).toBe(0);
    expect(existsSync(node2.socketPath)).toBe(false);
    expect(await readFile(node2.logPath, 'utf8')).toMatch(/"msg":"daemon stopping"/);
    const restarted = await DaemonProcess.spawn(node2.options);
    daemons[1] = restarted;
    await allConnected(restarted, 2);
    await allConnected(daemons[0]!, 2);
  });

  it('survives SIGKILL with its member list intact', async () => {
    const node1 = daemons[0]!;
    await node1.stop('SIGKILL');
    daemons[0] = await DaemonProcess.spawn(node1.options);
    await allConnected(daemons[0], 2);
  });
});
