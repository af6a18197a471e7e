import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Opcode } from '../../src/cluster/opcodes.js';
import { waitFor } from '../../src/common/wait.js';
import type { DaemonCall } from '../../src/daemon/job-client.js';
import { DaemonProcess, startLocalCluster } from '../../src/daemon/local-cluster.js';
import { cli, cliRefusal } from '../helpers/cli.js';
import { clusterClient, entriesUnder, restoreCluster, writeTestOs } from '../helpers/real-cluster.js';

const run = promisify(execFile);

/**
 * The mirrored template on three real daemons (127.0.0.150-152) with the fake hypervisor. The fake guest
 * does no I/O, so qemu-io plays the guest, writing through the primary's NBD socket as QEMU would.
 * The daemons are shared; each case makes the instances it needs, and after each every daemon is running
 * again, every node online, and no instance or disk copy left, so that a case runs alone or in any order.
 */
describe('mirrored disks (drbd) on a real cluster', () => {
  let baseDir: string;
  let daemons: DaemonProcess[] = [];
  let call: DaemonCall;

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-mirror-'));
    const osDir = join(baseDir, 'os');
    await writeTestOs(osDir);
    daemons = await startLocalCluster({
      baseDir,
      nodes: 3,
      firstHost: 150,
      fakeMemoryMiB: 1024,
      enabledDiskTemplates: ['drbd', 'file', 'diskless'],
      daemonFlags: ['--os-search-path', osDir, '--watcher-interval', '0.5'],
    });
    call = (request) => daemons[2]!.call(request);
  });

  afterEach(async () => {
    await restoreCluster(daemons, call);
    for (const node of ['node1', 'node2', 'node3'])
      for (const storage of ['mirror-storage', 'file-storage']) {
        const dir = join(baseDir, node, storage);
        expect(await entriesUnder(dir), `left in ${dir}`).toEqual([]);
      }
  });

  afterAll(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    await rm(baseDir, { recursive: true, force: true });
  });

  const { config, ok, refused } = clusterClient((request) => call(request));
  const instance = async (name: string) => (await config()).instances.find((i) => i.name === name)!;
  const nodeNames = async (uuids: readonly string[]) => {
    const view = await config();
    return uuids.map((uuid) => view.nodes.find((n) => n.uuid === uuid)!.name);
  };
  /** The instance's primary, then its secondaries, by name. */
  const holders = async (name: string) => {
    const found = await instance(name);
    return nodeNames([found.primaryNode, ...found.secondaryNodes]);
  };
  /**
   * A running drbd instance with one 16 MiB disk on `pnode` mirrored to `snode`; installed by the test OS
   * unless `no_install` (an install leaves the mirror at generation 2, a bare create at 1).
   */
  const createDrbd = (
    name: string,
    pnode: string,
    snode: string,
    extra: Partial<Extract<Opcode, { OP_ID: 'OP_INSTANCE_CREATE' }>> = {},
  ) =>
    ok([
      {
        OP_ID: 'OP_INSTANCE_CREATE',
        instance_name: name,
        disk_template: 'drbd',
        disks: [{ size: 16 }],
        os_type: 'testos',
        start: true,
        hypervisor: 'fake',
        beparams: { memory: 128 },
        pnode,
        snode,
        ...extra,
      },
    ]);
  const image = async (node: string, name: string) => {
    const found = await instance(name);
    return readFile(join(baseDir, node, 'mirror-storage', found.uuid, found.disks[0]!.uuid));
  };
  /** Writes a pattern through the NBD socket of the node serving the disk, as the guest would. */
  const guestWrite = async (node: string, name: string, pattern: number, offset: string) => {
    const found = await instance(name);
    const socket = join(baseDir, node, 'mirror', 'nbd.sock');
    await run('qemu-io', [
      '-f',
      'raw',
      `nbd+unix:///${found.disks[0]!.uuid}?socket=${socket}`,
      '-c',
      `write -P ${pattern} ${offset} 64k`,
      '-c',
      'flush',
    ]);
  };
  const mirrorOf = async (name: string) => {
    const { mirror } = await instance(name);
    return { generation: mirror!.generation, current: (await nodeNames(mirror!.current)).sort() };
  };
  /** Kills node2's daemon: `restart` brings it back where it was (and the cleanup does, if a case fails first). */
  const killNode2 = async () => {
    const node2 = daemons[1]!;
    await node2.stop('SIGKILL');
    return {
      restart: async () => {
        daemons[1] = await DaemonProcess.spawn(node2.options);
      },
    };
  };

  it('refuses a drbd instance without a distinct secondary, or with qcow2 disks', async () => {
    const base = {
      OP_ID: 'OP_INSTANCE_CREATE',
      instance_name: 'bad',
      disk_template: 'drbd',
      hypervisor: 'fake',
      no_install: true,
    } as const;
    await refused({ ...base, disks: [{ size: 16 }], pnode: 'node1' }, /needs a secondary node/);
    await refused(
      { ...base, disks: [{ size: 16 }], pnode: 'node1', snode: 'node1' },
      /both the primary and the secondary/,
    );
    await refused(
      { ...base, disks: [{ size: 16, format: 'qcow2' }], pnode: 'node1', snode: 'node2' },
      /drbd disks are raw/,
    );
  });

  it('creates the disks on both nodes, installs on the primary and waits for the secondary to sync', async () => {
    await createDrbd('made1', 'node1', 'node2');
    expect(await holders('made1')).toEqual(['node1', 'node2']);
    expect(await mirrorOf('made1')).toEqual({ generation: 2, current: ['node1', 'node2'] });
    const primary = await image('node1', 'made1');
    expect(primary.toString('latin1')).toContain('INSTANCE_NAME=made1');
    expect(primary.equals(await image('node2', 'made1'))).toBe(true);
  });

  it('writes through the primary to both copies', async () => {
    await createDrbd('wrote1', 'node1', 'node2', { no_install: true });
    await guestWrite('node1', 'wrote1', 0xab, '1M');
    expect((await image('node1', 'wrote1')).equals(await image('node2', 'wrote1'))).toBe(true);
    expect((await image('node2', 'wrote1'))[1024 * 1024]).toBe(0xab);
  });

  it('serves the disks again when the primary daemon restarts, cleanly or not', async () => {
    await createDrbd('served1', 'node1', 'node2', { no_install: true });
    expect(await mirrorOf('served1')).toEqual({ generation: 1, current: ['node1', 'node2'] });
    /** The resync passes node1's primary logged for served1, with the bytes each compared. */
    const resyncPasses = async () =>
      (await readFile(daemons[0]!.logPath, 'utf8'))
        .split('\n')
        .filter((line) => line.includes('"the mirror resync pass ended"') && line.includes('"served1"'))
        .map((line) => JSON.parse(line) as { comparedBytes: number });
    let passesBefore = 0;
    for (const [signal, pattern] of [
      ['SIGTERM', 0x71],
      ['SIGKILL', 0x72],
    ] as const) {
      const node1 = daemons[0]!;
      passesBefore = (await resyncPasses()).length;
      await node1.stop(signal);
      daemons[0] = await DaemonProcess.spawn(node1.options);
      // The restarted primary links up with its peer again on its own; a write that came first would find
      // no peer and rightly run degraded (a new generation), which is not what this case is about.
      await waitFor(
        async () =>
          /disk\/0: drbd, size 16M.*, in sync\n/.test(
            (await cli(daemons[0]!, 'instance', 'info', 'served1')).stdout,
          )
            ? true
            : undefined,
        { timeoutMs: 30_000, intervalMs: 200, what: `served1's primary to link up again after a ${signal}` },
      );
      await guestWrite('node1', 'served1', pattern, '6M');
      await waitFor(
        async () =>
          (await image('node1', 'served1')).equals(await image('node2', 'served1')) ? true : undefined,
        { timeoutMs: 30_000, what: `the copies to match after a ${signal}` },
      );
      expect((await image('node2', 'served1'))[6 * 1024 * 1024]).toBe(pattern);
    }
    const pass = await waitFor(async () => (await resyncPasses()).at(passesBefore), {
      timeoutMs: 30_000,
      what: 'the resync after the SIGKILL to end',
    });
    // After the SIGKILL, the primary compared only the extent its activity log named (the 4 MiB one the
    // write at 6M went to since the clean restart), not the whole 16 MiB disk.
    expect(pass.comparedBytes).toBe(4 * 1024 * 1024);
    expect(await mirrorOf('served1')).toEqual({ generation: 1, current: ['node1', 'node2'] });
  });

  it('goes on without a dead secondary once the master records it stale, and resyncs it when it returns', async () => {
    await createDrbd('stale1', 'node1', 'node2', { no_install: true });
    expect(await mirrorOf('stale1')).toEqual({ generation: 1, current: ['node1', 'node2'] });
    const node2 = await killNode2();
    await guestWrite('node1', 'stale1', 0xcd, '2M');
    expect(await mirrorOf('stale1')).toEqual({ generation: 2, current: ['node1'] });
    await node2.restart();
    // The watcher sees the secondary without its mirror and reattaches it; the resync brings it level.
    await waitFor(async () => ((await mirrorOf('stale1')).current.length === 2 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'the secondary to resync',
    });
    expect((await image('node2', 'stale1'))[2 * 1024 * 1024]).toBe(0xcd);
    expect((await image('node1', 'stale1')).equals(await image('node2', 'stale1'))).toBe(true);
  });

  it('fails over to the secondary without copying, and the old primary mirrors it', async () => {
    await createDrbd('failed1', 'node1', 'node2', { no_install: true });
    const before = await mirrorOf('failed1');
    expect(before).toEqual({ generation: 1, current: ['node1', 'node2'] });
    await ok([{ OP_ID: 'OP_INSTANCE_FAILOVER', instance_name: 'failed1' }]);
    expect(await holders('failed1')).toEqual(['node2', 'node1']);
    await guestWrite('node2', 'failed1', 0xef, '3M');
    expect((await image('node1', 'failed1'))[3 * 1024 * 1024]).toBe(0xef);
    expect(await mirrorOf('failed1')).toEqual(before);
  });

  it('live-migrates back to the secondary without copying its disks', async () => {
    await createDrbd('migrated1', 'node2', 'node1', { no_install: true });
    await ok([{ OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: 'migrated1' }]);
    expect(await holders('migrated1')).toEqual(['node1', 'node2']);
    await guestWrite('node1', 'migrated1', 0x42, '5M');
    expect((await image('node2', 'migrated1'))[5 * 1024 * 1024]).toBe(0x42);
    expect((await image('node1', 'migrated1')).equals(await image('node2', 'migrated1'))).toBe(true);
  });

  it('refuses a failover or migration to a stale copy unless told to ignore consistency', async () => {
    await createDrbd('behind1', 'node1', 'node2', { no_install: true });
    await killNode2();
    await guestWrite('node1', 'behind1', 0x11, '4M');
    expect(await mirrorOf('behind1')).toMatchObject({ current: ['node1'] });
    await ok([{ OP_ID: 'OP_NODE_SET_PARAMS', node_name: 'node2', offline: true }]);
    await refused({ OP_ID: 'OP_INSTANCE_FAILOVER', instance_name: 'behind1' }, /is not current/);
    await refused({ OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: 'behind1' }, /not in sync/);
    // The cleanup brings node2 online, then back.
  });

  it('removes the disks on both nodes', async () => {
    await createDrbd('removed1', 'node1', 'node2', { no_install: true });
    const removed1 = await instance('removed1');
    for (const node of ['node1', 'node2'])
      expect((await image(node, 'removed1')).byteLength).toBeGreaterThan(0);
    await ok([{ OP_ID: 'OP_INSTANCE_REMOVE', instance_name: 'removed1' }]);
    for (const node of ['node1', 'node2'])
      await expect(
        readFile(join(baseDir, node, 'mirror-storage', removed1.uuid, removed1.disks[0]!.uuid)),
      ).rejects.toThrow(/ENOENT/);
  });

  it('moves the secondary to another node, remakes a copy, and evacuates a node of its secondaries', async () => {
    await createDrbd('db2', 'node1', 'node2', { no_install: true });
    await guestWrite('node1', 'db2', 0x21, '1M');
    const copy = (node: string) => image(node, 'db2');

    await ok([
      {
        OP_ID: 'OP_INSTANCE_REPLACE_DISKS',
        instance_name: 'db2',
        mode: 'replace_new_secondary',
        remote_node: 'node3',
      },
    ]);
    expect(await holders('db2')).toEqual(['node1', 'node3']);
    expect((await copy('node3')).equals(await copy('node1'))).toBe(true);
    await expect(copy('node2')).rejects.toThrow(/ENOENT/);
    await guestWrite('node1', 'db2', 0x22, '2M');
    expect((await copy('node3'))[2 * 1024 * 1024]).toBe(0x22);

    await ok([{ OP_ID: 'OP_INSTANCE_REPLACE_DISKS', instance_name: 'db2', mode: 'replace_on_secondary' }]);
    expect((await copy('node3')).equals(await copy('node1'))).toBe(true);
    expect(await mirrorOf('db2')).toMatchObject({ current: ['node1', 'node3'] });

    await refused(
      { OP_ID: 'OP_INSTANCE_REPLACE_DISKS', instance_name: 'db2', mode: 'replace_on_primary' },
      /stop it first/,
    );
    await refused(
      { OP_ID: 'OP_INSTANCE_GROW_DISK', instance_name: 'db2', disk: 0, amount: 16 },
      /stop it and deactivate its disks to grow them/,
    );
    await ok([{ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: 'db2' }]);
    await ok([{ OP_ID: 'OP_INSTANCE_GROW_DISK', instance_name: 'db2', disk: 0, amount: 16 }]);
    for (const node of ['node1', 'node3']) expect((await copy(node)).byteLength).toBe(32 * 1024 * 1024);
    await ok([{ OP_ID: 'OP_INSTANCE_REPLACE_DISKS', instance_name: 'db2', mode: 'replace_on_primary' }]);
    expect(await holders('db2')).toEqual(['node1', 'node3']);
    expect((await copy('node1'))[2 * 1024 * 1024]).toBe(0x22);
    expect((await copy('node3')).equals(await copy('node1'))).toBe(true);

    const evacuation = await ok([
      { OP_ID: 'OP_NODE_EVACUATE', node_name: 'node3', mode: 'secondary', remote_node: 'node2' },
    ]);
    const job = (evacuation.ops[0]!.result as { jobs: [boolean, number][] }).jobs[0]?.[1];
    await waitFor(async () => ((await mirrorOf('db2')).current.join() === 'node1,node2' ? true : undefined), {
      timeoutMs: 30_000,
      what: `the replace-disks job ${job} to sync the new secondary on node2`,
    });
    expect(await holders('db2')).toEqual(['node1', 'node2']);
    expect((await copy('node2')).equals(await copy('node1'))).toBe(true);
    await refused(
      {
        OP_ID: 'OP_INSTANCE_REPLACE_DISKS',
        instance_name: 'db2',
        mode: 'replace_on_secondary',
        remote_node: 'node3',
      },
      /goes with replace_new_secondary/,
    );
  });

  it('converts a stopped file instance to drbd with a new secondary, and back', async () => {
    await ok([
      {
        OP_ID: 'OP_INSTANCE_CREATE',
        instance_name: 'web3',
        disk_template: 'file',
        disks: [{ size: 8 }],
        os_type: 'testos',
        start: false,
        hypervisor: 'fake',
        beparams: { memory: 128 },
        pnode: 'node1',
      },
    ]);
    const fileCopy = async () => {
      const web3 = await instance('web3');
      return readFile(join(baseDir, 'node1', 'file-storage', web3.uuid, web3.disks[0]!.uuid));
    };
    await refused(
      { OP_ID: 'OP_INSTANCE_SET_PARAMS', instance_name: 'web3', disk_template: 'drbd' },
      /needs its secondary node/,
    );
    await ok([
      { OP_ID: 'OP_INSTANCE_SET_PARAMS', instance_name: 'web3', disk_template: 'drbd', remote_node: 'node3' },
    ]);
    expect(await mirrorOf('web3')).toEqual({ generation: 1, current: ['node1', 'node3'] });
    expect((await image('node3', 'web3')).toString('latin1')).toContain('INSTANCE_NAME=web3');
    expect((await image('node3', 'web3')).equals(await image('node1', 'web3'))).toBe(true);
    await ok([{ OP_ID: 'OP_INSTANCE_SET_PARAMS', instance_name: 'web3', disk_template: 'file' }]);
    const web3 = await instance('web3');
    expect({ template: web3.diskTemplate, secondaries: web3.secondaryNodes, mirror: web3.mirror }).toEqual({
      template: 'file',
      secondaries: [],
      mirror: undefined,
    });
    expect((await fileCopy()).toString('latin1')).toContain('INSTANCE_NAME=web3');
    await expect(image('node3', 'web3')).rejects.toThrow(/ENOENT/);
  });

  it('does the same from the command line, as a Ganeti administrator would', async () => {
    const node3 = daemons[2]!;
    await cli(
      node3,
      'instance',
      'add',
      '-t',
      'drbd',
      '-n',
      'node2:node3',
      '-s',
      '16M',
      '-H',
      'fake',
      '--no-install',
      '--start',
      'db4',
    );
    const info = (await cli(node3, 'instance', 'info', 'db4')).stdout;
    expect(info).toContain('Disk template: drbd');
    expect(info).toMatch(/disk\/0: drbd, size 16M.*in sync/);
    expect(info).toContain('Mirror: generation 1, current on node2, node3');
    await cli(node3, 'instance', 'replace-disks', '-n', 'node1', 'db4');
    expect((await cli(node3, 'instance', 'info', 'db4')).stdout).toContain('    - secondaries: node1');
    expect(await cliRefusal(node3, 'instance', 'replace-disks', '-s', '-p', 'db4')).toMatch(
      /give exactly one of -p, -s, -n NODE, -I NAME, -a/,
    );
    await cli(node3, 'node', 'failover', 'node2');
    const failedOver = (await cli(node3, 'instance', 'info', 'db4')).stdout;
    expect(failedOver).toContain('    - primary: node1');
    expect(failedOver).toMatch(/ {2}Last moved: job \d+, .*: failed over\n/);
    await cli(node3, 'instance', 'migrate', 'db4');
    const migrated = (await cli(node3, 'instance', 'info', 'db4')).stdout;
    expect(migrated).toContain('    - primary: node2');
    expect(migrated).toMatch(/ {2}Last moved: job \d+, .*: migrated\n/);
    await cli(node3, 'instance', 'remove', '-f', 'db4');
  });
});
