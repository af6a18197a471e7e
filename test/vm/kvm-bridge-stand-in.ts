import { execFileSync } from 'node:child_process';
import { systemClock } from '../../src/common/clock.js';
import { silentLogger } from '../../src/common/log.js';
import { createKvmHypervisor } from '../../src/vm/kvm-hypervisor.js';
import { tapName } from '../../src/vm/kvm-taps.js';
import { attachConsole, guestReadyMarker, guestSpec, testGuest } from './kvm-guest.js';

/**
 * Run by kvm-hypervisor.test.ts inside a network namespace of its own (unshare -n), so that the bridge and
 * the taps it makes vanish with it: starts a guest with a bridged NIC, plugs in a second one and unplugs it,
 * and reports which interfaces sit in the bridge at each step and after it stopped, as one JSON line.
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
// Unplugging needs the guest's cooperation (ACPI): wait until it has booted.
const console = await attachConsole(hv.consolePath('net1')!);
await console.waitFor(guestReadyMarker, 30_000);
console.close();
// A third NIC plugged in while the guest runs gets its tap in the bridge; unplugging takes the tap away.
const hotSlot = await hv.hotAdd('net1', {
  kind: 'nic',
  nic: { uuid: 'nic-c', mac: 'aa:00:00:00:00:03', mode: 'bridged', link: 'br0' },
});
const plugged = bridgePorts();
await hv.hotRemove('net1', 'nic', 'nic-c');
const unplugged = bridgePorts();
await hv.stop('net1', { timeoutMs: 1_000, force: true });
const stopped = bridgePorts();
const report = {
  tap: tapName(runDir, 'net1', 13),
  hotTap: tapName(runDir, 'net1', hotSlot),
  running,
  plugged,
  unplugged,
  stopped,
};
process.stdout.write(`${JSON.stringify(report)}\n`);
