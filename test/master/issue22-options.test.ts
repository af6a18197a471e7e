import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MasterWorld } from '../../simulations/master-world.js';
import { failureOf, runJob } from '../../simulations/sim-jobs.js';
import { SIM_OS } from '../../simulations/sim-os.js';
import type { IAllocRequest } from '../../src/alloc/iallocator/request.js';
import { liveSnapshot } from '../../src/alloc/live-snapshot.js';
import { findInstance } from '../../src/cluster/config.js';
import type { JobRecord } from '../../src/cluster/jobs.js';
import { shownJob } from '../../src/cluster/jobs.js';
import type { JobId } from '../../src/cluster/model.js';
import type { Opcode } from '../../src/cluster/opcodes.js';
import { toConfigView } from '../../src/cluster/views.js';
import { asNodeId } from '../../src/common/ids.js';
import { askAllocator } from '../../src/master/instance-placement.js';
import { osInstance } from '../../src/master/instance-steps.js';
import { balloonBeforeMigration, hvVersionCheck } from '../../src/master/migration-checks.js';

/**
 * Issue 22's remaining instance options, on simulated nodes: failover and migrate placed by the allocator
 * (-I), failover --cleanup, migrate's runtime memory changes, --ignore-offline, reboot --ignore-secondaries,
 * move --ignore-consistency and activate-disks --wait-for-sync and --ignore-size.
 */

const node1 = asNodeId('node1');
const job = (world: MasterWorld, ops: Opcode[]) => runJob(world, node1, ops);
const logs = (ended: JobRecord) => ended.log.map((entry) => entry.message);
const resultOf = (ended: JobRecord) => ended.ops[0]!.result as { node?: string };

const create = (
  name: string,
  template: 'file' | 'sharedfile' | 'drbd',
  pnode: string,
  extra: Partial<Extract<Opcode, { OP_ID: 'OP_INSTANCE_CREATE' }>> = {},
): Opcode => ({
  OP_ID: 'OP_INSTANCE_CREATE',
  instance_name: name,
  disk_template: template,
  disks: [{ size: 64 }],
  os_type: SIM_OS,
  beparams: { memory: 128 },
  pnode,
  ...extra,
});

async function world(seed: number, nodes = 3): Promise<MasterWorld> {
  const formed = new MasterWorld({ seed, nodes });
  await formed.form();
  return formed;
}

function instanceOf(w: MasterWorld, name: string) {
  return findInstance(w.machine(node1).service!.localConfig()!, name)!;
}

function primaryName(w: MasterWorld, name: string): string {
  const config = w.machine(node1).service!.localConfig()!;
  return config.nodes.get(findInstance(config, name)!.primaryNode)!.name;
}

describe('failover and migrate: -I and --cleanup', () => {
  it('places a shared-storage instance with the allocator named, refuses an unknown one and -I for drbd', async () => {
    const w = await world(41);
    expect((await job(w, [create('web', 'sharedfile', 'node1')])).status).toBe('success');
    const unknown = await job(w, [
      { OP_ID: 'OP_INSTANCE_FAILOVER', instance_name: 'web', iallocator: 'nope' },
    ]);
    expect(failureOf(unknown)).toMatch(/nope/);
    expect(primaryName(w, 'web')).toBe('node1');

    const failed = await job(w, [{ OP_ID: 'OP_INSTANCE_FAILOVER', instance_name: 'web', iallocator: '.' }]);
    expect(failed.status, failureOf(failed)).toBe('success');
    expect(logs(failed).some((line) => /the allocator selected node[23] for web/.test(line))).toBe(true);
    expect(primaryName(w, 'web')).not.toBe('node1');

    const migrated = await job(w, [{ OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: 'web', iallocator: '.' }]);
    expect(migrated.status, failureOf(migrated)).toBe('success');
    expect(logs(migrated).some((line) => line.includes('the allocator selected'))).toBe(true);

    const both = await job(w, [
      { OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: 'web', iallocator: '.', target_node: 'node1' },
    ]);
    expect(failureOf(both)).toBe('give a target node (-n) or an iallocator (-I), not both');

    expect((await job(w, [create('db', 'drbd', 'node1', { snode: 'node2' })])).status).toBe('success');
    const drbd = await job(w, [{ OP_ID: 'OP_INSTANCE_FAILOVER', instance_name: 'db', iallocator: '.' }]);
    expect(failureOf(drbd)).toMatch(/^db uses drbd and can only be failed over to its secondary: drop -I/);
  }, 120_000);

  it('failover --cleanup records where the instance runs and moves nothing', async () => {
    const w = await world(42);
    expect((await job(w, [create('web', 'sharedfile', 'node2')])).status).toBe('success');
    const cleaned = await job(w, [{ OP_ID: 'OP_INSTANCE_FAILOVER', instance_name: 'web', cleanup: true }]);
    expect(cleaned.status, failureOf(cleaned)).toBe('success');
    expect(resultOf(cleaned).node).toBe('node2');
    expect(logs(cleaned)).toContain('web stays on node2');
    expect(primaryName(w, 'web')).toBe('node2');
  }, 120_000);
});

