import { asCorralError } from '../common/errors.js';
import { createKvmHypervisor, type KvmHypervisorInit } from './kvm-hypervisor.js';
import { livePid, runtimeNames, runtimePaths } from './kvm-runtime.js';

/** A guest whose QEMU was running, and whether it could be stopped. */
export interface GuestStop {
  readonly name: string;
  readonly pid: number;
  /** Why it still runs; absent when it was stopped. */
  readonly error?: string;
}

/**
 * Stops every QEMU that runs out of a kvm run dir, with no daemon needed: guests run detached from their
 * daemon and outlive it, so whoever removes a node's files (the dev cluster on Ctrl-C) must end them first,
 * or they go on running against deleted disks. Each gets `quit`, then SIGKILL; nothing is kept, since the
 * files go next. Runtime dirs with no live QEMU are left for the caller to remove with the rest.
 */
export async function stopAllGuests(init: KvmHypervisorInit): Promise<GuestStop[]> {
  const hypervisor = createKvmHypervisor(init);
  const running = (await runtimeNames(init.runDir)).flatMap((name) => {
    const pid = livePid(runtimePaths(init.runDir, name));
    return pid === undefined ? [] : [{ name, pid }];
  });
  return Promise.all(
    running.map(async ({ name, pid }) => {
      try {
        await hypervisor.stop(name, { force: true, timeoutMs: 0 });
        return { name, pid };
      } catch (error) {
        return { name, pid, error: asCorralError(error).message };
      }
    }),
  );
}
