import { systemClock } from '../../src/common/clock.js';
import { silentLogger } from '../../src/common/log.js';
import { createKvmHypervisor } from '../../src/vm/kvm-hypervisor.js';
import { guestSpec, testGuest } from './kvm-guest.js';

/**
 * Plays a daemon for kvm-hypervisor.test.ts, in a process of its own: starts one instance of the test
 * guest, then exits, as a daemon that is stopped or dies would.
 */
const [runDir, name] = process.argv.slice(2);
if (runDir === undefined || name === undefined) throw new Error('usage: kvm-daemon-stand-in.ts RUN_DIR NAME');
const hv = createKvmHypervisor({ runDir, clock: systemClock, log: silentLogger, accel: 'tcg' });
await hv.start(guestSpec(testGuest(), name));
