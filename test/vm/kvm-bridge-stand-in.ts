import { execFileSync } from 'node:child_process';
import { systemClock } from '../../src/common/clock.js';
import { silentLogger } from '../../src/common/log.js';
import { createKvmHypervisor } from '../../src/vm/kvm-hypervisor.js';
import { tapName } from '../../src/vm/kvm-taps.js';
import { guestSpec, testGuest } from './kvm-guest.js';

/**
 * Run by kvm-hypervisor.test.ts inside a network namespace of its own (unshare -n), so that the bridge and
 * the taps it makes vanish with it: starts a guest with a bridged NIC, reports which interfaces sit in the
 * bridge while it runs and after it stopped, as one JSON line.
 */
const [runDir] = process.argv.slice(2);
if (runDir === undefined) throw new Error('usage: kvm-bridge-stand-in.ts RUN_DIR');
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
const bridgePorts = () =>
  (JSON.parse(ip('-j', 'link', 'show', 'master', 'br0')) as { ifname: string }[]).map((l) => l.ifname);

ip('link', 'add', 'br0', 'type', 'bridge');
ip('link', 'set', 'br0', 'up');
const hv = createKvmHypervisor({ runDir, clock: systemClock, log: silentLogger, accel: 'tcg' });
const nics = [
  { uuid: 'nic-a', mac: 'aa:00:00:00:00:01', mode: 'none' as const, link: '' },
  { uuid: 'nic-b', mac: 'aa:00:00:00:00:02', mode: 'bridged' as const, link: 'br0' },
];
await hv.start({ ...guestSpec(testGuest(), 'net1'), nics });
const running = bridgePorts();
await hv.stop('net1', { timeoutMs: 1_000, force: true });
const stopped = bridgePorts();
process.stdout.write(`${JSON.stringify({ tap: tapName(runDir, 'net1', 13), running, stopped })}\n`);
