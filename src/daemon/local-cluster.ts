import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CorralDiskTemplate } from '../cluster/disk-templates.js';
import type { HypervisorName } from '../cluster/hypervisors.js';
import { DEFAULT_CANDIDATE_POOL_SIZE } from '../cluster/model.js';
import { CorralError } from '../common/errors.js';
import { waitFor } from '../common/wait.js';
import { Enrolment } from '../peer/enrolment.js';
import { loadOrCreateIdentity } from '../peer/identity.js';
import { callDaemon } from './control-client.js';
import type { ControlRequest } from './control-protocol.js';
import { CONTROL_SOCKET_FILE, type ControlResponse, type DaemonStatus } from './control-replies.js';
import { runJob } from './job-client.js';

export const DEFAULT_PORT = 7400;
/** How long a dev daemon has to answer on its socket once spawned, and the base of the whole cluster's forming. */
const START_TIMEOUT_MS = 30_000;
/** What forming the dev cluster may take more for each node. */
const FORM_MS_PER_NODE = 2_000;

/** The compiled CLI, whether this module runs from the CLI bundle, from dist/, or from the sources under vitest. */
export function cliEntryPoint(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const entry =
    basename(here) === 'cli-bundle'
      ? resolve(here, '../src/cli/main.js')
      : here.includes(`${sep}dist${sep}`)
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
  readonly hooksDir?: string;
  readonly nodeFlags?: readonly string[];
  /** Extra `corral daemon` options (storage dirs, fake memory, …). */
  readonly daemonFlags?: readonly string[];
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** A command the daemon runs under, e.g. `ip netns exec NS`; it must exec the daemon in its place. */
  readonly launcher?: readonly string[];
}

/** How a daemon process ended: its exit code, or the signal that killed it. */
export interface DaemonExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One `corral daemon` child process and the means to ask it things. */
export class DaemonProcess {
  private exited: Promise<DaemonExit>;

  private constructor(
    readonly options: SpawnOptions,
    readonly child: ChildProcess,
    readonly logPath: string,
  ) {
    this.exited = new Promise((resolvePromise) =>
      child.once('exit', (code, signal) => resolvePromise({ code, signal })),
    );
  }

