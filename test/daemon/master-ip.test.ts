import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netnsMissing, runTool } from '../../simulations/partition-net.js';
import type { MasterIpSpec } from '../../src/cluster/master-ip.js';
import { checkMasterIp, masterIpAfter } from '../../src/cluster/master-ip.js';
import { silentLogger } from '../../src/common/log.js';
import {
  ipCommandDevice,
  type MasterIpDevice,
  MasterIpKeeper,
  scriptDevice,
} from '../../src/daemon/master-ip.js';

/**
 * The floating master IP's setup on a node: Corral's own `ip` commands, run for real inside a network
 * namespace this test makes (a wrapper points `ip` there), the administrator's script with Ganeti's
 * variables, and the keeper that decides what to add and remove.
 */

const spec: MasterIpSpec = { address: '10.99.0.1', netmask: 32, netdev: 'mip0', external: false };
const missing = await netnsMissing();

describe.skipIf(missing !== undefined)('ip commands in a namespace', () => {
  const ns = `corral-mip-${randomBytes(3).toString('hex')}`;
  let tools: string;
  let device: MasterIpDevice;
  const addresses = async (dev: string) =>
    runTool('ip', ['-n', ns, '-o', '-4', 'address', 'show', 'dev', dev]);

  beforeAll(async () => {
    await runTool('ip', ['netns', 'add', ns]);
    // veth pairs: this kernel has no dummy devices, and the far ends need not lead anywhere.
    for (const dev of ['mip0', 'other0']) {
      await runTool('ip', ['-n', ns, 'link', 'add', dev, 'type', 'veth', 'peer', 'name', `${dev}p`]);
      for (const end of [dev, `${dev}p`]) await runTool('ip', ['-n', ns, 'link', 'set', end, 'up']);
    }
    tools = await mkdtemp(join(tmpdir(), 'corral-mip-tools-'));
    await writeFile(join(tools, 'ip'), `#!/bin/sh\nexec /usr/sbin/ip -n ${ns} "$@"\n`, { mode: 0o755 });
    device = ipCommandDevice(tools);
  });
  afterAll(async () => {
    await runTool('ip', ['netns', 'del', ns]).catch(() => undefined);
    if (tools !== undefined) await rm(tools, { recursive: true, force: true });
  });

  it("adds the address with Ganeti's label, once, and removes it, once", async () => {
    expect(await device.start(spec)).toMatch(/^added 10\.99\.0\.1\/32 on mip0; not announced \(arping /);
    expect(await addresses('mip0')).toMatch(/inet 10\.99\.0\.1\/32 scope global mip0:0/);
    expect(await device.start(spec)).toBe('10.99.0.1/32 is already on mip0');
    expect(await device.stop(spec)).toBe('removed 10.99.0.1/32 from mip0');
    expect(await addresses('mip0')).not.toMatch(/10\.99\.0\.1/);
    expect(await device.stop(spec)).toBe('10.99.0.1 is not configured on this node');
  });

  it('refuses to add an address another device holds, and leaves that one alone when stopping', async () => {
    await runTool('ip', ['-n', ns, 'address', 'add', '10.99.0.2/24', 'dev', 'other0']);
    const elsewhere = { ...spec, address: '10.99.0.2' };
    await expect(device.start(elsewhere)).rejects.toMatchObject({
      code: 'conflict',
      message:
        '10.99.0.2 is configured on other0 as 10.99.0.2/24 of this node, not as 10.99.0.2/32 on mip0; remove it there first',
    });
    expect(await device.stop(elsewhere)).toBe('10.99.0.2 is not on mip0 (it is on other0); left as it is');
    expect(await addresses('other0')).toMatch(/10\.99\.0\.2\/24/);
  });
});

describe("the administrator's script", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'corral-mip-script-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("runs it with start or stop and Ganeti's variables, and reports its failure in its words", async () => {
    const script = join(dir, 'master-ip-setup');
    const calls = join(dir, 'calls');
    await writeFile(
      script,
      `#!/bin/sh\necho "$1 $MASTER_NETDEV $MASTER_IP $MASTER_NETMASK $CLUSTER_IP_VERSION" >> ${calls}\necho done $1\n`,
      { mode: 0o755 },
    );
    const device = scriptDevice(script);
    const v6 = { address: 'fd00::1', netmask: 128, netdev: 'eth0', external: true };
    expect(await device.start(v6)).toBe('done start');
    expect(await device.stop(v6)).toBe('done stop');
    expect(await readFile(calls, 'utf8')).toBe('start eth0 fd00::1 128 6\nstop eth0 fd00::1 128 6\n');
    const failing = join(dir, 'failing');
    await writeFile(
      failing,
      '#!/bin/sh\necho "Error: master IP address configured on another machine." >&2\nexit 1\n',
      {
        mode: 0o755,
      },
    );
    await expect(scriptDevice(failing).start(v6)).rejects.toThrow(
      `${failing} start failed: Error: master IP address configured on another machine.`,
    );
    await expect(scriptDevice(join(dir, 'none')).start(v6)).rejects.toThrow(
      /none start failed: no such file/,
    );
  });
});