describe('migrate --cleanup of a mirrored instance', () => {
  it('finds it on its secondary after the master died mid-migration, and swaps the roles of the two nodes', async () => {
    const w = await world(44);
    expect((await job(w, [create('db', 'drbd', 'node1', { snode: 'node2' })])).status).toBe('success');
    // As a master that died after the guest moved, before it recorded the move: the guest waits paused on
    // the secondary and is gone from the primary.
    const from = w.machine(node1).guests;
    const guest = (await from.read('db'))!;
    await w.machine(asNodeId('node2')).guests.write({ ...guest, state: 'paused' });
    await from.remove('db');

    const cleaned = await job(w, [{ OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: 'db', cleanup: true }]);
    expect(cleaned.status, failureOf(cleaned)).toBe('success');
    expect(resultOf(cleaned).node).toBe('node2');
    const config = w.machine(node1).service!.localConfig()!;
    const db = instanceOf(w, 'db');
    expect(config.nodes.get(db.primaryNode)?.name).toBe('node2');
    expect(db.secondaryNodes.map((uuid) => config.nodes.get(uuid)?.name)).toEqual(['node1']);
    expect(w.guests().filter((g) => g.guest.name === 'db')).toEqual([
      { node: asNodeId('node2'), guest: expect.objectContaining({ state: 'running' }) },
    ]);

    const back = await job(w, [{ OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: 'db' }]);
    expect(back.status, failureOf(back)).toBe('success');
    expect(primaryName(w, 'db')).toBe('node1');
  }, 120_000);
});

describe('--force-variant', () => {
  it('lets an OS variant the node does not list through on add and reinstall, and only then', async () => {
    const w = await world(45);
    const refused = await job(w, [create('v1', 'file', 'node1', { os_type: `${SIM_OS}+beta` })]);
    expect(failureOf(refused)).toBe(`OS ${SIM_OS} has no variant beta`);
    const forced = await job(w, [
      create('v1', 'file', 'node1', { os_type: `${SIM_OS}+beta`, force_variant: true }),
    ]);
    expect(forced.status, failureOf(forced)).toBe('success');
    expect(instanceOf(w, 'v1').os).toBe(`${SIM_OS}+beta`);

    await job(w, [{ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: 'v1' }]);
    const again = {
      OP_ID: 'OP_INSTANCE_REINSTALL',
      instance_name: 'v1',
      os_type: `${SIM_OS}+gamma`,
    } as const;
    expect(failureOf(await job(w, [again]))).toBe(`OS ${SIM_OS} has no variant gamma`);
    const reinstalled = await job(w, [{ ...again, force_variant: true }]);
    expect(reinstalled.status, failureOf(reinstalled)).toBe('success');
    expect(instanceOf(w, 'v1').os).toBe(`${SIM_OS}+gamma`);
  }, 120_000);
});

