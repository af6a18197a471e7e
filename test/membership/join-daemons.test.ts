import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asNodeId } from '../../src/common/ids.js';
import { waitFor } from '../../src/common/wait.js';
import { type DaemonProcess, formLocalCluster, spawnLocalNodes } from '../../src/daemon/local-cluster.js';
import { mintJoinToken } from '../../src/peer/join-token.js';
import { cli, cliRefusal } from '../helpers/cli.js';

/**
 * Three members on 127.0.0.170–172 and an unjoined daemon on 173 that joins through a member that is not the
 * master, with a token another non-master member issued; then leaves gracefully.
 */
describe('joining through any member with a join token', () => {
  let baseDir: string;
  let daemons: DaemonProcess[];
  let members: DaemonProcess[];
  let joiner: DaemonProcess;
  let joinerId: string;
  let memberAddress: string;

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-join-'));
    daemons = await spawnLocalNodes({ baseDir, nodes: 4, firstHost: 170 });
    members = daemons.slice(0, 3);
    joiner = daemons[3]!;
    await formLocalCluster(members, {});
    joinerId = (await joiner.status()).nodeId;
    memberAddress = members[2]!.options.listen;
  }, 90_000);

  afterAll(async () => {
    await Promise.all((daemons ?? []).map((daemon) => daemon.stop('SIGKILL')));
    await rm(baseDir, { recursive: true, force: true });
  });

  const serial = async () => {
    const answer = await members[0]!.call({ op: 'config', consistent: true });
    return (answer.config as { serial: number }).serial;
  };
  const tokenFor = async (peer: string) => (await cli(members[1]!, 'token', 'create', peer)).stdout.trim();

  it('refuses bad tokens and bad addresses with one line, and changes nothing', async () => {
    const before = await serial();
    expect(await cliRefusal(joiner, 'cluster', 'join', memberAddress, '--token', 'nonsense')).toMatch(
      /malformed join token/,
    );
    const otherId = (await members[2]!.status()).nodeId;
    expect(
      await cliRefusal(joiner, 'cluster', 'join', memberAddress, '--token', await tokenFor(otherId)),
    ).toMatch(/issued for .*, not for this node/);
    const forged = mintJoinToken(randomBytes(32), asNodeId(joinerId), Date.now(), 600_000);
    expect(await cliRefusal(joiner, 'cluster', 'join', memberAddress, '--token', forged)).toMatch(
      /not issued by this cluster/,
    );
    const { token: shortLived, expiresAtMs } = await members[1]!.call({
      op: 'token-create',
      peer: joinerId,
      lifetimeMs: 1,
    });
    await waitFor(() => (Date.now() > expiresAtMs ? true : undefined), {
      timeoutMs: 5_000,
      what: 'the short-lived token to expire',
    });
    expect(await cliRefusal(joiner, 'cluster', 'join', memberAddress, '--token', shortLived)).toMatch(
      /expired/,
    );
    const token = await tokenFor(joinerId);
    expect(
      await cliRefusal(joiner, 'cluster', 'join', '/ip4/127.0.0.179/tcp/7400', '--token', token),
    ).toMatch(/127\.0\.0\.179/);
    expect(await cliRefusal(joiner, 'token', 'create', joinerId)).toMatch(/belongs to no cluster/);
    expect(await serial()).toBe(before);
    expect(await joiner.call({ op: 'config', consistent: false })).not.toHaveProperty('config');
  }, 60_000);

  it('joins through a non-master member; the member list converges on every node', async () => {
    const master = (await members[0]!.call({ op: 'config', consistent: true })).master;
    expect(master).toBe((await members[0]!.status()).nodeId);
    const { stdout } = await cli(
      joiner,
      'cluster',
      'join',
      memberAddress,
      '--token',
      await tokenFor(joinerId),
      '--name',
      'node4',
    );
    expect(stdout).toMatch(/^Joined cluster cluster\.local as node4 \(job \d+\)$/m);
    await waitFor(
      async () => {
        const views = await Promise.all(daemons.map((daemon) => daemon.call({ op: 'health' })));
        return views.every(
          (view) => view.rows.length === 4 && view.rows.every((row) => row.state === 'alive'),
        )
          ? true
          : undefined;
      },
      { timeoutMs: 30_000, what: 'all four nodes to see all four alive' },
    );
    for (const daemon of daemons) {
      const { stdout: list } = await cli(daemon, 'node', 'list', '-o', 'name', '--no-headers');
      expect(list.split('\n').filter(Boolean).sort()).toEqual(['node1', 'node2', 'node3', 'node4']);
    }
    const raft = await members[0]!.call({ op: 'raft-status' });
    expect([...raft.voters, ...raft.learners]).toContain(joinerId);
    expect(
      await cliRefusal(joiner, 'cluster', 'join', memberAddress, '--token', await tokenFor(joinerId)),
    ).toMatch(/already belongs to cluster cluster\.local/);
  }, 60_000);

  it('leaves gracefully on SIGTERM: the others see it left, never dead', async () => {
    await joiner.stop('SIGTERM');
    const states = await waitFor(
      async () => {
        const rows = await Promise.all(
          members.map(async (daemon) => (await daemon.call({ op: 'health', node: 'node4' })).rows[0]?.state),
        );
        return rows.every((state) => state === 'left') ? rows : undefined;
      },
      { timeoutMs: 20_000, what: 'every member to see node4 as left' },
    );
    expect(states).toEqual(['left', 'left', 'left']);
    for (const daemon of members) {
      const changes = (await readFile(daemon.logPath, 'utf8'))
        .split('\n')
        .filter((line) => line.includes('member state changed') && line.includes(joinerId))
        .map((line) => (JSON.parse(line) as { state: string }).state);
      expect(changes, daemon.options.name).toContain('left');
      expect(changes, daemon.options.name).not.toContain('dead');
    }
  }, 30_000);
});
