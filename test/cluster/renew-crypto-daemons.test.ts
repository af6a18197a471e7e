import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'cbor-x';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/wait.js';
import { runJob } from '../../src/daemon/job-client.js';
import {
  allSeeAll,
  type DaemonProcess,
  formLocalCluster,
  spawnLocalNodes,
} from '../../src/daemon/local-cluster.js';
import { MEMBERS_FILE } from '../../src/membership/member-store.js';
import { cli, cliRefusal } from '../helpers/cli.js';

/** The cluster secret a node keeps in its members.cbor. */
async function secretOf(daemon: DaemonProcess): Promise<Buffer> {
  const { secret } = decode(await readFile(join(daemon.options.dataDir, MEMBERS_FILE))) as {
    secret: Uint8Array;
  };
  return Buffer.from(secret);
}

/** Every form the secret could be shown in: hex, base64 (plain or URL-safe), a list of byte values. */
function forms(secret: Buffer): string[] {
  return [
    secret.toString('hex'),
    secret.toString('base64').replace(/=+$/, ''),
    secret.toString('base64url'),
    [...secret].join(','),
  ];
}

/**
 * Three members on 127.0.0.60–62 (node3 a learner, not a voter) and an unjoined daemon on 63. renew-crypto,
 * run from the learner, draws a new cluster secret on the master; it reaches every member through the Raft
 * log, a join token made before it is refused, one made after admits the new node, and nothing shows it.
 */
describe('cluster renew-crypto', () => {
  let baseDir: string;
  let daemons: DaemonProcess[];
  let members: DaemonProcess[];
  let joiner: DaemonProcess;
  let founderSecret: Buffer;

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-renew-'));
    daemons = await spawnLocalNodes({ baseDir, nodes: 4, firstHost: 60 });
    members = daemons.slice(0, 3);
    joiner = daemons[3]!;
    await formLocalCluster(members, {});
    const learner = (await members[2]!.status()).nodeId;
    await runJob(
      (request) => members[0]!.call(request),
      [{ OP_ID: 'OP_NODE_SET_PARAMS', node_name: 'node3', master_candidate: false, force: true }],
    );
    await waitFor(
      async () =>
        (await members[0]!.call({ op: 'raft-status' })).learners.includes(learner) ? true : undefined,
      { timeoutMs: 30_000, what: 'node3 to be a Raft learner' },
    );
    founderSecret = await secretOf(members[0]!);
  }, 120_000);

  afterAll(async () => {
    await Promise.all((daemons ?? []).map((daemon) => daemon.stop('SIGKILL')));
    await rm(baseDir, { recursive: true, force: true });
  });

  const tokenFor = async (member: DaemonProcess, peer: string) =>
    (await cli(member, 'token', 'create', peer)).stdout.trim();
  let renewJob: number;
  let renewed: Buffer;

  it('refuses a token made before it, admits with one made after, and members keep talking', async () => {
    const joinerId = (await joiner.status()).nodeId;
    for (const member of members) expect((await secretOf(member)).equals(founderSecret)).toBe(true);
    const staleToken = await tokenFor(members[1]!, joinerId);

    // From the learner, with Ganeti's options: a job like any other, run by the master.
    const { stdout } = await cli(
      members[2]!,
      'cluster',
      'renew-crypto',
      '--new-cluster-domain-secret',
      '-f',
      '--print-jobid',
    );
    renewJob = Number(stdout.split('\n')[0]);
    expect(renewJob).toBeGreaterThan(0);
    expect(stdout).toMatch(/drew a new cluster secret/);
    expect(stdout).toMatch(/^Renewed the cluster secret: join tokens issued before now are refused$/m);

    // Voters and the learner alike take it from the replicated log into their members.cbor.
    renewed = await waitFor(
      async () => {
        const secrets = await Promise.all(members.map(secretOf));
        return secrets.every((secret) => secret.equals(secrets[0]!)) && !secrets[0]!.equals(founderSecret)
          ? secrets[0]
          : undefined;
      },
      { timeoutMs: 20_000, what: 'every member to hold the renewed secret' },
    );
    expect(renewed.byteLength).toBe(32);

    const memberAddress = members[1]!.options.listen;
    expect(await cliRefusal(joiner, 'cluster', 'join', memberAddress, '--token', staleToken)).toMatch(
      /not issued by this cluster/,
    );
    const { stdout: joined } = await cli(
      joiner,
      'cluster',
      'join',
      memberAddress,
      '--token',
      await tokenFor(members[2]!, joinerId),
      '--name',
      'node4',
    );
    expect(joined).toMatch(/^Joined cluster cluster\.local as node4 \(job \d+\)$/m);
    await waitFor(async () => ((await secretOf(joiner)).equals(renewed) ? true : undefined), {
      timeoutMs: 20_000,
      what: 'the new node to hold the renewed secret',
    });

    await waitFor(async () => ((await allSeeAll(daemons)) ? true : undefined), {
      timeoutMs: 30_000,
      what: 'all four nodes to hear each other alive',
    });
    for (const daemon of daemons) {
      const name = daemon.options.name;
      await cli(daemon, 'cluster', 'add-tags', `from-${name}`);
    }
    const { stdout: tags } = await cli(members[0]!, 'cluster', 'list-tags');
    expect(tags.split('\n').filter(Boolean).sort()).toEqual([
      'from-node1',
      'from-node2',
      'from-node3',
      'from-node4',
    ]);
  }, 120_000);

  it('never shows the secret: not in cluster info, config query, job info, gossip, answers or logs', async () => {
    expect(renewed).toBeDefined();
    const shown: string[] = [];
    for (const daemon of members) {
      for (const args of [
        ['cluster', 'info'],
        ['config', 'query', 'cluster-master', '--json'],
        ['config', 'query', 'node-role', 'node1', '--json'],
        ['job', 'info', String(renewJob)],
        ['job', 'list'],
        ['health', '--json'],
        ['status'],
      ]) {
        const { stdout, stderr } = await cli(daemon, ...args);
        shown.push(stdout, stderr);
      }
      for (const request of [
        { op: 'config', consistent: true },
        { op: 'jobs', consistent: true },
        { op: 'health' },
        { op: 'monitor-reports' },
      ] as const)
        shown.push(JSON.stringify(await daemon.call(request)));
      shown.push(await readFile(daemon.logPath, 'utf8'));
    }
    const everything = shown.join('\n');
    expect(everything).toContain('OP_CLUSTER_RENEW_CRYPTO');
    for (const secret of [renewed, founderSecret])
      for (const form of forms(secret)) expect(everything).not.toContain(form);
    expect(everything).not.toMatch(/"clusterSecret"|"secret":/);
  }, 60_000);
});
