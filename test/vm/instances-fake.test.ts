import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { instanceStatus, type NodeReport, nodeReport } from '../../src/cluster/instance-status.js';
import { jobViewSchema } from '../../src/cluster/job-views.js';
import type { Opcode } from '../../src/cluster/opcodes.js';
import { waitFor } from '../../src/common/wait.js';
import type { DaemonCall } from '../../src/daemon/job-client.js';
import { cliEntryPoint, type DaemonProcess, startLocalCluster } from '../../src/daemon/local-cluster.js';
import { clusterClient, entriesUnder, restoreCluster, writeTestOs } from '../helpers/real-cluster.js';

const run = promisify(execFile);

/**
 * Every instance command and refusal on three real daemons (127.0.0.130-132) with the fake hypervisor,
 * 1 GiB of pretend memory per node, a test OS definition, and the watcher checking every half second.
 * The daemons are shared; each case makes the instances it needs, and after each the cluster is put back as
 * it was (no instance, no disk left on any node, no node drained), so that a case runs alone or in any order.
 */
describe('instances on a real cluster, fake hypervisor', () => {
  let baseDir: string;
  let daemons: DaemonProcess[] = [];
  let call: DaemonCall;

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-instances-'));
    const osDir = join(baseDir, 'os');
    await writeTestOs(osDir);
    const hooksDir = join(baseDir, 'hooks');
    await mkdir(join(hooksDir, 'instance-migrate-post.d'), { recursive: true });
    const hook = join(hooksDir, 'instance-migrate-post.d', '10-record');
    // One file per instance: an evacuation elsewhere migrates too, and must not write over this record.
    await writeFile(
      hook,
      `#!/bin/sh\nenv | grep ^GANETI_ | sort > ${join(baseDir, 'migrate-post-env.')}"$GANETI_INSTANCE_NAME"\n`,
    );
    await chmod(hook, 0o755);
    daemons = await startLocalCluster({
      baseDir,
      nodes: 3,
      firstHost: 130,
      fakeMemoryMiB: 1024,
      hooksDir,
      daemonFlags: ['--os-search-path', `${osDir}:/usr/share/ganeti/os`, '--watcher-interval', '0.5'],
    });
    // Changes go through a node that is not the master: every command works from any node.
    call = (request) => daemons[1]!.call(request);
  });

  afterEach(async () => {
    await restoreCluster(daemons, call);
    for (const dir of [...['node1', 'node2', 'node3'].map(fileDisks), join(baseDir, 'shared-file-storage')])
      expect(await entriesUnder(dir), `left in ${dir}`).toEqual([]);
  });

  afterAll(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    await rm(baseDir, { recursive: true, force: true });
  });

  const { config, ok, refused } = clusterClient((request) => call(request));
  const instance = async (name: string) => (await config()).instances.find((i) => i.name === name);
  const nodeOf = async (name: string) => {
    const view = await config();
    const found = view.instances.find((i) => i.name === name)!;
    return view.nodes.find((n) => n.uuid === found.primaryNode)!.name;
  };
  const statusOf = async (name: string) => {
    const view = await config();
    const found = view.instances.find((i) => i.name === name)!;
    const primary = view.nodes.find((n) => n.uuid === found.primaryNode)!;
    const live = (await call({ op: 'nodes-live' })).nodes;
    const reports = new Map<string, NodeReport>(live.map((n) => [n.name, nodeReport(n.status?.instances)]));
    return instanceStatus({ ...found, primary }, reports);
  };
  const create = (
    name: string,
    extra: Partial<Extract<Opcode, { OP_ID: 'OP_INSTANCE_CREATE' }>> = {},
  ): Opcode => ({
    OP_ID: 'OP_INSTANCE_CREATE',
    instance_name: name,
    disk_template: 'file',
    disks: [{ size: 32 }],
    os_type: 'testos+default',
    beparams: { memory: 256 },
    hypervisor: 'fake',
    ...extra,
  });
  const fileDisks = (node: string) => join(baseDir, node, 'file-storage');
  /** What the OS scripts wrote at the start of each of the instance's file disks on the node. */
  const diskText = async (node: string, name: string) => {
    const dir = join(fileDisks(node), (await instance(name))!.uuid);
    let text = '';
    for (const file of await readdir(dir).catch(() => []))
      text += (await readFile(join(dir, file))).subarray(0, 64 * 1024).toString('latin1');
    return text;
  };

  it('creates an instance: disks, the OS create script with its environment, and a start', async () => {
    const { id } = await ok([create('new1', { pnode: 'node1', osparams: { answer: '42' } })]);
    expect(await statusOf('new1')).toBe('running');
    expect(await instance('new1')).toMatchObject({
      adminState: 'up',
      os: 'testos+default',
      disksActive: true,
    });
    const env = await diskText('node1', 'new1');
    for (const line of [
      'INSTANCE_NAME=new1',
      'OS_VARIANT=default',
      'DISK_COUNT=1',
      'OSP_ANSWER=42',
      'HYPERVISOR=fake',
    ])
      expect(env).toContain(line);
    const jobs = (await call({ op: 'jobs', consistent: false })).jobs.map((job) => jobViewSchema.parse(job));
    const log = jobs.find((job) => job.id === id)!.log.map((e) => e.message);
    expect(log.join('\n')).toContain('testos created new1');
  });

  it('refuses bad requests with one clear line and changes nothing', async () => {
    await ok([create('here1', { pnode: 'node1', no_install: true, start: false })]);
    const names = async () => (await config()).instances.map((i) => i.name);
    const before = await names();
    await refused(
      { OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'nosuch' },
      /instance nosuch does not exist/,
    );
    await refused(
      create('big', { pnode: 'node1', beparams: { memory: 4096 } }),
      /node1 cannot take big: not enough memory/,
    );
    await refused(create('lvm', { disk_template: 'plain' }), /disk template plain is not enabled/);
    await refused(create('here1'), /instance here1 already exists/);
    await refused(create('noos', { os_type: 'nosuchos' }), /OS nosuchos is not installed/);
    await refused(create('badvariant', { os_type: 'testos+nosuch' }), /OS testos has no variant nosuch/);
    await refused(
      { OP_ID: 'OP_INSTANCE_GROW_DISK', instance_name: 'here1', disk: 0, amount: 8, absolute: true },
      /disks only grow/,
    );
    await ok([{ OP_ID: 'OP_NODE_SET_PARAMS', node_name: 'node3', drained: true }]);
    await refused(create('drained', { pnode: 'node3' }), /node3 is drained/);
    await ok([{ OP_ID: 'OP_NODE_SET_PARAMS', node_name: 'node3', drained: false }]);
    await refused({ OP_ID: 'OP_NODE_REMOVE', node_name: 'node1' }, /still hosts here1|node1 is the master/);
    expect(await names()).toEqual(before);
    expect(before).toContain('here1');
  });

  it('shuts down, starts, reboots, and records the admin state', async () => {
    await ok([create('power1')]);
    await ok([{ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: 'power1' }]);
    expect(await statusOf('power1')).toBe('ADMIN_down');
    await ok([{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'power1' }]);
    expect(await statusOf('power1')).toBe('running');
    await ok([{ OP_ID: 'OP_INSTANCE_REBOOT', instance_name: 'power1', reboot_type: 'full' }]);
    expect(await statusOf('power1')).toBe('running');
  });

  it('modifies, grows, renames and reinstalls', async () => {
    await ok([create('mod1', { pnode: 'node1' })]);
    await ok([
      {
        OP_ID: 'OP_INSTANCE_SET_PARAMS',
        instance_name: 'mod1',
        beparams: { memory: 128, vcpus: 2 },
        disks_add: [{ size: 16 }],
      },
    ]);
    await ok([{ OP_ID: 'OP_INSTANCE_GROW_DISK', instance_name: 'mod1', disk: 0, amount: 32 }]);
    let found = (await instance('mod1'))!;
    expect(found.beParams).toMatchObject({ maxmemMiB: 128, minmemMiB: 128, vcpus: 2 });
    expect(found.disks.map((d) => d.sizeMiB)).toEqual([64, 16]);
    await refused(
      { OP_ID: 'OP_INSTANCE_RENAME', instance_name: 'mod1', new_name: 'mod2' },
      /mod1 is running on node1; shut it down first/,
    );
    await ok([{ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: 'mod1' }]);
    await ok([{ OP_ID: 'OP_INSTANCE_RENAME', instance_name: 'mod1', new_name: 'mod2' }]);
    await ok([{ OP_ID: 'OP_INSTANCE_REINSTALL', instance_name: 'mod2' }]);
    found = (await instance('mod2'))!;
    expect(found.disks).toHaveLength(2);
    const env = await diskText('node1', 'mod2');
    expect(env).toContain('INSTANCE_REINSTALL=1');
    expect(env).toContain('INSTANCE_NAME=mod2');
    await ok([{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'mod2' }]);
    expect(await statusOf('mod2')).toBe('running');
  });

  it('migrates and fails over shared-storage instances, and moves file instances by copying their disks', async () => {
    await ok([
      create('shared1', { disk_template: 'sharedfile', pnode: 'node1' }),
      create('copied1', { pnode: 'node1' }),
    ]);
    await ok([{ OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: 'shared1', target_node: 'node2' }]);
    expect(await nodeOf('shared1')).toBe('node2');
    // Post hooks see the state before (GANETI_*) and after (GANETI_POST_*) the operation. They run once the
    // job's end is committed, so the job can be seen finished a moment before they have written their file.
    const hookEnv = await waitFor(
      async () => {
        const text = await readFile(join(baseDir, 'migrate-post-env.shared1'), 'utf8').catch(() => '');
        return text.includes('GANETI_POST_INSTANCE_PRIMARY') ? text : undefined;
      },
      { timeoutMs: 10_000, what: 'the migrate post hook to record its environment' },
    );
    for (const line of [
      'GANETI_HOOKS_PHASE=post',
      'GANETI_INSTANCE_PRIMARY=node1',
      'GANETI_POST_INSTANCE_PRIMARY=node2',
    ])
      expect(hookEnv).toContain(line);
    expect(await statusOf('shared1')).toBe('running');
    await ok([{ OP_ID: 'OP_INSTANCE_FAILOVER', instance_name: 'shared1', target_node: 'node3' }]);
    expect(await nodeOf('shared1')).toBe('node3');
    expect(await statusOf('shared1')).toBe('running');
    await refused(
      { OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: 'copied1', target_node: 'node2' },
      /live migration of file disks needs the kvm hypervisor, .*copied1 uses fake: use instance move/,
    );
    await ok([{ OP_ID: 'OP_INSTANCE_MOVE', instance_name: 'copied1', target_node: 'node2' }]);
    expect(await nodeOf('copied1')).toBe('node2');
    expect(await statusOf('copied1')).toBe('running');
    // The disks travelled with their content: what the OS script wrote is on node2 now, and gone from node1.
    expect(await diskText('node2', 'copied1')).toContain('INSTANCE_NAME=copied1');
    expect(await entriesUnder(fileDisks('node1'))).toEqual([]);
  });

  it('the watcher restarts an instance that should run but stopped behind the cluster’s back', async () => {
    await ok([
      create('watched1', { disk_template: 'sharedfile', pnode: 'node3', no_install: true, start: true }),
    ]);
    await rm(join(baseDir, 'node3', 'fake-hv', 'watched1.json'));
    expect(await statusOf('watched1')).toBe('ERROR_down');
    await waitFor(async () => ((await statusOf('watched1')) === 'running' ? true : undefined), {
      timeoutMs: 20_000,
      what: 'the watcher to restart watched1',
    });
  });

  it('evacuates a node: every instance leaves it, one job each', async () => {
    await ok([
      create('evac1', { pnode: 'node2', no_install: true, start: true }),
      create('evac2', { disk_template: 'sharedfile', pnode: 'node2', no_install: true, start: true }),
    ]);
    await ok([{ OP_ID: 'OP_NODE_EVACUATE', node_name: 'node2', mode: 'all' }]);
    await waitFor(
      async () => {
        const view = await config();
        const node2 = view.nodes.find((n) => n.name === 'node2')!;
        return view.instances.every((i) => i.primaryNode !== node2.uuid) ? true : undefined;
      },
      { timeoutMs: 30_000, what: 'node2 to be empty' },
    );
    for (const name of ['evac1', 'evac2']) expect(await statusOf(name)).toBe('running');
  });

  it('the CLI lists instances with Ganeti fields and refuses bad options in one line', async () => {
    await ok([
      create('listed1', { disk_template: 'sharedfile', no_install: true, start: true }),
      create('listed2', { beparams: { memory: 128 }, no_install: true, start: true }),
    ]);
    const socket = daemons[2]!.socketPath;
    const cli = (...args: string[]) => run(process.execPath, [cliEntryPoint(), ...args, '--socket', socket]);
    const { stdout } = await cli(
      'instance',
      'list',
      '-o',
      'name,pnode,status,be/maxmem',
      '--no-headers',
      '--separator',
      '|',
    );
    expect(stdout.trim().split('\n').sort()).toEqual([
      `listed1|${await nodeOf('listed1')}|running|256`,
      `listed2|${await nodeOf('listed2')}|running|128`,
    ]);
    const json = JSON.parse((await cli('instance', 'list', '--json', 'listed1')).stdout);
    expect(json[0]).toMatchObject({ name: 'listed1', status: 'running', os: 'testos+default' });
    // Repeatable options (-B, --disk) do not swallow the instance name that follows them, as in Ganeti's docs.
    await cli(
      'instance',
      'add',
      '-t',
      'file',
      '--disk',
      '0:size=8M',
      '--disk',
      '1:size=4M',
      '-o',
      'testos',
      '-B',
      'memory=64M',
      'cli1',
    );
    const added = JSON.parse(
      (await cli('instance', 'list', '--json', '-o', 'name,be/maxmem,disk.sizes', 'cli1')).stdout,
    );
    expect(added).toEqual([{ name: 'cli1', 'be/maxmem': 64, 'disk.sizes': [8, 4] }]);
    await cli('instance', 'remove', '-f', 'cli1');
    expect(await instance('cli1')).toBeUndefined();
    const failure = await cli('instance', 'add', '-t', 'file', '-s', 'lots', '-o', 'testos', 'x1').catch(
      (e) => e,
    );
    expect(failure.code).toBe(1);
    expect(failure.stderr).toBe('corral: -s: lots is not a size (use 512M, 10G, 1T or a number of MiB)\n');
  });

  it('removes instances and their disks', async () => {
    await ok([create('gone1', { pnode: 'node1' }), create('gone2', { disk_template: 'sharedfile' })]);
    expect(await entriesUnder(fileDisks('node1'))).not.toEqual([]);
    expect(await entriesUnder(join(baseDir, 'shared-file-storage'))).not.toEqual([]);
    for (const name of ['gone1', 'gone2']) await ok([{ OP_ID: 'OP_INSTANCE_REMOVE', instance_name: name }]);
    expect((await config()).instances).toEqual([]);
    for (const node of ['node1', 'node2', 'node3'])
      expect(await readdir(fileDisks(node)).catch(() => [])).toEqual([]);
    expect(await readdir(join(baseDir, 'shared-file-storage')).catch(() => [])).toEqual([]);
  });
});
