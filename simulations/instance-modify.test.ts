import { describe, expect, it } from 'vitest';
import { findInstance, nodeOfUuid } from '../src/cluster/config.js';
import type { JobRecord } from '../src/cluster/jobs.js';
import type { InstanceRecord } from '../src/cluster/model.js';
import type { NicModification, Opcode } from '../src/cluster/opcodes.js';
import { asNodeId, type NodeId } from '../src/common/ids.js';
import { MasterWorld } from './master-world.js';
import { failureOf as failure, runJob } from './sim-jobs.js';
import { SIM_OS } from './sim-os.js';

/**
 * Instance modify's Ganeti 3.0 changes on simulated nodes (issue 22): NICs added, inserted, changed and
 * removed; disks removed (their storage with them, both copies of drbd) and changed; a new primary for a
 * sharedfile instance; runtime memory on the fake hypervisor; and the refusals, in Ganeti's words.
 */

const node1 = asNodeId('node1');
const job = (world: MasterWorld, ops: Opcode[]) => runJob(world, node1, ops);

async function ok(world: MasterWorld, ops: Opcode[]): Promise<JobRecord> {
  const ended = await job(world, ops);
  expect(ended.status, failure(ended)).toBe('success');
  return ended;
}

async function refused(
  world: MasterWorld,
  op: Omit<Extract<Opcode, { OP_ID: 'OP_INSTANCE_SET_PARAMS' }>, 'OP_ID'>,
) {
  const ended = await job(world, [{ OP_ID: 'OP_INSTANCE_SET_PARAMS', ...op }]);
  expect(ended.status).toBe('error');
  return failure(ended);
}

const modify = (op: Omit<Extract<Opcode, { OP_ID: 'OP_INSTANCE_SET_PARAMS' }>, 'OP_ID'>): Opcode => ({
  OP_ID: 'OP_INSTANCE_SET_PARAMS',
  ...op,
});

const create = (
  name: string,
  template: 'file' | 'drbd' | 'sharedfile',
  nodes: string[],
  disks: number[],
  beparams: Record<string, number> = { memory: 128 },
): Opcode => ({
  OP_ID: 'OP_INSTANCE_CREATE',
  instance_name: name,
  disk_template: template,
  disks: disks.map((size) => ({ size })),
  os_type: SIM_OS,
  beparams,
  pnode: nodes[0]!,
  ...(nodes[1] !== undefined && { snode: nodes[1] }),
});

const stop = (name: string): Opcode => ({ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: name, timeout: 0 });

function record(world: MasterWorld, name: string): InstanceRecord {
  return findInstance(world.newestConfig()!, name)!;
}

/** Whether the node holds storage for the disk. */
const holds = (world: MasterWorld, node: string, instance: InstanceRecord, diskUuid: string) =>
  world.machine(node as NodeId).localDisks.disks.has(`${instance.uuid}/${diskUuid}`);

const messages = (ended: JobRecord) => ended.log.map((entry) => entry.message);

async function world(seed: number): Promise<MasterWorld> {
  const formed = new MasterWorld({ seed, nodes: 3 });
  await formed.form();
  return formed;
}

