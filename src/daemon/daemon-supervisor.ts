import { asCorralError } from '../common/errors.js';
import { type DaemonExit, DaemonProcess } from './local-cluster.js';

export interface SupervisorOptions {
  /** Restarts allowed per daemon over the supervisor's life; past them it says how to start one by hand. */
  readonly maxRestarts: number;
  /** Where each line for the operator goes. */
  readonly say: (line: string) => void;
}

export interface DaemonSupervisor {
  /** The daemons as they are now: a restarted one in the place of the one that died. */
  daemons(): readonly DaemonProcess[];
  /** Stops watching, then stops every daemon, including one being restarted. */
  stop(): Promise<void>;
}

/**
 * Watches the daemons of a local cluster (`corral dev`): says when one dies, with how and where its log is,
 * and starts it again on the same data dir and address, where it rejoins the cluster it belonged to. A daemon
 * that keeps dying is given up on after `maxRestarts`, with the command to start it by hand; one that exits
 * cleanly stopped itself (removed from the cluster, or a fatal error it logged) and is not restarted.
 */
export function superviseDaemons(
  initial: readonly DaemonProcess[],
  options: SupervisorOptions,
): DaemonSupervisor {
  const { maxRestarts, say } = options;
  const current = [...initial];
  const restarts = current.map(() => 0);
  const pending = new Set<Promise<void>>();
  let stopping = false;

  const watch = (index: number, daemon: DaemonProcess) => {
    void daemon.whenExited().then((exit) => {
      if (stopping) return;
      const recovery = recover(index, daemon, exit);
      pending.add(recovery);
      void recovery.finally(() => pending.delete(recovery));
    });
  };

  async function recover(index: number, dead: DaemonProcess, exit: DaemonExit): Promise<void> {
    const { name } = dead.options;
    say(`${name} died (${exitText(exit)}); its log is ${dead.logPath}`);
    if (exit.code === 0) {
      say(`${name} stopped itself, so it is not restarted; to start it again: ${handCommand(dead)}`);
      return;
    }
    while (restarts[index]! < maxRestarts) {
      restarts[index]!++;
      let next: DaemonProcess;
      try {
        next = await DaemonProcess.spawn(dead.options);
      } catch (error) {
        if (stopping) return;
        say(`${name} did not come back: ${asCorralError(error).message}`);
        continue;
      }
      if (stopping) {
        await next.stop();
        return;
      }
      current[index] = next;
      say(`${name} is back (pid ${next.pid}; restart ${restarts[index]} of ${maxRestarts})`);
      watch(index, next);
      return;
    }
    const times = maxRestarts === 1 ? '1 restart' : `${maxRestarts} restarts`;
    say(`${name}: gave up after ${times}; to start it by hand: ${handCommand(dead)}`);
  }

  for (const [index, daemon] of current.entries()) watch(index, daemon);
  return {
    daemons: () => current,
    async stop() {
      stopping = true;
      await Promise.all(pending);
      await Promise.all(current.map((daemon) => daemon.stop()));
    },
  };
}

function exitText(exit: DaemonExit): string {
  return exit.signal !== null ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
}

/** A shell line that starts the daemon as the supervisor did, in the background, appending to its log. */
function handCommand(daemon: DaemonProcess): string {
  const words = DaemonProcess.commandLine(daemon.options).map(shellWord);
  return `${words.join(' ')} >>${shellWord(daemon.logPath)} 2>&1 &`;
}

function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
