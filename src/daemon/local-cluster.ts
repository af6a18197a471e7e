import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CorralError } from '../common/errors.js';
import { waitFor } from '../common/wait.js';
import { loadOrCreateIdentity } from '../peer/identity.js';
import { callDaemon } from './control-client.js';
import {
  CONTROL_SOCKET_FILE,
  type ControlRequest,
  type ControlResponse,
  type DaemonStatus,
} from './control-protocol.js';

export const DEFAULT_PORT = 7400;

/** The compiled CLI, whether this module runs from dist/ or from the sources under vitest. */
export function cliEntryPoint(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const entry = here.includes(`${sep}dist${sep}`)
    ? resolve(here, '../cli/main.js')
    : resolve(here, '../../dist/src/cli/main.js');
  if (!existsSync(entry))
    throw new CorralError('unavailable', `${entry} is missing: run 'npm run build' first`);
  return entry;
}

export interface SpawnOptions {
  readonly dataDir: string;
  readonly listen: string;
  readonly name: string;
  readonly join?: { readonly address: string; readonly token: string };
  readonly nodeFlags?: readonly string[];
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

/** One `corral daemon` child process and the means to ask it things. */
export class DaemonProcess {
  private exited: Promise<number | null>;

  private constructor(
    readonly options: SpawnOptions,
    readonly child: ChildProcess,
    readonly logPath: string,
  ) {
    this.exited = new Promise((resolvePromise) => child.once('exit', (code) => resolvePromise(code)));
  }

  get socketPath(): string {
    return join(this.options.dataDir, CONTROL_SOCKET_FILE);
  }

  static async spawn(options: SpawnOptions): Promise<DaemonProcess> {
    await mkdir(options.dataDir, { recursive: true });
    const logPath = join(options.dataDir, 'daemon.log');
    const logFile = await open(logPath, 'a');
    const args = [
      ...(options.nodeFlags ?? []),
      cliEntryPoint(),
      'daemon',
      '--data-dir',
      options.dataDir,
      '--listen',
      options.listen,
      '--name',
      options.name,
      '--log-level',
      options.logLevel ?? 'info',
      ...(options.join ? ['--join', options.join.address, '--token', options.join.token] : []),
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', logFile.fd, logFile.fd] });
    await logFile.close();
    const daemon = new DaemonProcess(options, child, logPath);
    await daemon.ready();
    return daemon;
  }

  call<R extends ControlRequest>(request: R): Promise<ControlResponse<R['op']>> {
    return callDaemon(this.socketPath, request);
  }

  status(): Promise<DaemonStatus> {
    return this.call({ op: 'status' });
  }

  /** Waits until the daemon answers on its control socket, or fails as soon as the daemon exits. */
  private async ready(): Promise<void> {
    let started = false;
    const exited = this.exited.then((code) => {
      if (!started)
        throw new CorralError('unavailable', `${this.options.name} exited with ${code}; see ${this.logPath}`);
    });
    const answering = waitFor(() => (this.isRunning() ? this.status() : undefined), {
      timeoutMs: 30_000,
      what: `${this.options.name} to start`,
    });
    await Promise.race([answering, exited]);
    started = true;
  }

  isRunning(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Stops the daemon (SIGTERM, or SIGKILL for crash tests) and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.isRunning()) this.child.kill(signal);
    return this.exited;
  }
}

export interface LocalClusterOptions {
  readonly baseDir: string;
  readonly nodes: number;
  /** Node i listens on 127.0.0.(firstHost + i), so that each has an address of its own. */
  readonly firstHost?: number;
  /** One port for all: each node has its own address, and a restarted node must come back where it was. */
  readonly port?: number;
  readonly nodeFlags?: readonly string[];
  readonly logLevel?: SpawnOptions['logLevel'];
}

/** Starts node 1, then joins every other node through it with a token, and waits until all see all. */
export async function startLocalCluster(options: LocalClusterOptions): Promise<DaemonProcess[]> {
  const firstHost = options.firstHost ?? 2;
  const daemons: DaemonProcess[] = [];
  try {
    for (let i = 0; i < options.nodes; i++) {
      const name = `node${i + 1}`;
      const dataDir = join(options.baseDir, name);
      const listen = `/ip4/127.0.0.${firstHost + i}/tcp/${options.port ?? DEFAULT_PORT}`;
      const common = {
        dataDir,
        listen,
        name,
        nodeFlags: options.nodeFlags ?? [],
        logLevel: options.logLevel ?? 'info',
      };
      const first = daemons[0];
      if (first === undefined) {
        const founder = await DaemonProcess.spawn(common);
        daemons.push(founder);
        await waitFor(
          async () => ((await founder.call({ op: 'raft-status' })).role === 'leader' ? true : undefined),
          { timeoutMs: 30_000, what: 'node1 to lead its Raft group of one' },
        );
        continue;
      }
      const { nodeId } = await loadOrCreateIdentity(dataDir);
      const { token } = await first.call({ op: 'token-create', peer: nodeId, lifetimeMs: 3_600_000 });
      const address = (await first.status()).addresses[0];
      if (address === undefined) throw new CorralError('internal', 'node1 reports no listen address');
      daemons.push(await DaemonProcess.spawn({ ...common, join: { address, token } }));
      // Every node of a local cluster is a master candidate: a voter of the Raft group node1 founded.
      await first.call({ op: 'raft-add-voter', peer: nodeId });
    }
    await waitFor(
      async () => {
        const statuses = await Promise.all(daemons.map((daemon) => daemon.status()));
        const converged = statuses.every(
          (status) =>
            status.members.length === options.nodes && status.members.every((member) => member.connected),
        );
        return converged ? true : undefined;
      },
      { timeoutMs: 30_000, what: `all ${options.nodes} nodes to see each other` },
    );
    return daemons;
  } catch (error) {
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    throw error;
  }
}
