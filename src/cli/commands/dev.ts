import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { systemClock } from '../../common/clock.js';
import { CorralError } from '../../common/errors.js';
import { silentLogger } from '../../common/log.js';
import { superviseDaemons } from '../../daemon/daemon-supervisor.js';
import { type DaemonProcess, startLocalCluster } from '../../daemon/local-cluster.js';
import { kvmRunDir } from '../../daemon/node-setup.js';
import { stopAllGuests } from '../../vm/kvm-guests.js';
import { renderTable } from '../table.js';

/** Enough for a daemon that a bug or a stray kill ends now and then; not for one that cannot start at all. */
const MAX_RESTARTS = 3;

export const devCommand: CommandModule<object, { nodes: number; 'first-host': number }> = {
  command: 'dev',
  builder: (yargs) =>
    yargs
      .option('nodes', { type: 'number', default: 3, describe: 'how many nodes (1 to 20)' })
      .option('first-host', {
        type: 'number',
        default: 2,
        describe: 'node 1 listens on 127.0.0.N, node 2 on N+1, …',
      }),
  handler: async (args) => {
    const { nodes, 'first-host': firstHost } = args;
    if (!Number.isInteger(nodes) || nodes < 1 || nodes > 20) {
      throw new Error(`--nodes must be a whole number from 1 to 20, not ${nodes}`);
    }
    if (!Number.isInteger(firstHost) || firstHost < 1 || firstHost + nodes - 1 > 254) {
      throw new Error(`--first-host must be a whole number from 1 to ${255 - nodes}, not ${firstHost}`);
    }
    const baseDir = await mkdtemp(join(tmpdir(), 'corral-dev-'));
    const cleanUp = () => rm(baseDir, { recursive: true, force: true });
    let daemons: DaemonProcess[];
    try {
      daemons = await startLocalCluster({ baseDir, nodes, firstHost });
    } catch (error) {
      await cleanUp();
      throw error;
    }
    const say = (line: string) => process.stdout.write(`${line}\n`);
    const supervisor = superviseDaemons(daemons, { maxRestarts: MAX_RESTARTS, say });
    const rows = await Promise.all(
      daemons.map(async (daemon) => {
        const status = await daemon.status();
        return [
          status.name,
          status.nodeId,
          status.addresses.join(','),
          String(daemon.pid),
          daemon.socketPath,
        ];
      }),
    );
    say(
      `${renderTable(['Node', 'ID', 'Address', 'PID', 'Control socket'], rows)}\n\n` +
        `Logs are in ${baseDir}/node*/daemon.log. Point the CLI at the cluster with:\n` +
        `  export CORRAL_SOCKET=${daemons[0]?.socketPath}\n` +
        `A daemon that dies is said here and restarted, at most ${MAX_RESTARTS} times each.\n` +
        'Press Ctrl-C to stop the cluster and its guests and remove its files.',
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    // Daemons first, so that no watcher starts a guest again while the guests are being stopped.
    await supervisor.stop();
    const guests = await stopGuests(daemons);
    const left = guests.filter((guest) => guest.error !== undefined);
    for (const guest of guests) {
      say(
        guest.error === undefined
          ? `stopped QEMU of ${guest.name} on ${guest.node} (pid ${guest.pid})`
          : `could not stop QEMU of ${guest.name} on ${guest.node} (pid ${guest.pid}): ${guest.error}`,
      );
    }
    if (left.length > 0) {
      throw new CorralError(
        'internal',
        `left ${baseDir} in place: ${left.length} QEMU process(es) still use it; kill them, then remove it`,
      );
    }
    await cleanUp();
    say(`stopped the daemons (${daemons.length}) and the QEMU guests (${guests.length}); removed ${baseDir}`);
  },
};

/** Every kvm guest of the dev cluster's nodes: they run detached from their daemons, which leave them running. */
async function stopGuests(daemons: readonly DaemonProcess[]) {
  const perNode = await Promise.all(
    daemons.map(async ({ options }) => {
      const stops = await stopAllGuests({
        runDir: kvmRunDir(options.dataDir),
        clock: systemClock,
        log: silentLogger,
      });
      return stops.map((stop) => ({ ...stop, node: options.name }));
    }),
  );
  return perNode.flat();
}
