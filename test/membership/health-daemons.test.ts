import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/wait.js';
import { cliEntryPoint, DaemonProcess, startLocalCluster } from '../../src/daemon/local-cluster.js';
import type { HealthRow } from '../../src/membership/health-view.js';

const run = promisify(execFile);

/** Four real daemons on 127.0.0.220–223: gossip membership, health and monitoring as the CLI shows them. */
describe('gossip membership in the daemon', () => {
  let baseDir: string;
  let daemons: DaemonProcess[];

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-health-'));
    daemons = await startLocalCluster({ baseDir, nodes: 4, firstHost: 220 });
  }, 90_000);

  afterAll(async () => {
    await Promise.all((daemons ?? []).map((daemon) => daemon.stop('SIGKILL')));
    await rm(baseDir, { recursive: true, force: true });
  });

  const cli = (daemon: DaemonProcess, ...args: string[]) =>
    run(process.execPath, [cliEntryPoint(), ...args, '--socket', daemon.socketPath]);
  const healthJson = async (daemon: DaemonProcess): Promise<HealthRow[]> =>
    JSON.parse((await cli(daemon, 'health', '--json')).stdout);
  const rows = async (daemon: DaemonProcess) => (await daemon.call({ op: 'health' })).rows;
  const stateOf = async (daemon: DaemonProcess, node: string) =>
    (await rows(daemon)).find((row) => row.node === node)?.state;

  it('shows every node alive with its health record, from any node', async () => {
    const all = await waitFor(
      async () => {
        const views = await Promise.all(daemons.map(healthJson));
        // A record sent before its node applied the configuration says serial 0; the next heartbeat brings it.
        return views.every(
          (view) =>
            view.length === 4 &&
            view.every((r) => r.state === 'alive' && r.health !== undefined && r.health.configSerial > 0),
        )
          ? views
          : undefined;
      },
      { timeoutMs: 30_000, what: 'every node to see all four alive with a health record sent since joining' },
    );
    const row = all[0]!.find((r) => r.node === 'node2')!;
    expect(row.health).toMatchObject({ version: expect.any(String), instancesRunning: 0 });
    expect(row.health!.configSerial).toBeGreaterThan(0);
    expect(row.health!.storage.length).toBeGreaterThan(0);
    expect(row.health!.monitor?.map((m) => m.name)).toContain('inst-status');
    const table = (await cli(daemons[1]!, 'health')).stdout;
    expect(table.split('\n')[0]).toMatch(
      /^Node\s+State\s+LastHeard\s+Load\s+MemFree\s+DiskFree\s+Inst\s+Role/,
    );
    expect(table).toMatch(/^node1\s+alive\s+\S+\s+[\d.]+\s+\S+\s+\S+\s+0\s+leader/m);
  }, 60_000);

  it('keeps full monitoring reports on each node and hands them out on request', async () => {
    const reports = JSON.parse((await cli(daemons[0]!, 'health', 'node3', '--reports')).stdout) as {
      name: string;
      category: string | null;
      kind: number;
      timestamp: number;
      data: unknown;
    }[];
    expect(reports.map((r) => r.name)).toEqual(
      expect.arrayContaining(['cpu-avg-load', 'inst-status', 'node-memory', 'storage-dirs']),
    );
    const memory = reports.find((r) => r.name === 'node-memory')!;
    expect(memory).toMatchObject({ category: null, kind: 0, data: { mtotal: 4096 } });
    expect(reports.find((r) => r.name === 'inst-status')).toMatchObject({
      category: 'instance',
      kind: 1,
      data: { status: { code: 0 }, instances: [] },
    });
  });

  it('answers a config question from several nodes with the highest serial', async () => {
    const { stdout, stderr } = await cli(daemons[2]!, 'config', 'query', 'cluster-master', '--nodes', '3');
    expect(stdout).toBe('node1\n');
    expect(stderr).toMatch(/^config serial \d+ from node\d \(3 of 3 nodes answered\)$/m);
    const role = JSON.parse(
      (await cli(daemons[2]!, 'config', 'query', 'node-role', 'node4', '--json')).stdout,
    );
    expect(role).toMatchObject({ value: 'candidate' });
  });

  it('refuses an unknown node in one line', async () => {
    const failure = await cli(daemons[0]!, 'health', 'nosuchnode').catch((error) => error);
    expect(failure.code).toBe(1);
    expect(failure.stderr).toBe(
      'corral: node nosuchnode is not in the cluster; corral health lists the nodes\n',
    );
  });

  it('sees a killed node suspect, then dead within the detection time, stale with its age, and alive once back', async () => {
    const victim = daemons[3]!;
    const survivors = daemons.slice(0, 3);
    const killedMs = performance.now();
    await victim.stop('SIGKILL');

    let suspectMs: number | undefined;
    await waitFor(
      async () => {
        const states = await Promise.all(survivors.map((daemon) => stateOf(daemon, 'node4')));
        if (suspectMs === undefined && states.includes('suspect')) suspectMs = performance.now() - killedMs;
        return states.every((state) => state === 'dead') ? true : undefined;
      },
      { timeoutMs: 40_000, intervalMs: 100, what: 'every survivor to see node4 dead' },
    );
    const deadMs = performance.now() - killedMs;
    process.stdout.write(
      `membership: node4 suspect after ${Math.round(suspectMs ?? Number.NaN)} ms, dead on all survivors after ${Math.round(deadMs)} ms\n`,
    );
    expect(suspectMs).toBeDefined();
    // Default timings, four nodes: a few probe rounds, then the 4 s suspicion floor once two others confirm.
    expect(deadMs).toBeLessThan(20_000);

    // Stale comes with silence (three heartbeat intervals), which may outlast the detection.
    await waitFor(
      async () => {
        const views = await Promise.all(survivors.map((daemon) => rows(daemon)));
        return views.every((view) => view.find((r) => r.node === 'node4')?.stale) ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'every survivor to show node4 stale' },
    );
    const row = (await healthJson(survivors[0]!)).find((r) => r.node === 'node4')!;
    expect(row).toMatchObject({ state: 'dead', stale: true });
    expect(row.lastHeardAgeMs).toBeGreaterThan(deadMs / 2);
    const table = (await cli(survivors[1]!, 'health')).stdout;
    expect(table).toMatch(/^node4\s+dead\s+stale \d+(ms|s)\s/m);
    expect(table).toMatch(/^stale: not heard from first-hand lately/m);
    const list = (await cli(survivors[2]!, 'node', 'list', '-o', 'name,status', '--no-headers')).stdout;
    expect(list).toMatch(/^node4\s+online\/dead$/m);
    expect(list).toMatch(/^node1\s+online\/alive$/m);
    const info = (await cli(survivors[0]!, 'node', 'info', 'node4')).stdout;
    expect(info).toMatch(/^ {2}status: online\/dead, last heard stale \d+(ms|s)$/m);

    daemons[3] = await DaemonProcess.spawn(victim.options);
    await waitFor(
      async () => {
        const states = await Promise.all(survivors.map((daemon) => stateOf(daemon, 'node4')));
        return states.every((state) => state === 'alive') ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'every survivor to see node4 alive again' },
    );
    const back = (await rows(survivors[0]!)).find((r) => r.node === 'node4')!;
    expect(back.stale).toBe(false);
    // It came back at incarnation 0 and refuted the rumour of its death by raising it.
    expect(back.incarnation).toBeGreaterThan(0);
  }, 90_000);

  it('replaces a master candidate that gossip has held dead past the grace period', async () => {
    const master = daemons[0]!;
    await cli(master, 'cluster', 'modify', '--candidate-pool-size', '3', '--candidate-dead-grace', '5');
    await cli(master, 'node', 'modify', '--master-candidate=no', 'node4');
    const role = async (node: string) =>
      JSON.parse((await cli(master, 'config', 'query', 'node-role', node, '--nodes', '1', '--json')).stdout)
        .value as string;
    expect(await role('node4')).toBe('regular');

    const victim = daemons[1]!;
    const killedMs = performance.now();
    await victim.stop('SIGKILL');
    const { peerOf } = await peerIds(master);
    await waitFor(
      async () => {
        const raft = await master.call({ op: 'raft-status' });
        return (await role('node2')) === 'regular' &&
          (await role('node4')) === 'candidate' &&
          raft.voters.includes(peerOf('node4')) &&
          !raft.voters.includes(peerOf('node2'))
          ? true
          : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'node4 to take dead node2’s seat as a voter' },
    );
    process.stdout.write(
      `membership: node2's seat went to node4 ${Math.round(performance.now() - killedMs)} ms after the kill (grace 5 s)\n`,
    );
    // The dead node is still a member, shown as what it is.
    const list = (await cli(master, 'node', 'list', '-o', 'name,role,status', '--no-headers')).stdout;
    expect(list).toMatch(/^node2\s+R\s+online\/dead$/m);
    expect(list).toMatch(/^node4\s+C\s+online\/alive$/m);
  }, 90_000);
});

async function peerIds(daemon: DaemonProcess): Promise<{ peerOf: (name: string) => string }> {
  const { rows } = await daemon.call({ op: 'health' });
  return { peerOf: (name) => rows.find((row) => row.node === name)!.id };
}
