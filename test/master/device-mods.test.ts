import { describe, expect, it } from 'vitest';
import type { DiskRecord, NicRecord } from '../../src/cluster/model.js';
import { locateDevice, planDiskMods, planNicMods } from '../../src/master/device-mods.js';

/** The pure planning of instance modify's NIC and disk changes (Ganeti's ApplyContainerMods, checked). */

const disk = (uuid: string, name?: string): DiskRecord => ({
  uuid,
  sizeMiB: 1,
  mode: 'rw',
  format: 'raw',
  ...(name !== undefined && { name }),
});
const nic = (uuid: string, mac: string, name?: string): NicRecord => ({
  uuid,
  mac,
  mode: 'bridged',
  link: 'br0',
  ...(name !== undefined && { name }),
});

describe('locateDevice', () => {
  it('reads -1 as the end for add and the last item otherwise; names and UUIDs for the others', () => {
    const items = [disk('u0', 'root'), disk('u1')];
    expect(locateDevice(items, 'add', -1, 'disk')).toBe(2);
    expect(locateDevice(items, 'add', '2', 'disk')).toBe(2);
    expect(locateDevice(items, 'remove', -1, 'disk')).toBe(1);
    expect(locateDevice(items, 'modify', 'root', 'disk')).toBe(0);
    expect(locateDevice(items, 'modify', 'u1', 'disk')).toBe(1);
    expect(() => locateDevice(items, 'add', 3, 'disk')).toThrow(
      'disk index 3 is out of range: the instance has 2 disks',
    );
    expect(() => locateDevice([], 'remove', -1, 'NIC')).toThrow(
      'NIC index -1 is out of range: the instance has 0 NICs',
    );
    expect(() => locateDevice(items, 'add', 'root', 'disk')).toThrow(
      'disk add at root: an add takes an index, not a name',
    );
  });
});

describe('planDiskMods', () => {
  let next = 0;
  const make = (spec: { size: number; name?: string }) => ({
    ...disk(`new${next++}`, spec.name),
    sizeMiB: spec.size,
  });

  it('inserts, removes and renames in order; a disk added and removed at once never reaches the nodes', () => {
    const plan = planDiskMods(
      [disk('u0'), disk('u1', 'data')],
      [
        ['add', 0, { size: 5 }],
        ['remove', 'data', {}],
        ['add', -1, { size: 7, name: 'tmp' }],
        ['modify', 'tmp', { mode: 'ro' }],
        ['remove', -1, {}],
        ['modify', 1, { name: 'root' }],
      ],
      make,
    );
    expect(plan.disks.map((d) => [d.uuid, d.name, d.mode])).toEqual([
      ['new0', undefined, 'rw'],
      ['u0', 'root', 'rw'],
    ]);
    expect(plan.added.map((d) => d.uuid)).toEqual(['new0']);
    expect(plan.removed.map((d) => d.uuid)).toEqual(['u1']);
  });

  it('refuses two disks of one name and a seventeenth disk', () => {
    expect(() => planDiskMods([disk('u0', 'a')], [['add', -1, { size: 1, name: 'a' }]], make)).toThrow(
      'two disks would have the name a',
    );
    const sixteen = Array.from({ length: 16 }, (_, i) => disk(`u${i}`));
    expect(() => planDiskMods(sixteen, [['add', -1, { size: 1 }]], make)).toThrow(
      'Instance has too many disks (16), cannot add more',
    );
  });
});

describe('planNicMods', () => {
  const env = (elsewhere: string[] = []) => {
    let n = 0;
    return {
      defaults: { mode: 'bridged' as const, link: 'br0' },
      macsElsewhere: new Set(elsewhere),
      newUuid: () => `nic${n}`,
      // The first generated MAC is taken: a fresh one is drawn.
      newMac: () => `aa:00:00:00:00:0${n++}`,
    };
  };

  it('draws a free MAC, keeps a NIC its own MAC on a change, and drops ip and name with none', () => {
    const plan = planNicMods(
      [nic('n0', 'aa:00:00:00:00:01', 'eth0')],
      [
        ['add', -1, { mac: 'auto' }],
        ['modify', 'eth0', { mac: 'AA:00:00:00:00:01', name: 'none', ip: '10.0.0.1' }],
        ['modify', 0, { ip: 'none' }],
      ],
      env(['aa:00:00:00:00:00']),
    );
    expect(plan.nics.map((x) => [x.mac, x.name, x.ip])).toEqual([
      ['aa:00:00:00:00:01', undefined, undefined],
      ['aa:00:00:00:00:02', undefined, undefined],
    ]);
  });

  it("refuses a MAC another instance or NIC has, in Ganeti's words", () => {
    expect(() =>
      planNicMods([], [['add', -1, { mac: 'aa:00:00:00:00:09' }]], env(['aa:00:00:00:00:09'])),
    ).toThrow('MAC address aa:00:00:00:00:09 already in use in cluster');
    expect(() =>
      planNicMods(
        [nic('n0', 'aa:00:00:00:00:05'), nic('n1', 'aa:00:00:00:00:06')],
        [['modify', 1, { mac: 'aa:00:00:00:00:05' }]],
        env(),
      ),
    ).toThrow('MAC address aa:00:00:00:00:05 already in use in cluster');
  });
});
