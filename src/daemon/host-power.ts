import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import type { Logger } from '../common/log.js';

/** This machine's power, for gnt-node powercycle: a hard reboot with no shutdown of anything. */
export interface HostPower {
  /** Schedules the reboot and returns at once (the master's call must be answered first). */
  powercycle(): string;
}

/** Ganeti's noded waits this long before it reboots, so that its answer reaches the master. */
const POWERCYCLE_DELAY_MS = 5_000;

/**
 * Ganeti's LinuxPowercycle: SysRq "b" (an immediate reboot, without syncing or unmounting), and `reboot -n -f`
 * where the trigger cannot be written.
 */
export function linuxHostPower(log: Logger): HostPower {
  return {
    powercycle() {
      setTimeout(() => {
        log.warn({}, 'powercycling this machine now (gnt-node powercycle)');
        void open('/proc/sysrq-trigger', 'w')
          .then(async (trigger) => {
            try {
              await trigger.write('b');
            } finally {
              await trigger.close();
            }
          })
          .catch((error: Error) => {
            log.error({ err: error }, 'cannot write /proc/sysrq-trigger; running reboot -n -f');
            execFile('reboot', ['-n', '-f'], (failure) => {
              if (failure)
                log.error({ err: failure }, 'reboot -n -f failed: this machine was not powercycled');
            });
          });
      }, POWERCYCLE_DELAY_MS).unref();
      return `Reboot scheduled in ${POWERCYCLE_DELAY_MS / 1000} seconds`;
    },
  };
}
