import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { startLocalCluster } from '../../daemon/local-cluster.js';
import { renderTable } from '../table.js';

export const devCommand: CommandModule<object, { nodes: number }> = {
  command: 'dev',
  describe: 'run a local dev cluster on loopback in a temporary dir (Ctrl-C stops it and cleans up)',
  builder: (yargs) =>
    yargs.option('nodes', { type: 'number', default: 3, describe: 'how many nodes (1 to 20)' }),
  handler: async (args) => {
    if (!Number.isInteger(args.nodes) || args.nodes < 1 || args.nodes > 20) {
      throw new Error(`--nodes must be a whole number from 1 to 20, not ${args.nodes}`);
    }
    const baseDir = await mkdtemp(join(tmpdir(), 'corral-dev-'));
    const cleanUp = () => rm(baseDir, { recursive: true, force: true });
    let daemons: Awaited<ReturnType<typeof startLocalCluster>>;
    try {
      daemons = await startLocalCluster({ baseDir, nodes: args.nodes });
    } catch (error) {
      await cleanUp();
      throw error;
    }
    const rows = await Promise.all(
      daemons.map(async (daemon) => {
        const status = await daemon.status();
        return [status.name, status.nodeId, status.addresses.join(','), daemon.socketPath];
      }),
    );
    process.stdout.write(
      `${renderTable(['Node', 'ID', 'Address', 'Control socket'], rows)}\n\n` +
        `Logs are in ${baseDir}/node*/daemon.log. Point the CLI at the cluster with:\n` +
        `  export CORRAL_SOCKET=${daemons[0]?.socketPath}\n` +
        'Press Ctrl-C to stop the cluster and remove its files.\n',
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await Promise.all(daemons.map((daemon) => daemon.stop()));
    await cleanUp();
    process.stdout.write('stopped and cleaned up\n');
  },
};