describe('migrate: runtime memory changes', () => {
  it('balloons the guest down to what the target has free, unless --no-runtime-changes', async () => {
    const w = await world(43);
    // node2 keeps 4096 - 3584 = 512 MiB free: less than web's 1024, more than its minmem.
    expect(
      (await job(w, [create('big', 'sharedfile', 'node2', { beparams: { memory: 3584 } })])).status,
    ).toBe('success');
    const web = create('web', 'sharedfile', 'node1', { beparams: { maxmem: 1024, minmem: 256 } });
    expect((await job(w, [web])).status).toBe('success');

    const refused = await job(w, [
      {
        OP_ID: 'OP_INSTANCE_MIGRATE',
        instance_name: 'web',
        target_node: 'node2',
        allow_runtime_changes: false,
      },
    ]);
    expect(failureOf(refused)).toMatch(
      /^Memory ballooning not allowed and not enough free memory to fit instance web on target node node2 \(have \d+MB, need 1024MB\)/,
    );
    expect(primaryName(w, 'web')).toBe('node1');

    const ballooned = await job(w, [
      { OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: 'web', target_node: 'node2' },
    ]);
    expect(ballooned.status, failureOf(ballooned)).toBe('success');
    expect(
      logs(ballooned).some((line) => /^set the memory of web to \d+ MiB to fit on node2$/.test(line)),
    ).toBe(true);
    expect(primaryName(w, 'web')).toBe('node2');
  }, 120_000);

  it('node migrate --no-runtime-changes passes the refusal to each instance', async () => {
    const w = await world(44);
    expect((await job(w, [create('web', 'sharedfile', 'node1')])).status).toBe('success');
    const planned = await job(w, [
      { OP_ID: 'OP_NODE_MIGRATE', node_name: 'node1', target_node: 'node2', allow_runtime_changes: false },
    ]);
    expect(planned.status, failureOf(planned)).toBe('success');
    const [[, child]] = (planned.ops[0]!.result as { jobs: [boolean, JobId][] }).jobs as [[boolean, JobId]];
    const migrated = await w.waitJob(node1, child);
    expect(migrated.ops[0]!.input).toMatchObject({
      OP_ID: 'OP_INSTANCE_MIGRATE',
      allow_runtime_changes: false,
    });
  }, 120_000);

  it('compares the node agents as hypervisor versions, and balloons only what does not fit', () => {
    const same = hvVersionCheck({ name: 'a', version: '1.0' }, { name: 'b', version: '1.0' }, false);
    expect(same).toEqual([]);
    expect(() => hvVersionCheck({ name: 'a', version: '1.0' }, { name: 'b', version: '1.1' }, false)).toThrow(
      'migration between corral 1.0 on a and 1.1 on b is likely unsupported: upgrade one of them, or add --ignore-hvversions',
    );
    expect(hvVersionCheck({ name: 'a', version: '1.0' }, { name: 'b', version: '1.1' }, true)).toHaveLength(
      2,
    );
    expect(hvVersionCheck({ name: 'a', version: undefined }, { name: 'b', version: '1.1' }, false)).toEqual(
      [],
    );
    expect(balloonBeforeMigration('web', 'b', 512, 1024, false)).toBeUndefined();
    expect(balloonBeforeMigration('web', 'b', 1024, 600, true)).toBe(600);
  });
});

describe('startup and shutdown --ignore-offline, reboot --ignore-secondaries', () => {
  it('with the primary offline, refuses, or only records the state when told to', async () => {
    const w = await world(45);
    expect((await job(w, [create('web', 'file', 'node3', { start: false })])).status).toBe('success');
    const offline = await job(w, [{ OP_ID: 'OP_NODE_SET_PARAMS', node_name: 'node3', offline: true }]);
    expect(offline.status, failureOf(offline)).toBe('success');

    const start = await job(w, [{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'web' }]);
    expect(failureOf(start)).toBe(
      'the primary node node3 of web is offline; add --ignore-offline to only record it as up',
    );
    const marked = await job(w, [
      { OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'web', ignore_offline_nodes: true },
    ]);
    expect(marked.status, failureOf(marked)).toBe('success');
    expect(instanceOf(w, 'web').adminState).toBe('up');

    const stop = await job(w, [{ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: 'web' }]);
    expect(failureOf(stop)).toBe(
      'the primary node node3 of web is offline; add --ignore-offline to only record it as down',
    );
    const down = await job(w, [
      { OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: 'web', ignore_offline_nodes: true },
    ]);
    expect(down.status, failureOf(down)).toBe('success');
    expect(instanceOf(w, 'web').adminState).toBe('down');
  }, 120_000);

  it('a full reboot of a drbd instance whose secondary is down needs --ignore-secondaries', async () => {
    const w = await world(46);
    expect((await job(w, [create('db', 'drbd', 'node1', { snode: 'node3' })])).status).toBe('success');
    w.crash(asNodeId('node3'));
    const refused = await job(w, [{ OP_ID: 'OP_INSTANCE_REBOOT', instance_name: 'db', reboot_type: 'full' }]);
    expect(failureOf(refused)).toMatch(
      /^the secondary node3 of db does not answer \(.*\); add --ignore-secondaries to reboot it without its mirror$/,
    );
    const rebooted = await job(w, [
      { OP_ID: 'OP_INSTANCE_REBOOT', instance_name: 'db', reboot_type: 'full', ignore_secondaries: true },
    ]);
    expect(rebooted.status, failureOf(rebooted)).toBe('success');
  }, 120_000);
});

