import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configViewSchema } from '../../src/cluster/views.js';
import { runJob } from '../../src/daemon/job-client.js';
import { cliEntryPoint, type DaemonProcess, startLocalCluster } from '../../src/daemon/local-cluster.js';
import { cli, cliRefusal } from '../helpers/cli.js';

/**
 * gnt-cluster's commands on three real daemons (127.0.0.65–67), through the CLI as an administrator runs
 * them: version and master-ping, the drained queue, the watcher's pause, rename, redist-conf,
 * repair-disk-sizes against a file disk grown behind the cluster's back, search-tags, and destroy, refused
 * until the master is the last node and then done.
 */
describe('gnt-cluster on real daemons', () => {
  let baseDir: string;
  let daemons: DaemonProcess[];
  const node = (i: number) => daemons[i]!;
  const config = async () =>
    configViewSchema.parse((await node(0).call({ op: 'config', consistent: true })).config);

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-cluster-ops-'));
    daemons = await startLocalCluster({
      baseDir,
      nodes: 3,
      firstHost: 65,
      enabledHypervisors: ['fake'],
      enabledDiskTemplates: ['diskless', 'file'],
    });
  }, 120_000);

  afterAll(async () => {
    await Promise.all((daemons ?? []).map((daemon) => daemon.stop('SIGKILL')));
    await rm(baseDir, { recursive: true, force: true });
  });

  it('version and master-ping answer from any node', async () => {
    const { stdout } = await cli(node(2), 'cluster', 'version');
    expect(stdout).toMatch(/^Software version: \d+\.\d+\.\d+$/m);
    expect(stdout).toMatch(/^Compatible with: Ganeti 3\.0\.2$/m);
    for (const daemon of daemons) expect((await cli(daemon, 'cluster', 'master-ping')).stdout).toBe('');
  }, 60_000);

  it('a drained queue refuses jobs from every node until undrained; redist-conf --yes-do-it still runs', async () => {
    await cli(node(1), 'cluster', 'queue', 'drain');
    expect((await cli(node(2), 'cluster', 'queue', 'info')).stdout).toBe('The drain flag is set\n');
    for (const daemon of daemons)
      expect(await cliRefusal(daemon, 'cluster', 'verify')).toBe(
        "corral: Queue drained: the master takes no new jobs until 'gnt-cluster queue undrain'",
      );
    expect(await cliRefusal(node(0), 'cluster', 'redist-conf')).toMatch(/^corral: Queue drained/);
    const { stdout } = await cli(node(2), 'cluster', 'redist-conf', '--yes-do-it');
    expect(stdout).toMatch(/every online node has applied configuration serial \d+/);
    await cli(node(2), 'cluster', 'queue', 'undrain');
    expect((await cli(node(0), 'cluster', 'queue', 'info')).stdout).toBe('The drain flag is unset\n');
    await cli(node(0), 'cluster', 'verify');
  }, 60_000);

  it('the watcher pause is replicated: set on one node, shown and lifted on others', async () => {
    expect((await cli(node(0), 'cluster', 'watcher', 'pause', '1h')).stdout).toMatch(
      /^The watcher is paused until .+\.\n$/,
    );
    expect((await cli(node(2), 'cluster', 'watcher', 'info')).stdout).toMatch(
      /^The watcher is paused until /,
    );
    expect((await cli(node(1), 'cluster', 'watcher', 'continue')).stdout).toBe(
      'The watcher is no longer paused.\n',
    );
    expect((await cli(node(0), 'cluster', 'watcher', 'info')).stdout).toBe('The watcher is not paused.\n');
  }, 60_000);

  it('rename with -f; redist-conf confirms every node has the new configuration', async () => {
    const { stdout } = await cli(node(1), 'cluster', 'rename', '-f', 'renamed.local');
    expect(stdout).toMatch(/^Cluster renamed from 'cluster\.local' to 'renamed\.local'$/m);
    expect((await config()).cluster.name).toBe('renamed.local');
    const serial = (await config()).serial;
    const redist = await cli(node(2), 'cluster', 'redist-conf');
    expect(redist.stdout).toMatch(new RegExp(`every online node has applied configuration serial ${serial}`));
  }, 60_000);

  it('repair-disk-sizes records the size a file disk has on its node', async () => {
    await runJob(
      (request) => node(0).call(request),
      [
        {
          OP_ID: 'OP_INSTANCE_CREATE',
          instance_name: 'grown',
          disk_template: 'file',
          disks: [{ size: 1 }],
          hypervisor: 'fake',
          no_install: true,
          start: false,
          pnode: 'node2',
        },
      ],
    );
    const instance = (await config()).instances.find((i) => i.name === 'grown')!;
    const files = await readdir(join(baseDir, 'node2', 'file-storage'), { recursive: true });
    const disk = files.find((file) => file.endsWith(instance.disks[0]!.uuid));
    expect(disk).toBeDefined();
    await truncate(join(baseDir, 'node2', 'file-storage', disk!), 3 * 1024 * 1024);
    const { stdout } = await cli(node(2), 'cluster', 'repair-disk-sizes', 'grown');
    expect(stdout).toMatch(/disk 0 of instance grown has mismatched size, correcting: recorded 1, actual 3/);
    expect((await config()).instances.find((i) => i.name === 'grown')!.disks[0]!.sizeMiB).toBe(3);
    expect(await cliRefusal(node(0), 'cluster', 'repair-disk-sizes', 'missing')).toBe(
      'corral: instance missing does not exist',
    );
    await runJob(
      (request) => node(0).call(request),
      [{ OP_ID: 'OP_INSTANCE_REMOVE', instance_name: 'grown' }],
    );
  }, 60_000);

  it('search-tags finds tags on the cluster and its nodes', async () => {
    await cli(node(0), 'cluster', 'add-tags', 'site:ams');
    await runJob(
      (request) => node(0).call(request),
      [{ OP_ID: 'OP_TAGS_SET', kind: 'node', name: 'node3', tags: ['site:ams-2'] }],
    );
    expect((await cli(node(1), 'cluster', 'search-tags', '^site:')).stdout).toBe(
      '/cluster site:ams\n/nodes/node3 site:ams-2\n',
    );
    const none = await cli(node(1), 'cluster', 'search-tags', 'nowhere').then(
      () => 0,
      (error: { code: number }) => error.code,
    );
    expect(none).toBe(1);
  }, 60_000);

  it('command runs on every online node, the master last, and reports each exit code', async () => {
    const master = (await cli(node(0), 'cluster', 'getmaster')).stdout.trim();
    // Each node's daemon runs it where its data dir is: the marker file names the node it ran on.
    const marker = join(baseDir, 'ran-on');
    const { stdout } = await cli(
      node(1),
      'cluster',
      'command',
      `echo $(hostname) >> ${marker}; ls ${baseDir} | grep -c node; exit 3`,
    );
    const blocks = stdout.split('------------------------------------------------\n').filter(Boolean);
    expect(blocks).toHaveLength(3);
    expect(blocks.map((block) => block.split('\n')[0])).toEqual(
      [...['node1', 'node2', 'node3'].filter((name) => name !== master), master].map(
        (name) => `node: ${name}`,
      ),
    );
    for (const block of blocks) expect(block).toBe(`${block.split('\n')[0]}\n3\nreturn code = 3\n`);
    expect((await readFile(marker, 'utf8')).trim().split('\n')).toHaveLength(3);
    // -d is Corral's own (--debug): after --, it is the command's (the socket goes before it, then).
    const one = await promisify(execFile)(process.execPath, [
      cliEntryPoint(),
      'cluster',
      'command',
      '--socket',
      node(0).socketPath,
      '-n',
      'node2',
      '-M',
      '--',
      'ls',
      '-d',
      '/',
    ]);
    expect(one.stdout).toBe('------------------------------------------------\nnode2: /\nreturn code = 0\n');
    expect((await cli(node(0), 'cluster', 'command', '--failure-only', 'exit', '0')).stdout).toBe('');
    expect(await cliRefusal(node(0), 'cluster', 'command', '-n', 'node9', 'true')).toBe(
      'corral: node node9 is not in the cluster',
    );
  }, 60_000);

  it('copyfile writes the file at the same path on the other nodes, with its mode', async () => {
    const file = join(baseDir, 'shared-note');
    await writeFile(file, 'copied\n', { mode: 0o640 });
    // The nodes share this machine's disk: each writes it in place, whole, under a temporary name first.
    await cli(node(2), 'cluster', 'copyfile', file);
    expect(await readFile(file, 'utf8')).toBe('copied\n');
    // Written by the two other nodes' daemons, not by node3's own.
    const wrote = async (daemon: DaemonProcess) =>
      (await readFile(daemon.logPath, 'utf8')).includes('writing a file for a member (cluster copyfile)');
    expect(await Promise.all(daemons.map(wrote))).toEqual([true, true, false]);
    expect((await stat(file)).mode & 0o7777).toBe(0o640);
    expect(await cliRefusal(node(2), 'cluster', 'copyfile', join(baseDir, 'missing'))).toBe(
      `corral: No such filename '${join(baseDir, 'missing')}'`,
    );
  }, 60_000);

  it('destroy is refused until the master is the last node; then the node leaves and its daemon stops', async () => {
    expect(await cliRefusal(node(0), 'cluster', 'destroy')).toMatch(/supply the --yes-do-it option\.$/);
    expect(await cliRefusal(node(0), 'cluster', 'destroy', '--yes-do-it')).toBe(
      'corral: There are still 2 other node(s) in this cluster: remove them first (node remove)',
    );
    const master = (await cli(node(0), 'cluster', 'getmaster')).stdout.trim();
    const masterIndex = daemons.findIndex((daemon) => daemon.options.name === master);
    const others = daemons.filter((_, i) => i !== masterIndex);
    expect(await cliRefusal(others[0]!, 'cluster', 'destroy', '--yes-do-it')).toBe(
      'corral: run cluster destroy on the master (cluster getmaster names it)',
    );
    for (const other of others)
      await runJob(
        (request) => node(masterIndex).call(request),
        [{ OP_ID: 'OP_NODE_REMOVE', node_name: other.options.name }],
      );
    const { stdout } = await cli(node(masterIndex), 'cluster', 'destroy', '--yes-do-it');
    expect(stdout).toBe(
      'Cluster renamed.local destroyed: this node has left it and its daemon has stopped\n',
    );
    await node(masterIndex).whenExited();
    expect(await cliRefusal(node(masterIndex), 'cluster', 'master-ping')).toMatch(/^corral: /);
  }, 120_000);
});
