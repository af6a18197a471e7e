import type { CommandModule } from 'yargs';
import {
  DEFAULT_MOND_PORT,
  DEFAULT_RAPI_PORT,
  defaultUsersFile,
  startEndpoints,
} from '../../api/endpoints.js';
import { DEFAULT_DATA_DIR } from '../../daemon/control-client.js';
import { startDaemon } from '../../daemon/daemon.js';

interface DaemonArgs {
  'data-dir': string;
  listen: string[];
  name?: string;
  socket?: string;
  'hooks-dir'?: string;
  'log-level': 'debug' | 'info' | 'warn' | 'error';
  'file-storage-dir'?: string;
  'shared-file-storage-dir'?: string;
  'export-dir'?: string;
  'volume-group'?: string;
  'os-search-path'?: string;
  'fake-memory'?: number;
  'fake-cpus'?: number;
  'watcher-interval'?: number;
  rapi: boolean;
  'rapi-port': number;
  'rapi-bind'?: string;
  ssl: boolean;
  'rapi-users'?: string;
  'require-authentication': boolean;
  mond: boolean;
  'mond-port': number;
}

export const daemonCommand: CommandModule<object, DaemonArgs> = {
  command: 'daemon',
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
      })
      .option('file-storage-dir', {
        type: 'string',
        describe: 'where file disks live (default: DATA_DIR/file-storage)',
      })
      .option('shared-file-storage-dir', {
        type: 'string',
        describe: 'a directory every node reaches at the same path, for sharedfile disks',
      })
      .option('export-dir', {
        type: 'string',
        describe: 'where instance exports (backup export) are kept (default: DATA_DIR/export)',
      })
      .option('volume-group', {
        type: 'string',
        describe: 'LVM volume group of plain disks (default: xenvg)',
      })
      .option('os-search-path', {
        type: 'string',
        describe: "OS definition directories, colon-separated (default: Ganeti's search path)",
      })
      .option('fake-memory', {
        type: 'number',
        describe: 'MiB of memory the node reports (fake hypervisor; tests and demos)',
      })
      .option('fake-cpus', {
        type: 'number',
        describe: 'CPUs the node reports (fake hypervisor; tests and demos that place many instances)',
      })
      .option('watcher-interval', {
        type: 'number',
        describe: 'seconds between the watcher passes that restart instances which should run (default 30)',
      })
      .option('rapi', { type: 'boolean', default: true, describe: '--no-rapi: serve no RAPI on this node' })
      .option('rapi-port', {
        type: 'number',
        default: DEFAULT_RAPI_PORT,
        describe: 'RAPI port (Ganeti: 5080)',
      })
      .option('rapi-bind', {
        type: 'string',
        describe: 'address RAPI and the monitoring endpoints listen on (default: the first --listen address)',
      })
      .option('ssl', {
        type: 'boolean',
        default: true,
        describe: "--no-ssl: RAPI over plain HTTP (Ganeti's option; for tests)",
      })
      .option('rapi-users', { type: 'string', describe: "RAPI's users file (default: DATA_DIR/rapi/users)" })
      .option('require-authentication', {
        type: 'boolean',
        default: false,
        describe: 'RAPI answers no one without a user, not even reads',
      })
      .option('mond', { type: 'boolean', default: true, describe: '--no-mond: no monitoring endpoint' })
      .option('mond-port', {
        type: 'number',
        default: DEFAULT_MOND_PORT,
        describe: "monitoring endpoint port (Ganeti's mond: 1815)",
      })
      .check((args) => {
        for (const option of ['rapi-port', 'mond-port'] as const) {
          const port = args[option];
          if (!Number.isInteger(port) || port < 0 || port > 65535)
            throw new Error(`--${option} is a port number, 0 to 65535`);
        }
        const interval = args['watcher-interval'];
        if (interval !== undefined && !(interval >= 0.1 && interval <= 3600))
          throw new Error('--watcher-interval is between 0.1 and 3600 seconds');
        const memory = args['fake-memory'];
        if (memory !== undefined && (!Number.isInteger(memory) || memory <= 0))
          throw new Error('--fake-memory is a positive number of MiB');
        const cpus = args['fake-cpus'];
        if (cpus !== undefined && (!Number.isInteger(cpus) || cpus <= 0 || cpus > 4096))
          throw new Error('--fake-cpus is a whole number of CPUs, 1 to 4096');
        return true;
      }),
  handler: async (args) => {
    // Whatever the daemon creates (keys, the Raft log, disks, sockets) is its user's alone, whatever umask
    // it was started with: the Raft log holds the cluster secret once renew-crypto has run.
    process.umask(0o077);
    // Taken from the start: the daemon answers on its control socket before its RAPI and monitoring
    // endpoints are up, and a SIGTERM in between would otherwise end it at once, with nothing stopped in order.
    const stopAsked = new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    const daemon = await startDaemon({
      dataDir: args['data-dir'],
      listen: args.listen,
      logLevel: args['log-level'],
      ...(args.name !== undefined && { name: args.name }),
      ...(args.socket !== undefined && { socketPath: args.socket }),
      ...(args['hooks-dir'] !== undefined && { hooksDir: args['hooks-dir'] }),
      ...(args['watcher-interval'] !== undefined && { watcherIntervalMs: args['watcher-interval'] * 1000 }),
      storage: {
        ...(args['file-storage-dir'] !== undefined && { fileStorageDir: args['file-storage-dir'] }),
        ...(args['shared-file-storage-dir'] !== undefined && {
          sharedFileStorageDir: args['shared-file-storage-dir'],
        }),
        ...(args['export-dir'] !== undefined && { exportDir: args['export-dir'] }),
        ...(args['volume-group'] !== undefined && { volumeGroup: args['volume-group'] }),
        ...(args['os-search-path'] !== undefined && {
          osSearchPath: args['os-search-path'].split(':').filter((dir) => dir.length > 0),
        }),
        ...(args['fake-memory'] !== undefined && { fakeMemoryMiB: args['fake-memory'] }),
        ...(args['fake-cpus'] !== undefined && { fakeCpus: args['fake-cpus'] }),
      },
    });
    process.on('unhandledRejection', (reason) => daemon.log.error({ err: reason }, 'unhandled rejection'));
    const dataDir = args['data-dir'];
    const endpoints = await startEndpoints(daemon, {
      host: args['rapi-bind'] ?? listenHost(args.listen),
      ...(args.rapi && { rapiPort: args['rapi-port'] }),
      ssl: args.ssl,
      usersFile: args['rapi-users'] ?? defaultUsersFile(dataDir),
      requireAuthentication: args['require-authentication'],
      ...(args.mond && { mondPort: args['mond-port'] }),
    }).catch(async (error: unknown) => {
      await daemon.stop();
      throw error;
    });
    await Promise.race([stopAsked, daemon.evicted]);
    await endpoints
      .stop()
      .then(() => daemon.stop())
      .catch(() => undefined);
  },
};

/** The IP of a multiaddr such as /ip4/127.0.0.5/tcp/7400; any address when there is none. */
function listenHost(listen: readonly string[]): string {
  const match = /^\/(ip4|ip6)\/([^/]+)/.exec(listen[0] ?? '');
  return match?.[2] ?? '0.0.0.0';
}