describe('the keeper', () => {
  function recording(fail = false) {
    const calls: string[] = [];
    const device: MasterIpDevice = {
      start: async (s) => {
        calls.push(`start ${s.address}`);
        if (fail) throw new Error('no such device');
        return 'started';
      },
      stop: async (s) => {
        calls.push(`stop ${s.address}`);
        return 'stopped';
      },
    };
    return { calls, device };
  }

  it('cleans up after a restart, adds while master, changes nothing twice, and removes on losing the role', async () => {
    const { calls, device } = recording();
    const keeper = new MasterIpKeeper({ device: () => device, log: silentLogger });
    // Before the configuration is known there is nothing to clean up, and it is not forgotten.
    await keeper.reconcile(undefined, undefined);
    await keeper.reconcile(undefined, spec);
    await keeper.reconcile(spec, spec);
    await keeper.reconcile(spec, spec);
    const moved = { ...spec, address: '10.99.0.9' };
    await keeper.reconcile(moved, moved);
    await keeper.reconcile(undefined, moved);
    expect(calls).toEqual([
      'stop 10.99.0.1',
      'start 10.99.0.1',
      'stop 10.99.0.1',
      'start 10.99.0.9',
      'stop 10.99.0.9',
    ]);
  });

  it('after a failure knows nothing, and cleans up again on the next change', async () => {
    const failing = recording(true);
    const keeper = new MasterIpKeeper({ device: () => failing.device, log: silentLogger });
    await expect(keeper.reconcile(spec, spec)).rejects.toThrow('no such device');
    await keeper.reconcile(undefined, spec);
    expect(failing.calls).toEqual(['start 10.99.0.1', 'stop 10.99.0.1']);
  });

  it("works out cluster modify's changes: defaults, a new family's prefix, removal, and what needs an address", () => {
    expect(masterIpAfter(undefined, {})).toBeUndefined();
    expect(masterIpAfter(undefined, { master_ip: '10.0.0.9' })).toEqual({
      address: '10.0.0.9',
      netmask: 32,
      netdev: 'eth0',
      external: false,
    });
    const current = { address: '10.0.0.9', netmask: 24, netdev: 'br0', external: true };
    expect(masterIpAfter(current, { master_netmask: 16 })).toEqual({ ...current, netmask: 16 });
    expect(masterIpAfter(current, { master_ip: 'fd00::9' })).toEqual({
      ...current,
      address: 'fd00::9',
      netmask: 128,
    });
    expect(masterIpAfter(current, { master_ip: '' })).toBeNull();
    expect(() => masterIpAfter(current, { master_ip: '', master_netdev: 'eth1' })).toThrow(
      "--master-ip '' removes the master IP; give no other master IP option with it",
    );
    expect(() => masterIpAfter(undefined, { master_netdev: 'eth1' })).toThrow(
      /^the cluster has no master IP: give --master-ip/,
    );
  });

  it('refuses addresses, prefixes and devices ip would not take', () => {
    expect(() => checkMasterIp({ ...spec, address: '10.99.0' })).toThrow(
      '--master-ip: 10.99.0 is not an IPv4 or IPv6 address',
    );
    expect(() => checkMasterIp({ ...spec, netmask: 33 })).toThrow(
      '--master-netmask: 33 is not a prefix length for 10.99.0.1 (1 to 32)',
    );
    expect(() => checkMasterIp({ ...spec, netdev: 'eth0; reboot' })).toThrow(
      '--master-netdev: eth0; reboot is not a network device name',
    );
  });
});
