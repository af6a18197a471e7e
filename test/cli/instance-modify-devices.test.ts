import { describe, expect, it } from 'vitest';
import { fakeConfig, fakeInstance, restoreAfterEach, runCli } from './fake-daemon.js';

/**
 * Issue 22: instance modify's Ganeti 3.0 options for NICs and disks (--net, --disk), --new-primary,
 * -m/--runtime-memory and --hotplug(-if-possible), through the CLI's parser with a fake daemon: the opcode
 * each submits in Ganeti's shape, and the one-line refusals of malformed input. Their effects are in
 * simulations/instance-modify.test.ts.
 */

function config() {
  return fakeConfig([fakeInstance({ name: 'web', diskTemplate: 'file' })]);
}

const modify = (...words: string[]) => runCli(['instance', 'modify', ...words, 'web'], { config: config() });

async function submitted(...words: string[]) {
  const { jobs, error } = await modify(...words);
  expect(error).toBeUndefined();
  expect(jobs).toHaveLength(1);
  return jobs[0]![0];
}

restoreAfterEach();

describe('instance modify --net', () => {
  it('adds at the end, inserts at an index, removes the last or one by index, name or UUID', async () => {
    expect(
      await submitted('--net', 'add:mode=routed,link=br1,mac=aa:00:00:00:00:01,ip=10.0.0.5,name=eth1'),
    ).toEqual({
      OP_ID: 'OP_INSTANCE_SET_PARAMS',
      instance_name: 'web',
      nics: [
        ['add', -1, { mode: 'routed', link: 'br1', mac: 'aa:00:00:00:00:01', ip: '10.0.0.5', name: 'eth1' }],
      ],
    });
    expect(
      await submitted('--net', 'add', '--net', '0:add,mac=generate', '--net', 'remove', '--net', '2:remove'),
    ).toMatchObject({
      nics: [
        ['add', -1, {}],
        ['add', 0, { mac: 'generate' }],
        ['remove', -1, {}],
        ['remove', 2, {}],
      ],
    });
    expect(await submitted('--net', 'eth1:remove', '--net', '9f3c-uuid:modify,link=br2')).toMatchObject({
      nics: [
        ['remove', 'eth1', {}],
        ['modify', '9f3c-uuid', { link: 'br2' }],
      ],
    });
  });

  it("modifies with N:modify,… and with Ganeti's older N:k=v,…", async () => {
    expect(
      await submitted('--net', '0:modify,mode=bridged,ip=none', '--net', '1:link=br9,name=none'),
    ).toMatchObject({
      nics: [
        ['modify', 0, { mode: 'bridged', ip: 'none' }],
        ['modify', 1, { link: 'br9', name: 'none' }],
      ],
    });
  });

  it('refuses a bad MAC, mode, IP, unknown setting, two actions at once and parameters on removal', async () => {
    const refusals: [string, string][] = [
      [
        'add:mac=aa:bb',
        'corral: --net add:mac=aa:bb: aa:bb is not a MAC address (six hex pairs, auto or generate)',
      ],
      ['0:mode=tap', 'corral: --net 0:mode=tap: mode is bridged, routed, openvswitch or none, not tap'],
      ['add:ip=10.0.0.300', 'corral: --net add:ip=10.0.0.300: 10.0.0.300 is not an IP address (or none)'],
      ['add:vlan=5', 'corral: --net add:vlan=5: unknown setting vlan (known: mac, ip, mode, link, name)'],
      [
        '0:add,remove',
        'corral: --net 0:add,remove: Cannot do more than one of the following operations at the same time: add, remove, modify',
      ],
      ['0:remove,mode=routed', 'corral: --net 0:remove,mode=routed: Not accepting parameters on removal'],
      ['attach', 'corral: --net attach: Corral has no attach; use add or remove'],
    ];
    for (const [value, message] of refusals) {
      const { error, jobs } = await modify('--net', value);
      expect(error, value).toBe(message);
      expect(jobs).toEqual([]);
    }
  });
});

describe('instance modify --disk', () => {
  it("adds (at the end or an index), removes and modifies in Ganeti's shape", async () => {
    expect(
      await submitted(
        '--disk',
        'add:size=1G,name=data',
        '--disk',
        '1:add,size=512M,mode=ro',
        '--disk',
        'remove',
        '--disk',
        '0:remove',
      ),
    ).toMatchObject({
      disks: [
        ['add', -1, { size: 1024, name: 'data' }],
        ['add', 1, { size: 512, mode: 'ro' }],
        ['remove', -1, {}],
        ['remove', 0, {}],
      ],
    });
    expect(await submitted('--disk', '0:modify,mode=ro,name=root', '--disk', 'data:mode=rw')).toMatchObject({
      disks: [
        ['modify', 0, { mode: 'ro', name: 'root' }],
        ['modify', 'data', { mode: 'rw' }],
      ],
    });
  });

  it('refuses a size change, a modify with nothing to change, an add without size and a bad mode', async () => {
    const refusals: [string, string][] = [
      ['0:modify,size=2G', 'corral: --disk 0:modify,size=2G: Disk size change not possible, use grow-disk'],
      ['0:modify', 'corral: --disk 0:modify: give mode= or name= to change'],
      ['add:mode=ro', 'corral: --disk add:mode=ro: an added disk needs size='],
      ['0:mode=wo', 'corral: --disk 0:mode=wo: mode is rw or ro, not wo'],
      ['remove:1', 'corral: --disk remove:1: 1 is not key=value, add, remove or modify'],
    ];
    for (const [value, message] of refusals) {
      const { error, jobs } = await modify('--disk', value);
      expect(error, value).toBe(message);
      expect(jobs).toEqual([]);
    }
  });
});

describe('instance modify --new-primary, --runtime-memory, --hotplug', () => {
  it('submits pnode, runtime_mem in MiB, force and the hotplug flags', async () => {
    expect(await submitted('--new-primary', 'n2', '-f')).toEqual({
      OP_ID: 'OP_INSTANCE_SET_PARAMS',
      instance_name: 'web',
      pnode: 'n2',
      force: true,
    });
    expect(await submitted('-m', '1G')).toMatchObject({ runtime_mem: 1024 });
    expect(await submitted('--runtime-memory', '768')).toMatchObject({ runtime_mem: 768 });
    expect(await submitted('--net', 'add', '--hotplug')).toMatchObject({ hotplug: true });
    expect(await submitted('--disk', '0:remove', '--hotplug-if-possible')).toMatchObject({
      hotplug_if_possible: true,
    });
  });

  it('refuses a malformed memory size and both hotplug flags at once', async () => {
    expect((await modify('-m', 'lots')).error).toBe(
      'corral: --runtime-memory: lots is not a size (use 512M, 10G, 1T or a number of MiB)',
    );
    expect((await modify('--net', 'add', '--hotplug', '--hotplug-if-possible')).error).toBe(
      'corral: give --hotplug or --hotplug-if-possible, not both',
    );
  });
});
