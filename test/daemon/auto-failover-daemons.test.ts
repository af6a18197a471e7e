import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobViewSchema } from '../../src/cluster/job-views.js';
import { DEFAULT_HA_PARAMS, lapseAfterMs, renewIntervalMs } from '../../src/cluster/lease.js';
import { waitFor } from '../../src/common/wait.js';
import type { DaemonCall } from '../../src/daemon/job-client.js';
import { DaemonProcess, startLocalCluster } from '../../src/daemon/local-cluster.js';
import { cli } from '../helpers/cli.js';
import { clusterClient } from '../helpers/real-cluster.js';

/**
 * Automatic failover on three real daemons (127.0.0.154-156, the fake hypervisor): gossip over libp2p finds
 * the dead node, the leases are renewed over the master protocol, and nobody acts. The deterministic proof
 * is the HA simulation; this shows the same code wired in the daemon.
 */
describe('automatic failover on a real cluster', () => {
  let baseDir: string;
  let daemons: DaemonProcess[] = [];

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-autofailover-'));
    daemons = await startLocalCluster({
      baseDir,
      nodes: 3,
      firstHost: 154,
      fakeMemoryMiB: 1024,
      enabledDiskTemplates: ['drbd', 'sharedfile', 'file'],
      daemonFlags: ['--watcher-interval', '1'],
    });
  });

  afterAll(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    await rm(baseDir, { recursive: true, force: true });
  });

  const call: DaemonCall = (request) => daemons[0]!.call(request);
  const { config, ok } = clusterClient(call);
  /** The running instances each answering node reports, by node name. */
  const running = async () => {
    const { nodes } = await call({ op: 'nodes-live' });
    return Object.fromEntries(
      nodes.map((node) => [
        node.name,
        (node.status?.instances ?? [])
          .filter((i) => i.state === 'running')
          .map((i) => i.name)
          .sort(),
      ]),
    );
  };

  it('fails the instances of a dead node over on their own, and says so', { timeout: 120_000 }, async () => {
    const create = (name: string, template: 'drbd' | 'sharedfile' | 'file', nodes: string[]) => ({
      OP_ID: 'OP_INSTANCE_CREATE' as const,
      instance_name: name,
      disk_template: template,
      disks: [{ size: 8 }],
      no_install: true,
      start: true,
      hypervisor: 'fake' as const,
      beparams: { memory: 64 },
      pnode: nodes[0]!,
      ...(nodes[1] !== undefined && { snode: nodes[1] }),
    });
    await ok([create('db1', 'drbd', ['node3', 'node2'])]);
    await ok([create('web1', 'sharedfile', ['node3'])]);
    await ok([create('files1', 'file', ['node3'])]);
    expect((await running()).node3).toEqual(['db1', 'files1', 'web1']);

    const diedAt = performance.now();
    await daemons[2]!.stop('SIGKILL');
    const moved = await waitFor(
      async () => {
        const now = await running();
        return now.node2?.includes('db1') && [...(now.node1 ?? []), ...(now.node2 ?? [])].includes('web1')
          ? now
          : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'db1 and web1 to run on another node' },
    );
    const seconds = (performance.now() - diedAt) / 1000;
    // The master waits out the lease from its last grant (9.2 s with the defaults), and the node renewed it at
    // most one renewal interval (2 s) before it died: no failover comes sooner than the difference.
    const { leaseMs, fenceMarginMs, clockDriftPpm } = DEFAULT_HA_PARAMS;
    const earliestMs = lapseAfterMs({ leaseMs, fenceMarginMs }, clockDriftPpm) - renewIntervalMs(leaseMs);
    expect(seconds).toBeGreaterThan(earliestMs / 1000);
    expect(
      Object.values(moved)
        .flat()
        .filter((name) => name === 'db1'),
    ).toHaveLength(1);

    const view = await config();
    const node = (uuid: string) => view.nodes.find((n) => n.uuid === uuid)!.name;
    const db1 = view.instances.find((i) => i.name === 'db1')!;
    expect([node(db1.primaryNode), db1.secondaryNodes.map(node)]).toEqual(['node2', ['node3']]);
    expect(db1.mirror?.current.map(node)).toEqual(['node2']);
    // The file instance stays where its disks are, and cluster verify says why.
    expect(node(view.instances.find((i) => i.name === 'files1')!.primaryNode)).toBe('node3');

    const { jobs } = await call({ op: 'jobs', consistent: true });
    const failovers = jobs
      .map((job) => jobViewSchema.parse(job))
      .filter((job) => job.ops.some((op) => op.input.OP_ID === 'OP_INSTANCE_FAILOVER'));
    expect(failovers.map((job) => job.status)).toEqual(['success', 'success']);
    expect(failovers.map((job) => job.log[0]?.message)).toEqual([
      'reason (gnt:corral:auto-failover): node3 is held dead by gossip and its lease has run out',
      'reason (gnt:corral:auto-failover): node3 is held dead by gossip and its lease has run out',
    ]);
    const info = (await cli(daemons[1]!, 'instance', 'info', 'db1')).stdout;
    expect(info).toMatch(
      /Last moved: job \d+, .*: failed over \(gnt:corral:auto-failover: node3 is held dead/,
    );
    const verify = await cli(daemons[1]!, 'cluster', 'verify').catch((error: { stdout?: string }) => error);
    expect(verify.stdout).toContain(
      'ERROR: instance files1: it should run, but its node node3 is dead and it cannot be failed over automatically: its file disks live on node3 alone',
    );
    const listed = (await cli(daemons[1]!, 'instance', 'list', '-o', 'name,pnode,last_move', '--no-headers'))
      .stdout;
    expect(listed).toMatch(
      /^db1 +node2 +job \d+, .*: failed over \(gnt:corral:auto-failover: node3 is held dead/m,
    );
    expect(listed).toMatch(/^files1 +node3 +\?$/m);
    const events = (await cli(daemons[1]!, 'health', '--events')).stdout;
    expect(events).toMatch(/corral:auto-failover .*db1: failing over from node3 \(dead, its lease ran out\)/);

    // node3 comes back: its fake guests were fenced by its lease, db1 runs once, its copy resyncs.
    daemons[2] = await DaemonProcess.spawn(daemons[2]!.options);
    await waitFor(
      async () => {
        const now = await running();
        const current = (await config()).instances.find((i) => i.name === 'db1')?.mirror?.current.length;
        return now.node3?.join() === 'files1' && current === 2 ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'node3 to run only files1 and db1 to be mirrored again' },
    );
    expect(
      Object.values(await running())
        .flat()
        .filter((name) => name === 'db1'),
    ).toHaveLength(1);
  });
});
