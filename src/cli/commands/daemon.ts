import type { CommandModule } from 'yargs';
import { DEFAULT_DATA_DIR } from '../../daemon/control-client.js';
import { startDaemon } from '../../daemon/daemon.js';

interface DaemonArgs {
  'data-dir': string;
  listen: string[];
  name?: string;
  socket?: string;
  'hooks-dir'?: string;
  'log-level': 'debug' | 'info' | 'warn' | 'error';
}

export const daemonCommand: CommandModule<object, DaemonArgs> = {
  command: 'daemon',
  describe: 'run this node (the one long-running Corral process)',
  builder: (yargs) =>
    yargs
      .option('data-dir', {
        type: 'string',
        default: process.env.CORRAL_DATA_DIR ?? DEFAULT_DATA_DIR,
        describe: 'where the node keeps its key and state',
      })
      .option('listen', {
        type: 'string',
        array: true,
        default: ['/ip4/0.0.0.0/tcp/7400'],
        describe: 'multiaddr to listen on',
      })
      .option('name', { type: 'string', describe: 'node name in logs (default: host name)' })
      .option('socket', { type: 'string', describe: 'control socket path (default: DATA_DIR/corral.sock)' })
      .option('hooks-dir', {
        type: 'string',
        describe: 'where hook directories are (default: /etc/corral/hooks)',
      })
      .option('log-level', {
        choices: ['debug', 'info', 'warn', 'error'] as const,
        default: 'info' as const,
      }),
  handler: async (args) => {
    const daemon = await startDaemon({
      dataDir: args['data-dir'],
      listen: args.listen,
      logLevel: args['log-level'],
      ...(args.name !== undefined && { name: args.name }),
      ...(args.socket !== undefined && { socketPath: args.socket }),
      ...(args['hooks-dir'] !== undefined && { hooksDir: args['hooks-dir'] }),
    });
    process.on('unhandledRejection', (reason) => daemon.log.error({ err: reason }, 'unhandled rejection'));
    await new Promise<void>((resolve) => {
      const shutdown = () => void daemon.stop().then(resolve, resolve);
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
      void daemon.evicted.then(shutdown);
    });
  },
};
