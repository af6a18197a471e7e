import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/wait.js';
import { DaemonProcess, startLocalCluster } from '../../src/daemon/local-cluster.js';
import { IDENTITY_FILE, loadOrCreateIdentity } from '../../src/peer/identity.js';
import { mintJoinToken } from '../../src/peer/join-token.js';

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

  it('shuts down cleanly on SIGTERM and comes back a member without --join', async () => {
    const node2 = daemons[1]!;
    expect(await node2.stop('SIGTERM')).toBe(0);
    expect(existsSync(node2.socketPath)).toBe(false);
    expect(await readFile(node2.logPath, 'utf8')).toMatch(/"msg":"daemon stopping"/);
    const restarted = await DaemonProcess.spawn({
      ...node2.options,
      join: undefined,
    } as typeof node2.options);
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

  it('refuses to join with a token from another cluster, saying why in one line', async () => {
    const dataDir = join(baseDir, 'intruder');
    const { nodeId } = await loadOrCreateIdentity(dataDir);
    const forged = mintJoinToken(new Uint8Array(32), nodeId, Date.now(), 3_600_000);
    const address = (await daemons[0]!.status()).addresses[0]!;
    await expect(
      DaemonProcess.spawn({
        dataDir,
        listen: '/ip4/127.0.0.83/tcp/0',
        name: 'intruder',
        join: { address, token: forged },
      }),
    ).rejects.toThrow(/exited with 1/);
    const output = await readFile(join(dataDir, 'daemon.log'), 'utf8');
    expect(output).toMatch(/^corral: cannot connect to .*join token was not issued by this cluster$/m);
    const { members } = await daemons[0]!.status();
    expect(members.map((member) => member.id)).not.toContain(nodeId);
  });
});