describe('instance modify: NICs', () => {
  it('adds at the end, inserts at an index, modifies and removes by index or name', async () => {
    const w = await world(1);
    await ok(w, [create('web', 'file', ['node1'], [1])]);
    const [first] = record(w, 'web').nics;
    const added = await ok(w, [
      modify({
        instance_name: 'web',
        nics: [
          ['add', -1, { mac: 'AA:00:00:00:00:01', name: 'back', ip: '10.0.0.5' }],
          ['add', 0, { mode: 'routed', link: 'rt0' }],
        ],
      }),
    ]);
    expect(messages(added)).toContain(
      'the NIC and disk additions and removals of web take effect at its next start',
    );
    let nics = record(w, 'web').nics;
    expect(nics.map((nic) => [nic.mode, nic.link, nic.name])).toEqual([
      ['routed', 'rt0', undefined],
      [first!.mode, first!.link, undefined],
      [first!.mode, first!.link, 'back'],
    ]);
    expect(nics[1]!.mac).toBe(first!.mac);
    expect(nics[2]).toMatchObject({ mac: 'aa:00:00:00:00:01', ip: '10.0.0.5' });
    expect(nics[0]!.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    await ok(w, [
      modify({
        instance_name: 'web',
        nics: [
          ['modify', 'back', { link: 'br7', ip: 'none' }],
          ['modify', 0, { mac: 'generate' }],
          ['remove', 1, {}],
        ],
      }),
    ]);
    const before = nics;
    nics = record(w, 'web').nics;
    expect(nics.map((nic) => nic.uuid)).toEqual([before[0]!.uuid, before[2]!.uuid]);
    expect(nics[1]).toMatchObject({ link: 'br7', name: 'back', mac: 'aa:00:00:00:00:01' });
    expect(nics[1]!.ip).toBeUndefined();
    expect(nics[0]!.mac).not.toBe(before[0]!.mac);
  }, 60_000);

  it("refuses a MAC in use, 'auto' on a change, a ninth NIC, an unknown NIC, in Ganeti's words", async () => {
    const w = await world(2);
    await ok(w, [create('web', 'file', ['node1'], [1])]);
    await ok(w, [create('db', 'file', ['node2'], [1])]);
    const taken = record(w, 'web').nics[0]!.mac;
    expect(await refused(w, { instance_name: 'db', nics: [['add', -1, { mac: taken }]] })).toBe(
      `MAC address ${taken} already in use in cluster`,
    );
    expect(await refused(w, { instance_name: 'db', nics: [['modify', 0, { mac: 'auto' }]] })).toBe(
      "'auto' is not a valid MAC address when modifying an existing NIC",
    );
    const eight = Array.from({ length: 8 }, (): NicModification => ['add', -1, {}]);
    expect(await refused(w, { instance_name: 'db', nics: eight })).toBe(
      'Instance has too many network interfaces (8), cannot add more',
    );
    expect(await refused(w, { instance_name: 'db', nics: [['remove', 'eth9', {}]] })).toBe(
      'no NIC has the name or UUID eth9',
    );
    expect(await refused(w, { instance_name: 'db', nics: [['modify', 3, { link: 'x' }]] })).toBe(
      'NIC index 3 is out of range: the instance has 1 NIC',
    );
    expect(record(w, 'db').nics).toHaveLength(1);
  }, 60_000);
});

describe('instance modify: disks', () => {
  it('removes a file disk with its storage, and changes a disk mode and name', async () => {
    const w = await world(3);
    await ok(w, [create('web', 'file', ['node1'], [1, 2])]);
    const instance = record(w, 'web');
    const [d0, d1] = instance.disks;
    // A running instance keeps its disks: Corral cannot hot-unplug one.
    expect(await refused(w, { instance_name: 'web', disks: [['remove', 0, {}]] })).toBe(
      "web is running: can't remove a disk from a running instance without hotplug; shut it down first",
    );
    await ok(w, [stop('web')]);
    await ok(w, [
      modify({
        instance_name: 'web',
        disks: [
          ['remove', 0, {}],
          ['modify', 0, { mode: 'ro', name: 'data' }],
        ],
      }),
    ]);
    expect(record(w, 'web').disks).toEqual([{ ...d1, mode: 'ro', name: 'data' }]);
    expect(holds(w, 'node1', instance, d0!.uuid)).toBe(false);
    expect(holds(w, 'node1', instance, d1!.uuid)).toBe(true);
    expect(await refused(w, { instance_name: 'web', disks: [['remove', 'data', {}]] })).toBe(
      'web is file and would have no disk left; remove the instance instead',
    );
    // Corral's older disks_add still adds at the end.
    await ok(w, [modify({ instance_name: 'web', disks_add: [{ size: 1 }] })]);
    expect(record(w, 'web').disks).toHaveLength(2);
    expect(holds(w, 'node1', instance, record(w, 'web').disks[1]!.uuid)).toBe(true);
  }, 60_000);

  it('removes a drbd disk from both nodes', async () => {
    const w = await world(4);
    await ok(w, [create('db', 'drbd', ['node1', 'node2'], [1, 1])]);
    const instance = record(w, 'db');
    const [d0, d1] = instance.disks;
    await ok(w, [stop('db')]);
    await ok(w, [modify({ instance_name: 'db', disks: [['remove', -1, {}]] })]);
    expect(record(w, 'db').disks.map((disk) => disk.uuid)).toEqual([d0!.uuid]);
    for (const node of ['node1', 'node2']) {
      expect(holds(w, node, instance, d1!.uuid), node).toBe(false);
      expect(holds(w, node, instance, d0!.uuid), node).toBe(true);
    }
    await ok(w, [{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'db' }]);
  }, 60_000);
});

describe('instance modify: new primary, runtime memory, hotplug', () => {
  it('moves a stopped sharedfile instance to a new primary; refuses a running one and other templates', async () => {
    const w = await world(5);
    await ok(w, [create('sf', 'sharedfile', ['node1'], [1])]);
    await ok(w, [create('web', 'file', ['node2'], [1])]);
    expect(await refused(w, { instance_name: 'sf', pnode: 'node3' })).toBe(
      'Instance sf is still running on node1; shut it down first',
    );
    expect(await refused(w, { instance_name: 'web', pnode: 'node3' })).toBe(
      '--new-primary node3: web is file, whose disks node3 cannot reach; only sharedfile and diskless instances change primary this way (use failover, migrate or move)',
    );
    await ok(w, [stop('sf')]);
    await ok(w, [modify({ instance_name: 'sf', pnode: 'node3' })]);
    const config = w.newestConfig()!;
    expect(nodeOfUuid(config, record(w, 'sf').primaryNode).name).toBe('node3');
    await ok(w, [{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'sf' }]);
    expect(
      w
        .guests()
        .filter(({ guest }) => guest.name === 'sf')
        .map(({ node }) => node),
    ).toEqual(['node3']);
  }, 60_000);

  it('balloons a running guest within minmem..maxmem, and refuses outside it or when stopped', async () => {
    const w = await world(6);
    await ok(w, [create('web', 'file', ['node1'], [1], { minmem: 64, maxmem: 256 })]);
    const guest = () => w.guests().find(({ guest }) => guest.name === 'web')?.guest;
    expect(guest()?.memoryMiB).toBe(256);
    const ended = await ok(w, [modify({ instance_name: 'web', runtime_mem: 96 })]);
    expect(ended.ops[0]!.result).toEqual({ instance: 'web', changed: ['runtimeMemory'] });
    expect(guest()?.memoryMiB).toBe(96);
    expect(await refused(w, { instance_name: 'web', runtime_mem: 512 })).toBe(
      'Instance web must have memory between 64 and 256 MB of memory unless --force is given',
    );
    await ok(w, [modify({ instance_name: 'web', runtime_mem: 32, force: true })]);
    expect(guest()?.memoryMiB).toBe(32);
    await ok(w, [stop('web')]);
    expect(await refused(w, { instance_name: 'web', runtime_mem: 128 })).toBe('Instance web is not running');
  }, 60_000);

  it('refuses --hotplug into a stopped instance; --hotplug-if-possible falls back to the next start and says so', async () => {
    const w = await world(7);
    await ok(w, [create('web', 'file', ['node1'], [1]), stop('web')]);
    expect(await refused(w, { instance_name: 'web', nics: [['add', -1, {}]], hotplug: true })).toBe(
      'Hotplug is not possible: web is not running; try --hotplug-if-possible, or leave out --hotplug and the change applies at the next start',
    );
    expect(record(w, 'web').nics).toHaveLength(1);
    const ended = await ok(w, [
      modify({
        instance_name: 'web',
        nics: [['add', -1, {}]],
        disks: [['add', -1, { size: 1 }]],
        hotplug_if_possible: true,
      }),
    ]);
    expect(messages(ended)).toContain(
      'Hotplug is not possible: web is not running; the modification takes place without hotplugging',
    );
    expect(record(w, 'web').nics).toHaveLength(2);
    expect(record(w, 'web').disks).toHaveLength(2);
  }, 60_000);
});

describe('instance modify --hotplug', () => {
  const guestOf = (w: MasterWorld, name: string) => {
    const found = w.guests().filter(({ guest }) => guest.name === name);
    expect(found).toHaveLength(1);
    return found[0]!;
  };
  const uuids = (devices: readonly { uuid: string }[]) => devices.map((device) => device.uuid);

  it('plugs NICs and disks into the running guest, changes and unplugs them, and a migration keeps the guest as it runs', async () => {
    const w = await world(8);
    await ok(w, [create('web', 'sharedfile', ['node1'], [1])]);
    const booted = guestOf(w, 'web').guest;
    const [disk0] = record(w, 'web').disks;
    const [nic0] = record(w, 'web').nics;

    const plugged = await ok(w, [
      modify({
        instance_name: 'web',
        nics: [['add', -1, {}]],
        disks: [['add', -1, { size: 1 }]],
        hotplug: true,
      }),
    ]);
    const [, disk1] = record(w, 'web').disks;
    const [, nic1] = record(w, 'web').nics;
    expect(messages(plugged)).toEqual(
      expect.arrayContaining([
        `hot-plugged: disk ${disk1!.uuid} plugged in`,
        `hot-plugged: NIC ${nic1!.mac} plugged in`,
      ]),
    );
    expect(messages(plugged)).not.toContain('the changes take effect at the next start of the instance');
    let guest = guestOf(w, 'web').guest;
    expect(uuids(guest.disks)).toEqual([disk0!.uuid, disk1!.uuid]);
    expect(uuids(guest.nics)).toEqual([nic0!.uuid, nic1!.uuid]);
    const slots = (g: typeof guest) => [...g.disks, ...g.nics].map((device) => device.pciSlot);
    expect(new Set(slots(guest)).size).toBe(4);
    expect(guest.disks[0]).toEqual(booted.disks[0]);

    // A changed NIC goes back into its slot; a removed disk leaves the guest, then its storage goes.
    await ok(w, [modify({ instance_name: 'web', nics: [['modify', 1, { link: 'br9' }]], hotplug: true })]);
    await ok(w, [modify({ instance_name: 'web', disks: [['remove', 0, {}]], hotplug: true })]);
    const before = guestOf(w, 'web').guest;
    expect(before.nics[1]).toEqual({ ...guest.nics[1], link: 'br9' });
    expect(uuids(before.disks)).toEqual([disk1!.uuid]);
    expect(holds(w, 'node1', record(w, 'web'), disk0!.uuid)).toBe(false);

    // Added without hot-plugging, a NIC waits for the next start: a migration rebuilds the guest as it runs.
    await ok(w, [modify({ instance_name: 'web', nics: [['add', -1, {}]] })]);
    expect(record(w, 'web').nics).toHaveLength(3);
    await ok(w, [{ OP_ID: 'OP_INSTANCE_MIGRATE', instance_name: 'web', target_node: 'node2' }]);
    guest = guestOf(w, 'web').guest;
    expect(guestOf(w, 'web').node).toBe('node2');
    expect({ disks: guest.disks, nics: guest.nics }).toEqual({ disks: before.disks, nics: before.nics });
    await ok(w, [stop('web'), { OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'web' }]);
    expect(guestOf(w, 'web').guest.nics).toHaveLength(3);
  }, 60_000);

  it('plugs a new drbd disk through its mirror, and unplugs one without detaching the others', async () => {
    const w = await world(9);
    await ok(w, [create('db', 'drbd', ['node1', 'node2'], [1])]);
    const [disk0] = record(w, 'db').disks;
    await ok(w, [modify({ instance_name: 'db', disks: [['add', -1, { size: 1 }]], hotplug: true })]);
    const [, disk1] = record(w, 'db').disks;
    const attached = (node: string) =>
      (w.machine(node).mirror?.status(record(w, 'db').uuid) ?? []).map((disk) => disk.uuid).sort();
    expect(attached('node1')).toEqual([disk0!.uuid, disk1!.uuid].sort());
    expect(attached('node2')).toEqual([disk0!.uuid, disk1!.uuid].sort());
    expect(uuids(guestOf(w, 'db').guest.disks)).toEqual([disk0!.uuid, disk1!.uuid]);

    await ok(w, [modify({ instance_name: 'db', disks: [['remove', 0, {}]], hotplug: true })]);
    expect(uuids(guestOf(w, 'db').guest.disks)).toEqual([disk1!.uuid]);
    expect(attached('node1')).toEqual([disk1!.uuid]);
    expect(attached('node2')).toEqual([disk1!.uuid]);
    for (const node of ['node1', 'node2']) expect(holds(w, node, record(w, 'db'), disk0!.uuid)).toBe(false);
  }, 60_000);
});