  get socketPath(): string {
    return join(this.options.dataDir, CONTROL_SOCKET_FILE);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The command that runs this daemon, launcher first: what `spawn` runs, and what to run by hand. */
  static commandLine(options: SpawnOptions): string[] {
    return [
      ...(options.launcher ?? []),
      process.execPath,
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
      ...(options.hooksDir !== undefined ? ['--hooks-dir', options.hooksDir] : []),
      ...(options.daemonFlags ?? []),
    ];
  }

  static async spawn(options: SpawnOptions): Promise<DaemonProcess> {
    await mkdir(options.dataDir, { recursive: true });
    const logPath = join(options.dataDir, 'daemon.log');
    const logFile = await open(logPath, 'a');
    const [command, ...args] = DaemonProcess.commandLine(options);
    const child = spawn(command!, args, { stdio: ['ignore', logFile.fd, logFile.fd] });
    await logFile.close();
    const daemon = new DaemonProcess(options, child, logPath);
    try {
      await daemon.ready();
    } catch (error) {
      // One that never answered must not linger unseen, holding its address and data dir.
      await daemon.stop('SIGKILL');
      throw error;
    }
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
    const exited = this.exited.then((exit) => {
      if (!started)
        throw new CorralError(
          'unavailable',
          `${this.options.name} exited with ${exit.code ?? exit.signal}; see ${this.logPath}`,
        );
    });
    const answering = waitFor(() => (this.isRunning() ? this.status() : undefined), {
      timeoutMs: START_TIMEOUT_MS,
      what: `${this.options.name} to start`,
    });
    await Promise.race([answering, exited]);
    started = true;
  }

  isRunning(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves when the process has exited, for whatever reason. */
  whenExited(): Promise<DaemonExit> {
    return this.exited;
  }

  /** Stops the daemon (SIGTERM, or SIGKILL for crash tests) and waits for it to exit; resolves to its code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.isRunning()) this.child.kill(signal);
    return (await this.exited).code;
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
  readonly clusterName?: string;
  readonly hooksDir?: string;
  /** MiB of memory each node reports (fake hypervisor); 4096 unless given. */
  readonly fakeMemoryMiB?: number;
  /** CPUs each node reports (fake hypervisor); this machine's unless given. */
  readonly fakeCpus?: number;
  readonly enabledHypervisors?: readonly HypervisorName[];
  readonly enabledDiskTemplates?: readonly CorralDiskTemplate[];
  readonly daemonFlags?: readonly string[];
  readonly launcher?: readonly string[];
  /** Node i's listen address; by default /ip4/127.0.0.(firstHost + i)/tcp/port. */
  readonly listenOf?: (index: number) => string;
}

/** Starts every daemon and forms them into one cluster (see formLocalCluster). */
export async function startLocalCluster(options: LocalClusterOptions): Promise<DaemonProcess[]> {
  const daemons = await spawnLocalNodes(options);
  try {
    await formLocalCluster(daemons, options);
    return daemons;
  } catch (error) {
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    throw error;
  }
}

/**
 * Starts every daemon, unjoined, a few at a time; on a failure the ones started are killed. A start is mostly
 * CPU (loading modules): one after another left cores idle, and all at once on a small host could keep the
 * last from answering within START_TIMEOUT_MS.
 */
export async function spawnLocalNodes(options: LocalClusterOptions): Promise<DaemonProcess[]> {
  const firstHost = options.firstHost ?? 2;
  const started: DaemonProcess[] = [];
  let next = 0;
  let failed = false;
  const startOne = (i: number): Promise<DaemonProcess> => {
    const name = `node${i + 1}`;
    return DaemonProcess.spawn({
      dataDir: join(options.baseDir, name),
      listen: options.listenOf?.(i) ?? `/ip4/127.0.0.${firstHost + i}/tcp/${options.port ?? DEFAULT_PORT}`,
      name,
      nodeFlags: options.nodeFlags ?? [],
      // One shared directory stands for the storage every node reaches (sharedfile disks).
      daemonFlags: [
        '--shared-file-storage-dir',
        join(options.baseDir, 'shared-file-storage'),
        '--fake-memory',
        String(options.fakeMemoryMiB ?? 4096),
        ...(options.fakeCpus !== undefined ? ['--fake-cpus', String(options.fakeCpus)] : []),
        ...(options.daemonFlags ?? []),
      ],
      logLevel: options.logLevel ?? 'info',
      ...(options.hooksDir !== undefined && { hooksDir: options.hooksDir }),
      ...(options.launcher !== undefined && { launcher: options.launcher }),
    });
  };
  const starter = async (): Promise<void> => {
    while (!failed && next < options.nodes) {
      const i = next++;
      try {
        started[i] = await startOne(i);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const starters = Array.from({ length: Math.min(options.nodes, 2 * availableParallelism()) }, starter);
  const outcomes = await Promise.allSettled(starters);
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failure !== undefined) {
    await Promise.all(started.filter(Boolean).map((daemon) => daemon.stop('SIGKILL')));
    throw failure.reason;
  }
  return started;
}

/**
 * Founds the cluster on the first daemon (`cluster init`), adds the others through it (`node add` with each
 * one's enrolment code), and waits until every candidate votes and all see all.
 */
export async function formLocalCluster(
  daemons: readonly DaemonProcess[],
  options: Pick<LocalClusterOptions, 'clusterName' | 'enabledHypervisors' | 'enabledDiskTemplates'>,
): Promise<void> {
  const [first, ...others] = daemons;
  if (first === undefined) throw new CorralError('bad_request', 'a cluster needs at least one node');
  await first.call({
    op: 'cluster-init',
    name: options.clusterName ?? 'cluster.local',
    enabledHypervisors: [...(options.enabledHypervisors ?? ['fake', 'kvm'])],
    enabledDiskTemplates: [...(options.enabledDiskTemplates ?? ['diskless', 'file', 'sharedfile'])],
  });
  for (const daemon of others) {
    // Root on this machine reads each node's enrolment code, as an administrator runs corral identity there.
    const { nodeId } = await loadOrCreateIdentity(daemon.options.dataDir);
    const enrolment = await Enrolment.open(daemon.options.dataDir, nodeId);
    await runJob(
      (request) => first.call(request),
      [
        {
          OP_ID: 'OP_NODE_ADD',
          node_name: daemon.options.name,
          address: daemon.options.listen,
          peer_id: nodeId,
          enrol_code: enrolment.code(),
        },
      ],
    );
  }
  const candidates = Math.min(daemons.length, DEFAULT_CANDIDATE_POOL_SIZE);
  await waitFor(
    async () => {
      const raft = await first.call({ op: 'raft-status' });
      return raft.voters.length === candidates && (await allSeeAll(daemons)) ? true : undefined;
    },
    {
      // Each node add is a Raft commit and a gossip round more; a big cluster on a small host needs longer.
      timeoutMs: START_TIMEOUT_MS + FORM_MS_PER_NODE * daemons.length,
      what: `all ${daemons.length} nodes to hear each other alive and ${candidates} to vote`,
    },
  );
}

/**
 * Whether every daemon's gossip view holds all of them alive and heard first-hand lately. This is what a user
 * sees in `corral health`; an open connection between every pair is not required (nothing keeps one open
 * between two non-voters once their probes have moved on).
 */
export async function allSeeAll(daemons: readonly DaemonProcess[]): Promise<boolean> {
  const views = await Promise.all(daemons.map((daemon) => daemon.call({ op: 'health' })));
  return views.every(
    (view) =>
      view.rows.length === daemons.length &&
      view.rows.every((row) => row.state === 'alive' && (row.id === view.self || !row.stale)),
  );
}
