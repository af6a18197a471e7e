import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, open, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExportInfo } from '../../src/cluster/export-info.js';
import { configViewSchema, type InstanceView } from '../../src/cluster/views.js';
import { type DaemonCall, runJob } from '../../src/daemon/job-client.js';
import { cliEntryPoint, type DaemonProcess, startLocalCluster } from '../../src/daemon/local-cluster.js';

const run = promisify(execFile);

/**
 * gnt-backup on three real daemons (127.0.0.136-138), fake hypervisor, file disks, and Debian's
 * ganeti-os-noop, whose export and import scripts dd the disk out and in: what an instance's disks held is
 * what an instance imported from its export holds.
 */
describe('instance export and import on a real cluster', () => {
  let baseDir: string;
  let daemons: DaemonProcess[] = [];
  let call: DaemonCall;
  let socket: string;

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-backup-'));
    daemons = await startLocalCluster({
      baseDir,
      nodes: 3,
      firstHost: 136,
      fakeMemoryMiB: 1024,
      daemonFlags: ['--os-search-path', '/usr/share/ganeti/os'],
    });
    call = (request) => daemons[2]!.call(request);
    socket = daemons[2]!.socketPath;
  });

  afterAll(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    await rm(baseDir, { recursive: true, force: true });
  });

  const cli = (...args: string[]) => run(process.execPath, [cliEntryPoint(), ...args, '--socket', socket]);
  /** The CLI's one-line refusal and exit status 1, and no change to the configuration. */
  const refused = async (args: string[], message: RegExp) => {
    const before = (await config()).serial;
    const failure = await cli(...args).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr.trim().split('\n')).toHaveLength(1);
    expect(failure?.stderr).toMatch(message);
    expect((await config()).serial).toBe(before);
  };
  const config = async () => configViewSchema.parse((await call({ op: 'config', consistent: true })).config);
  const instance = async (name: string) => (await config()).instances.find((i) => i.name === name);
  const diskFile = (node: string, inst: InstanceView, index: number) =>
    join(baseDir, node, 'file-storage', inst.uuid, inst.disks[index]!.uuid);
  const exportDir = (node: string, name: string) => join(baseDir, node, 'export', name);
  const running = async (name: string) =>
    (await call({ op: 'nodes-live' })).nodes.flatMap((n) =>
      (n.status?.instances ?? []).filter((i) => i.name === name && i.state === 'running').map(() => n.name),
    );
  /** Disk images compared by digest: a deep equality of megabytes is slow. */
  const digest = async (path: string) =>
    createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
  const writeAt = async (path: string, offset: number, text: string) => {
    const file = await open(path, 'r+');
    await file.write(Buffer.from(text), 0, text.length, offset);
    await file.close();
  };

  it('exports a running instance to another node: stopped, dumped by the OS, described, restarted', async () => {
    await runJob(call, [
      {
        OP_ID: 'OP_INSTANCE_CREATE',
        instance_name: 'db1',
        disk_template: 'file',
        disks: [{ size: 8 }, { size: 4 }],
        os_type: 'noop',
        hypervisor: 'fake',
        beparams: { memory: 64, vcpus: 2 },
        hvparams: {},
        tags: ['db', 'prod'],
        pnode: 'node1',
      },
    ]);
    const db1 = (await instance('db1'))!;
    await writeAt(diskFile('node1', db1, 0), 1024 * 1024, 'FIRST-DISK-MARKER');
    await writeAt(diskFile('node1', db1, 1), 4 * 1024 * 1024 - 17, 'SECOND-DISK-END');

    const { stdout } = await cli('backup', 'export', '-n', 'node2', 'db1');
    expect(stdout).toMatch(/disk\/0: 8388608 bytes exported/);
    expect(stdout).toMatch(/disk\/1: 4194304 bytes exported/);
    expect(await running('db1')).toEqual(['node1']);
    for (const index of [0, 1])
      expect(await digest(join(exportDir('node2', 'db1'), `disk${index}.dump`))).toBe(
        await digest(diskFile('node1', db1, index)),
      );
    const info = parseExportInfo(
      await readFile(join(exportDir('node2', 'db1'), 'config.ini'), 'utf8'),
      'db1',
    );
    expect(info).toMatchObject({
      name: 'db1',
      os: 'noop',
      source: 'node1',
      diskTemplate: 'file',
      hypervisor: 'fake',
      tags: ['db', 'prod'],
      disks: [
        { sizeMiB: 8, dump: 'disk0.dump' },
        { sizeMiB: 4, dump: 'disk1.dump' },
      ],
      beParams: { maxmem: '64', minmem: '64', vcpus: '2' },
    });
    expect(info.nics[0]?.mac).toBe(db1.nics[0]?.mac);

    const list = await cli('backup', 'list', '--no-headers');
    expect(list.stdout.trim().split('\n')).toEqual([expect.stringMatching(/^node2\s+db1$/)]);
  });

  it('refuses exports and imports it cannot do, in one line, changing nothing', async () => {
    await refused(['backup', 'export', '-n', 'node2', '--noshutdown', 'db1'], /needs disk snapshots/);
    await refused(['backup', 'export', '-n', 'node9', 'db1'], /node9/);
    await refused(['backup', 'export', '-n', 'node2', 'nosuch'], /nosuch/);
    await refused(['backup', 'import', '-n', 'node2', 'ghost'], /no export of ghost/);
    await refused(
      ['backup', 'import', '-n', 'node2', '--src-dir', '../../etc', 'x1'],
      /not a path|no export/,
    );
    await refused(['backup', 'remove', 'ghost'], /no export of ghost/);
    await refused(
      [
        'backup',
        'import',
        '-n',
        'node2',
        '--src-dir',
        'db1',
        '--disk',
        '0:size=1M',
        '--disk',
        '1:size=4M',
        'tiny',
      ],
      /smaller than/,
    );
    expect(await instance('tiny')).toBeUndefined();
  });

  it('keeps one export per instance: a new export removes the older one', async () => {
    await cli('backup', 'export', '-n', 'node3', 'db1');
    const list = await cli('backup', 'list', '--no-headers');
    expect(list.stdout.trim().split('\n')).toEqual([expect.stringMatching(/^node3\s+db1$/)]);
    expect(await readdir(join(baseDir, 'node2', 'export'))).toEqual([]);
  });

  it('imports an export as a new instance, with the settings the export recorded and its disks', async () => {
    // As gnt-backup: what is not given (template, disks, memory, OS, tags) comes from the export.
    await run(process.execPath, [
      await ganetiAlias('gnt-backup'),
      'import',
      '-n',
      'node2',
      '--src-dir',
      'db1',
      'db2',
      '--socket',
      socket,
    ]);
    const db1 = (await instance('db1'))!;
    const db2 = (await instance('db2'))!;
    expect(db2).toMatchObject({ diskTemplate: 'file', os: 'noop', tags: ['db', 'prod'], adminState: 'up' });
    expect(db2.disks.map((d) => d.sizeMiB)).toEqual([8, 4]);
    expect(db2.beParams).toMatchObject({ maxmemMiB: 64, minmemMiB: 64, vcpus: 2 });
    // db1 still holds its MAC, so db2 gets a new one.
    expect(db2.nics[0]?.mac).not.toBe(db1.nics[0]?.mac);
    expect(await running('db2')).toEqual(['node2']);
    for (const index of [0, 1])
      expect(await digest(diskFile('node2', db2, index))).toBe(await digest(diskFile('node1', db1, index)));
    expect((await readFile(diskFile('node2', db2, 0))).includes('FIRST-DISK-MARKER')).toBe(true);
  });

  it('exports and removes an instance in one go, and removes exports', async () => {
    await cli('backup', 'export', '-n', 'node1', '--remove-instance', 'db2');
    expect(await instance('db2')).toBeUndefined();
    expect(await readdir(join(baseDir, 'node2', 'file-storage'))).toEqual([]);
    await cli('backup', 'remove', 'db1');
    const list = await cli('backup', 'list', '--no-headers');
    expect(list.stdout.trim().split('\n')).toEqual([expect.stringMatching(/^node1\s+db2$/)]);
  });

  /** A link named like Ganeti's command, as the package installs it. */
  async function ganetiAlias(name: string): Promise<string> {
    const path = join(baseDir, name);
    await symlink(cliEntryPoint(), path).catch(() => undefined);
    return path;
  }
});
