import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instanceStatus, type NodeReport, nodeReport } from '../../src/cluster/instance-status.js';
import type { Opcode } from '../../src/cluster/opcodes.js';
import { configViewSchema, jobViewSchema } from '../../src/cluster/views.js';
import { waitFor } from '../../src/common/wait.js';
import { type DaemonCall, runJob } from '../../src/daemon/job-client.js';
import { cliEntryPoint, type DaemonProcess, startLocalCluster } from '../../src/daemon/local-cluster.js';

const run = promisify(execFile);

/**
 * Every instance command and refusal on three real daemons (127.0.0.130-132) with the fake hypervisor,
 * 1 GiB of pretend memory per node, a test OS definition, and the watcher checking every half second.
 */
describe('instances on a real cluster, fake hypervisor', () => {
  let baseDir: string;
  let osDir: string;
  let daemons: DaemonProcess[] = [];
  let call: DaemonCall;

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-instances-'));
    osDir = join(baseDir, 'os');
    await writeTestOs(join(osDir, 'testos'));
    const hooksDir = join(baseDir, 'hooks');
    await mkdir(join(hooksDir, 'instance-migrate-post.d'), { recursive: true });
    const hook = join(hooksDir, 'instance-migrate-post.d', '10-record');
    await writeFile(hook, `#!/bin/sh\nenv | grep ^GANETI_ | sort > ${join(baseDir, 'migrate-post-env')}\n`);
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

  afterAll(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    await rm(baseDir, { recursive: true, force: true });
  });

  const config = async () => configViewSchema.parse((await call({ op: 'config', consistent: true })).config);
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
  const ok = (ops: Opcode[]) => runJob(call, ops);
  const refused = async (op: Opcode, message: RegExp) => {
    const before = (await config()).serial;
    await expect(runJob(call, [op])).rejects.toThrow(message);
    expect((await config()).serial).toBe(before);
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
  /** What the OS scripts wrote at the start of the node's file disks. */
  const diskText = async (node: string) => {
    let text = '';
    for (const dir of await readdir(fileDisks(node)).catch(() => []))
      for (const file of await readdir(join(fileDisks(node), dir)))
        text += (await readFile(join(fileDisks(node), dir, file))).subarray(0, 64 * 1024).toString('latin1');
    return text;
  };

  it('creates an instance: disks, the OS create script with its environment, and a start', async () => {
    await ok([create('web1', { pnode: 'node1', osparams: { answer: '42' } })]);
    expect(await statusOf('web1')).toBe('running');
    const web1 = (await instance('web1'))!;
    expect(web1).toMatchObject({ adminState: 'up', os: 'testos+default', disksActive: true });
    const env = await diskText('node1');
    for (const line of [
      'INSTANCE_NAME=web1',
      'OS_VARIANT=default',
      'DISK_COUNT=1',
      'OSP_ANSWER=42',
      'HYPERVISOR=fake',
    ])
      expect(env).toContain(line);
    const jobs = (await call({ op: 'jobs', consistent: false })).jobs.map((job) => jobViewSchema.parse(job));
    const log = jobs
      .find((job) => job.ops[0]?.input.OP_ID === 'OP_INSTANCE_CREATE')!
      .log.map((e) => e.message);
    expect(log.join('\n')).toContain('testos created web1');
  });

  it('refuses bad requests with one clear line and changes nothing', async () => {
    await refused(
      { OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'nosuch' },
      /instance nosuch does not exist/,
    );
    await refused(
      create('big', { pnode: 'node1', beparams: { memory: 4096 } }),
      /node1 cannot take big: not enough memory/,
    );
    await refused(create('lvm', { disk_template: 'plain' }), /disk template plain is not enabled/);
    await refused(create('web1'), /instance web1 already exists/);
    await refused(create('noos', { os_type: 'nosuchos' }), /OS nosuchos is not installed/);
    await refused(create('badvariant', { os_type: 'testos+nosuch' }), /OS testos has no variant nosuch/);
    await refused(
      { OP_ID: 'OP_INSTANCE_GROW_DISK', instance_name: 'web1', disk: 0, amount: 8, absolute: true },
      /disks only grow/,
    );
    await ok([{ OP_ID: 'OP_NODE_SET_PARAMS', node_name: 'node3', drained: true }]);
    await refused(create('drained', { pnode: 'node3' }), /node3 is drained/);
    await ok([{ OP_ID: 'OP_NODE_SET_PARAMS', node_name: 'node3', drained: false }]);
    await refused({ OP_ID: 'OP_NODE_REMOVE', node_name: 'node1' }, /still hosts web1|node1 is the master/);
    expect((await config()).instances.map((i) => i.name)).toEqual(['web1']);
  });

  it('shuts down, starts, reboots, and records the admin state', async () => {
    await ok([{ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: 'web1' }]);
    expect(await statusOf('web1')).toBe('ADMIN_down');
    await ok([{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'web1' }]);
    expect(await statusOf('web1')).toBe('running');
    await ok([{ OP_ID: 'OP_INSTANCE_REBOOT', instance_name: 'web1', reboot_type: 'full' }]);
    expect(await statusOf('web1')).toBe('running');
  });

  it('modifies, grows, renames and reinstalls', async () => {
    await ok([
      {
        OP_ID: 'OP_INSTANCE_SET_PARAMS',
        instance_name: 'web1',
        beparams: { memory: 128, vcpus: 2 },
        disks_add: [{ size: 16 }],
      },
    ]);
    await ok([{ OP_ID: 'OP_INSTANCE_GROW_DISK', instance_name: 'web1', disk: 0, amount: 32 }]);
    let web1 = (await instance('web1'))!;
    expect(web1.beParams).toMatchObject({ maxmemMiB: 128, minmemMiB: 128, vcpus: 2 });
    expect(web1.disks.map((d) => d.sizeMiB)).toEqual([64, 16]);
    await refused(
      { OP_ID: 'OP_INSTANCE_RENAME', instance_name: 'web1', new_name: 'www1' },
      /web1 is running on node1; shut it down first/,
    );
    await ok([{ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: 'web1' }]);
    await ok([{ OP_ID: 'OP_INSTANCE_RENAME', instance_name: 'web1', new_name: 'www1' }]);
    await ok([{ OP_ID: 'OP_INSTANCE_REINSTALL', instance_name: 'www1' }]);
    web1 = (await instance('www1'))!;
    expect(web1.disks).toHaveLength(2);
    const env = await diskText('node1');
    expect(env).toContain('INSTANCE_REINSTALL=1');
    expect(env).toContain('INSTANCE_NAME=www1');
    await ok([{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'www1' }]);
  });

  it('migrates and fails over shared-storage instances, and moves file instances by copying their disks', async () => {
    await ok([create('db1', { disk_template: 'sharedfile', pnode: 'node1' })]);
    await ok([{ OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: 'db1', target_node: 'node2' }]);
    expect(await nodeOf('db1')).toBe('node2');
    // Post hooks see the state before (GANETI_*) and after (GANETI_POST_*) the operation. They run once the
    // job's end is committed, so the job can be seen finished a moment before they have written their file.
    const hookEnv = await waitFor(
      async () => {
        const text = await readFile(join(baseDir, 'migrate-post-env'), 'utf8').catch(() => '');
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
    expect(await statusOf('db1')).toBe('running');
    await ok([{ OP_ID: 'OP_INSTANCE_FAILOVER', instance_name: 'db1', target_node: 'node3' }]);
    expect(await nodeOf('db1')).toBe('node3');
    expect(await statusOf('db1')).toBe('running');
    await refused(
      { OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: 'www1', target_node: 'node2' },
      /live migration of file disks needs the kvm hypervisor, .*www1 uses fake: use instance move/,
    );
    await ok([{ OP_ID: 'OP_INSTANCE_MOVE', instance_name: 'www1', target_node: 'node2' }]);
    expect(await nodeOf('www1')).toBe('node2');
    expect(await statusOf('www1')).toBe('running');
    // The disks travelled with their content: what the OS script wrote is on node2 now, and gone from node1.
    expect(await diskText('node2')).toContain('INSTANCE_NAME=www1');
    expect(await diskText('node1')).toBe('');
  });

  it('the watcher restarts an instance that should run but stopped behind the cluster’s back', async () => {
    const node = await nodeOf('db1');
    await rm(join(baseDir, node, 'fake-hv', 'db1.json'));
    expect(await statusOf('db1')).toBe('ERROR_down');
    await waitFor(async () => ((await statusOf('db1')) === 'running' ? true : undefined), {
      timeoutMs: 20_000,
      what: 'the watcher to restart db1',
    });
  });

  it('evacuates a node: every instance leaves it, one job each', async () => {
    await ok([{ OP_ID: 'OP_NODE_EVACUATE', node_name: 'node2', mode: 'all' }]);
    await waitFor(
      async () => {
        const view = await config();
        const node2 = view.nodes.find((n) => n.name === 'node2')!;
        return view.instances.every((i) => i.primaryNode !== node2.uuid) ? true : undefined;
      },
      { timeoutMs: 30_000, what: 'node2 to be empty' },
    );
    for (const name of ['www1', 'db1']) expect(await statusOf(name)).toBe('running');
  });

  it('the CLI lists instances with Ganeti fields and refuses bad options in one line', async () => {
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
      `db1|${await nodeOf('db1')}|running|256`,
      `www1|${await nodeOf('www1')}|running|128`,
    ]);
    const json = JSON.parse((await cli('instance', 'list', '--json', 'db1')).stdout);
    expect(json[0]).toMatchObject({ name: 'db1', status: 'running', os: 'testos+default' });
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
    expect(added).toEqual([{ name: 'cli1', 'be/maxmem': 64, 'disk.sizes': ['8', '4'] }]);
    await cli('instance', 'remove', 'cli1');
    const failure = await cli('instance', 'add', '-t', 'file', '-s', 'lots', '-o', 'testos', 'x1').catch(
      (e) => e,
    );
    expect(failure.code).toBe(1);
    expect(failure.stderr).toBe('corral: -s: lots is not a size (use 512M, 10G, 1T or a number of MiB)\n');
  });

  it('removes instances and their disks', async () => {
    for (const name of ['www1', 'db1']) await ok([{ OP_ID: 'OP_INSTANCE_REMOVE', instance_name: name }]);
    expect((await config()).instances).toEqual([]);
    for (const node of ['node1', 'node2', 'node3'])
      expect(await readdir(fileDisks(node)).catch(() => [])).toEqual([]);
    expect(await readdir(join(baseDir, 'shared-file-storage')).catch(() => [])).toEqual([]);
  });
});

/** An API 20 OS definition whose create and rename scripts write their environment at the start of the first disk. */
async function writeTestOs(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const script = (body: string) => `#!/bin/sh\nset -e\n${body}\n`;
  const files: Record<string, string> = {
    ganeti_api_version: '20\n15\n',
    'variants.list': 'default\nminimal\n',
    'parameters.list': 'answer the answer to write down\n',
    create: script(
      'env | sort | dd of="$DISK_0_PATH" conv=notrunc status=none\necho "testos created $INSTANCE_NAME"',
    ),
    import: script('cat > /dev/null'),
    export: script('exit 0'),
    rename: script(
      'env | sort | dd of="$DISK_0_PATH" conv=notrunc status=none\necho "renamed $OLD_INSTANCE_NAME to $INSTANCE_NAME"',
    ),
    verify: script('exit 0'),
  };
  for (const [name, content] of Object.entries(files)) {
    await writeFile(join(dir, name), content);
    if (!name.includes('.') && name !== 'ganeti_api_version') await chmod(join(dir, name), 0o755);
  }
}