describe('move --ignore-consistency, activate-disks --wait-for-sync and --ignore-size', () => {
  it('a move copies the disks though the source cannot stop the guest, only with --ignore-consistency', async () => {
    const w = await world(47);
    expect((await job(w, [create('web', 'file', 'node2')])).status).toBe('success');
    // The guest hangs in the hypervisor: the node agent cannot stop it.
    const guests = w.machine(asNodeId('node2')).guests;
    const remove = guests.remove;
    Object.assign(guests, {
      remove: async () => {
        throw new Error('the hypervisor does not answer');
      },
    });
    const refused = await job(w, [
      { OP_ID: 'OP_INSTANCE_MOVE', instance_name: 'web', target_node: 'node3', shutdown_timeout: 0 },
    ]);
    expect(failureOf(refused)).toMatch(/hypervisor does not answer/);
    const moved = await job(w, [
      {
        OP_ID: 'OP_INSTANCE_MOVE',
        instance_name: 'web',
        target_node: 'node3',
        shutdown_timeout: 0,
        ignore_consistency: true,
        compress: 'gzip',
      },
    ]);
    Object.assign(guests, { remove });
    expect(moved.status, failureOf(moved)).toBe('success');
    expect(logs(moved)).toContain(
      'not starting web on node3 while it may still run on node2; start it once it has stopped there',
    );
    expect(logs(moved)).toContain(
      "the disks are copied uncompressed: Corral's copy over libp2p has no gzip stage",
    );
    expect(primaryName(w, 'web')).toBe('node3');
  }, 120_000);

  it('refuses a disk smaller than recorded unless --ignore-size, and waits for a drbd sync on request', async () => {
    const w = await world(48);
    expect((await job(w, [create('web', 'file', 'node2', { start: false })])).status).toBe('success');
    const web = instanceOf(w, 'web');
    w.machine(asNodeId('node2')).localDisks.disks.get(`${web.uuid}/${web.disks[0]!.uuid}`)!.sizeMiB = 32;
    const refused = await job(w, [{ OP_ID: 'OP_INSTANCE_ACTIVATE_DISKS', instance_name: 'web' }]);
    expect(failureOf(refused)).toBe(
      'disk/0 of web is 32 MiB on node2, less than the 64 MiB recorded: run cluster repair-disk-sizes, or add --ignore-size',
    );
    const ignored = await job(w, [
      { OP_ID: 'OP_INSTANCE_ACTIVATE_DISKS', instance_name: 'web', ignore_size: true },
    ]);
    expect(ignored.status, failureOf(ignored)).toBe('success');

    expect((await job(w, [create('db', 'drbd', 'node1', { snode: 'node3', start: false })])).status).toBe(
      'success',
    );
    const synced = await job(w, [
      { OP_ID: 'OP_INSTANCE_ACTIVATE_DISKS', instance_name: 'db', wait_for_sync: true },
    ]);
    expect(synced.status, failureOf(synced)).toBe('success');
    expect(logs(synced)).toContain('the disks of db are in sync');
  }, 120_000);
});

describe('--identify-defaults', () => {
  it("leaves out of a new instance what equals the cluster's defaults", async () => {
    const w = await world(49);
    const given = { beparams: { vcpus: 1, maxmem: 256, minmem: 128 }, hvparams: { boot_order: 'disk' } };
    expect((await job(w, [create('kept', 'file', 'node1', { ...given, start: false })])).status).toBe(
      'success',
    );
    expect(instanceOf(w, 'kept').beParams).toMatchObject({ vcpus: 1, minmemMiB: 128 });
    const trimmed = await job(w, [
      create('trimmed', 'file', 'node1', { ...given, start: false, identify_defaults: true }),
    ]);
    expect(trimmed.status, failureOf(trimmed)).toBe('success');
    expect(instanceOf(w, 'trimmed').beParams).toEqual({ maxmemMiB: 256 });
  }, 120_000);
});

describe('--default-iallocator-params', () => {
  it('gives them to every allocator program run, and refuses them for the built-in allocator', async () => {
    const w = await world(50);
    const builtIn = await job(w, [
      { OP_ID: 'OP_CLUSTER_SET_PARAMS', default_iallocator_params: { 'no-capacity-checks': '1' } },
    ]);
    expect(failureOf(builtIn)).toBe(
      'the built-in allocator takes no parameters: set --default-iallocator to a program (such as hail) with them',
    );
    expect((await job(w, [create('web', 'sharedfile', 'node1')])).status).toBe('success');
    const config = w.machine(node1).service!.localConfig()!;
    const dir = mkdtempSync(join(tmpdir(), 'corral-ialloc-'));
    const program = join(dir, 'allocator');
    writeFileSync(program, `#!/bin/sh\nshift\necho '{"success":true,"info":"'"$*"'","result":["node3"]}'\n`);
    chmodSync(program, 0o755);
    const withParams = {
      ...config,
      cluster: { ...config.cluster, defaultIallocator: program, defaultIallocatorParams: { 'max-cpu': '2' } },
    };
    const snapshot = liveSnapshot(toConfigView(withParams), new Map());
    const request: IAllocRequest = {
      type: 'relocate',
      name: 'web',
      required_nodes: 1,
      relocate_from: ['node1'],
    };
    const { answer } = await askAllocator(withParams, snapshot, request, '.', false);
    expect(answer).toEqual({ success: true, info: '--max-cpu=2', result: ['node3'] });
  }, 120_000);
});

describe('modify -t drbd -I', () => {
  it('asks the allocator for the secondary of a conversion to drbd', async () => {
    const w = await world(51);
    expect((await job(w, [create('web', 'file', 'node1', { start: false })])).status).toBe('success');
    const both = await job(w, [
      {
        OP_ID: 'OP_INSTANCE_SET_PARAMS',
        instance_name: 'web',
        disk_template: 'drbd',
        remote_node: 'node2',
        iallocator: '.',
      },
    ]);
    expect(failureOf(both)).toMatch(
      /^a conversion to drbd needs its secondary node \(-n NODE\) or an allocator/,
    );
    // The allocator's choice comes first; the simulated nodes' in-memory disks cannot then change template
    // (real daemons convert them: test/storage/mirror-daemons.test.ts).
    const converted = await job(w, [
      { OP_ID: 'OP_INSTANCE_SET_PARAMS', instance_name: 'web', disk_template: 'drbd', iallocator: '.' },
    ]);
    expect(
      logs(converted).some((line) => /^the allocator chose node[23] as the secondary of web$/.test(line)),
    ).toBe(true);
  }, 120_000);
});

describe('--os-parameters-private', () => {
  it('gives them to the OS scripts, keeps them in the config, and shows them nowhere', async () => {
    const w = await world(52);
    const made = await job(w, [
      create('web', 'file', 'node1', {
        start: false,
        osparams: { dhcp: 'no' },
        osparams_private: { pw: 's3cret' },
      }),
    ]);
    expect(made.status, failureOf(made)).toBe('success');
    const config = w.machine(node1).service!.localConfig()!;
    const web = instanceOf(w, 'web');
    expect(web.osParamsPrivate).toEqual({ pw: 's3cret' });
    expect(osInstance(config, web).osParams).toEqual({ dhcp: 'no', pw: 's3cret' });
    expect(toConfigView(config).instances.find((i) => i.name === 'web')?.osParamsPrivate).toEqual({
      pw: '<redacted>',
    });
    expect(shownJob(made).ops[0]!.input).toMatchObject({ osparams_private: { pw: '<redacted>' } });
    expect(JSON.stringify(shownJob(made))).not.toContain('s3cret');

    const changed = await job(w, [
      {
        OP_ID: 'OP_INSTANCE_SET_PARAMS',
        instance_name: 'web',
        osparams_private: { pw: 'default', key: 'k1' },
      },
    ]);
    expect(changed.status, failureOf(changed)).toBe('success');
    expect(instanceOf(w, 'web').osParamsPrivate).toEqual({ key: 'k1' });
    const both = await job(w, [
      { OP_ID: 'OP_INSTANCE_SET_PARAMS', instance_name: 'web', osparams: { key: 'x' } },
    ]);
    expect(failureOf(both)).toBe('The following parameters are both public and private: key; give each once');
    const reinstalled = await job(w, [
      { OP_ID: 'OP_INSTANCE_REINSTALL', instance_name: 'web', osparams_private: { pw: 'new' } },
    ]);
    expect(reinstalled.status, failureOf(reinstalled)).toBe('success');
    expect(instanceOf(w, 'web').osParamsPrivate).toEqual({ key: 'k1', pw: 'new' });
  }, 120_000);
});
