import { randomInt, randomUUID } from 'node:crypto';
import type { Server } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { peerIdFromString } from '@libp2p/peer-id';
import { MASTER_IP_SCRIPT } from '../cluster/master-ip.js';
import { newRapiCertificate, type RapiCertificate } from '../cluster/rapi-certificate.js';
import { systemClock } from '../common/clock.js';
import { asCorralError, CorralError } from '../common/errors.js';
import { createLogger, type Logger, type LogLevel } from '../common/log.js';
import { seededRng } from '../common/random.js';
import { processOobRunner } from '../master/oob-runner.js';
import { type ControlTimings, defaultControlTimings } from '../master/timings.js';
import { MemberStore } from '../membership/member-store.js';
import { createUserEvents } from '../membership/user-events.js';
import { Enrolment } from '../peer/enrolment.js';
import { createHost } from '../peer/host.js';
import { loadOrCreateIdentity } from '../peer/identity.js';
import { Libp2pTransport } from '../peer/libp2p-transport.js';
import { PeerBlocklist } from '../peer/peer-block.js';
import type { Transport } from '../peer/transport.js';
import { nodeCallerCheck } from './caller-check.js';
import { clusterControls } from './cluster-controls.js';
import { ClusterService } from './cluster-service.js';
import { type ControlRequest, controlRequestSchema } from './control-protocol.js';
import { CONTROL_SOCKET_FILE } from './control-replies.js';
import { type ControlHandlers, serveControl } from './control-server.js';
import { debugControls } from './debug-controls.js';
import { echoProtocol, ProbeRecorder, preciseWallMs } from './diagnostics.js';
import { startFenceWatchdog } from './fence-watchdog.js';
import { checkSecretFiles, daemonUid, findUnsafeFiles, healthReport, secureDataDir } from './file-modes.js';
import { gossipControls } from './gossip-controls.js';
import { ClusterHookRunner } from './hook-runner.js';
import type { DaemonCall } from './job-client.js';
import { joinControls } from './join-controls.js';
import { serveJoins } from './join-service.js';
import { LeaseKeeper } from './lease-keeper.js';
import { LEASE_FILE, leaseRecordFile } from './lease-record.js';
import { ipCommandDevice, scriptDevice } from './master-ip.js';
import { startMembership } from './membership.js';
import { reportingToMaster } from './mirror-reporter.js';
import { nodeCommandControls, serveNodeCommands } from './node-command.js';
import { createNodeAgent, kvmRunDir, mirrorDir, type NodeStorageOptions, storageDirs } from './node-setup.js';
import { raftControls } from './raft-controls.js';
import { walReplicaLog } from './replica-log.js';
import { statusControl } from './status-control.js';

/** Where Ganeti keeps hooks is /etc/ganeti/hooks; ours sit beside it. */
export const DEFAULT_HOOKS_DIR = '/etc/corral/hooks';

export interface DaemonOptions {
  readonly dataDir: string;
  readonly listen: readonly string[];
  readonly name?: string;
  readonly socketPath?: string;
  readonly hooksDir?: string;
  readonly logLevel?: LogLevel;
  readonly storage?: NodeStorageOptions;
  /** `--watcher-interval`; every other timing is defaultControlTimings'. */
  readonly watcherIntervalMs?: number;
}

export interface Daemon {
  readonly transport: Transport;
  readonly log: Logger;
  /** Answers a control request in process, as the control socket would: for RAPI and the monitoring endpoints. */
  readonly call: DaemonCall;
  /** RAPI's key and certificate from the replicated configuration, once the node belongs to a cluster. */
  rapiCertificate(): RapiCertificate | undefined;
  /** Calls `listener` whenever the replicated configuration changes here (the certificate may come with it). */
  onConfigChange(listener: () => void): () => void;
  stop(): Promise<void>;
  /** Resolves when the daemon stopped on its own (it was removed from its cluster). */
  readonly evicted: Promise<void>;
}

/**
 * Starts every part of a node: identity, the libp2p host behind the cluster gate, membership, the Raft group
 * and its replicated store, and the control socket.
 */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const startedMs = performance.now();
  const uid = daemonUid();
  const loosened = await secureDataDir(options.dataDir, uid);
  await checkSecretFiles(options.dataDir, uid);
  const identity = await loadOrCreateIdentity(options.dataDir);
  const name = options.name ?? hostname();
  const log = createLogger({ node: name, level: options.logLevel ?? 'info' });
  if (loosened !== undefined)
    log.warn(
      { dataDir: options.dataDir, was: loosened.toString(8) },
      'the data dir was open to others; made it 0700',
    );
  const socketPath = options.socketPath ?? join(options.dataDir, CONTROL_SOCKET_FILE);
  const store = await MemberStore.open(options.dataDir, identity.nodeId);
  const enrolment = await Enrolment.open(options.dataDir, identity.nodeId);
  const blocklist = new PeerBlocklist();
  // Set only while `cluster join` dials a member: the gate shows it in the hello.
  let joinToken: string | undefined;
  const host = await createHost({
    blocklist,
    identity,
    listen: options.listen,
    gate: {
      directory: store,
      clock: systemClock,
      log: log.child({ part: 'gate' }),
      joinToken: () => joinToken,
    },
  });
  // The cluster service needs the transport, and the check needs the cluster service's Raft term: it reads
  // it once there is one (until then no call that needs a term is admitted).
  let replica: ClusterService | undefined;
  const check = nodeCallerCheck({ members: store, enrolment, clock: systemClock, replica: () => replica });
  const transport = new Libp2pTransport(host, log.child({ part: 'transport' }), check);
  transport.handle(echoProtocol, async (request) => request);
  const probes = new ProbeRecorder(transport);
  const userEvents = createUserEvents(transport, { wallMs: preciseWallMs });
  await store.merge([{ id: transport.self, addrs: transport.listenAddresses() }]);
  let evicted!: () => void;
  const evictedPromise = new Promise<void>((resolve) => {
    evicted = resolve;
  });
  const mirrorReporter = reportingToMaster(
    (request) => {
      if (replica === undefined)
        throw new CorralError('unavailable', 'the cluster service is not running yet');
      return replica.forward(request);
    },
    log.child({ part: 'mirror' }),
  );
  const lease = new LeaseKeeper({
    clock: systemClock,
    log: log.child({ part: 'lease' }),
    record: leaseRecordFile(join(options.dataDir, LEASE_FILE), systemClock),
    leaseMs: () => replica?.localConfig()?.cluster.ha.leaseMs,
    renew: async (deadlineMs) => {
      if (replica === undefined)
        throw new CorralError('unavailable', 'the cluster service is not running yet');
      return replica.forward({ op: 'lease' }, { deadlineMs });
    },
    fence: () => agent.fenceGuests(),
    guard: () => startFenceWatchdog(options.dataDir, kvmRunDir(options.dataDir)),
  });
  const agent = createNodeAgent(
    { ...options.storage, dataDir: options.dataDir },
    {
      transport,
      clock: systemClock,
      log,
      mirrorReporter: () => (replica === undefined ? undefined : mirrorReporter),
      mirrorBind: dataPlaneBind(transport.listenAddresses()),
      lease,
    },
  );
  agent.register();
  // Membership starts first, so the cluster service can ask it; it reads the replica once there is one.
  const { fileStorageDir, sharedFileStorageDir } = storageDirs({
    ...options.storage,
    dataDir: options.dataDir,
  });
  const membership = startMembership(
    { storageDirs: [...new Set([fileStorageDir, sharedFileStorageDir, options.dataDir])] },
    {
      name,
      transport,
      clock: systemClock,
      log,
      agent,
      replica: () => replica,
      unsafeFiles: async () =>
        (await findUnsafeFiles({ dataDir: options.dataDir, socket: socketPath }, uid)).map(healthReport),
    },
  );
  const timings: ControlTimings = {
    ...defaultControlTimings,
    ...(options.watcherIntervalMs !== undefined && { watcherIntervalMs: options.watcherIntervalMs }),
  };
  const cluster = await ClusterService.start({
    transport,
    members: store,
    raftLog: walReplicaLog(join(options.dataDir, 'raft')),
    name,
    oob: processOobRunner,
    // Ganeti's --use-external-mip-script runs the administrator's script; Corral looks for it in its data dir.
    masterIpDevice: (spec) =>
      spec.external ? scriptDevice(join(options.dataDir, MASTER_IP_SCRIPT)) : ipCommandDevice(),
    hooks: new ClusterHookRunner({
      transport,
      hooksDir: options.hooksDir ?? DEFAULT_HOOKS_DIR,
      dataDir: options.dataDir,
      log: log.child({ part: 'hooks' }),
    }),
    agent,
    timings,
    clock: systemClock,
    log,
    onEvicted: () => evicted(),
    // The daemon's SIGTERM handler stops every part in order.
    onFatal: () => process.kill(process.pid, 'SIGTERM'),
    observed: (node) => membership.gossip.member(node),
    announce: (name, payload) => {
      void userEvents
        .publish(name, payload)
        .catch((error: unknown) =>
          log.warn({ err: asCorralError(error), event: name }, 'could not announce a cluster event'),
        );
    },
    enrolment,
    rng: seededRng(randomInt(2 ** 31)),
    newUuid: randomUUID,
    newRapiCertificate,
  });
  replica = cluster;
  // Before anything may start a guest: a lease that ran out while no daemon watched kills the guests now,
  // and the watchdog that guards them if this daemon hangs takes this daemon for its owner.
  await lease.start();
  startFenceWatchdog(options.dataDir, kvmRunDir(options.dataDir));
  // Once the cluster service has connected to the members, so that mirrored disks attached again link at once.
  await agent.serveLocal(join(mirrorDir(options.dataDir), 'nbd.sock'));
  const joinDeps = {
    transport,
    members: store,
    clock: systemClock,
    log: log.child({ part: 'join' }),
    timings,
  };
  serveJoins({ ...joinDeps, cluster });
  serveNodeCommands(transport, log.child({ part: 'command' }));

  // Each part answers the control requests about it, given only what it needs; the table's type makes sure
  // that every request has its handler.
  const handlers: ControlHandlers = {
    ...statusControl({ transport, members: store, name, startedMs }),
    ...debugControls({
      transport,
      probes,
      blocklist,
      hangUp: (peer) => host.hangUp(peerIdFromString(peer)),
      clock: systemClock,
    }),
    ...gossipControls({ self: transport.self, userEvents, membership }),
    ...raftControls({ cluster, name }),
    ...nodeCommandControls({ self: transport.self, transport, config: () => cluster.localConfig() }),
    ...clusterControls({
      self: transport.self,
      cluster,
      agent,
      consoleDir: join(options.dataDir, 'console'),
      timings,
    }),
    ...joinControls({
      join: joinDeps,
      listenAddresses: () => transport.listenAddresses(),
      enrolment,
      tokenSlot: {
        set: (token) => {
          joinToken = token;
        },
      },
      name,
    }),
  };

  let control: Server;
  try {
    control = await serveControl(socketPath, handlers, log.child({ part: 'control' }));
  } catch (error) {
    lease.stop();
    await membership.stop();
    await cluster.stop();
    await transport.stop();
    throw new CorralError('unavailable', `cannot listen on ${socketPath}: ${(error as Error).message}`);
  }
  log.info(
    { nodeId: transport.self, addresses: transport.listenAddresses(), socket: socketPath },
    'daemon started',
  );

  const call = (async (request: ControlRequest) => {
    // What RAPI builds from a user's body is checked here as the socket checks the CLI's: a refusal, not a crash.
    const checked = controlRequestSchema.safeParse(request);
    if (!checked.success) {
      const issue = checked.error.issues[0];
      throw new CorralError(
        'bad_request',
        `${issue?.path.join('.') || 'request'}: ${issue?.message ?? 'invalid'}`,
      );
    }
    return (handlers[checked.data.op] as (r: ControlRequest) => Promise<unknown>)(checked.data);
  }) as DaemonCall;

  return {
    transport,
    log,
    call,
    rapiCertificate: () => cluster.localConfig()?.rapiCertificate,
    onConfigChange: (listener) => cluster.onConfigChange(() => listener()),
    evicted: evictedPromise,
    async stop() {
      log.info({}, 'daemon stopping');
      await new Promise<void>((resolve) => control.close(() => resolve()));
      lease.stop();
      await membership.stop();
      // Lets a write already handed to the log finish before the process exits.
      await cluster.stop();
      await agent.stop();
      await transport.stop();
    },
  };
}

/**
 * Where the mirror's data plane listens: every address of the node's family, since its peers reach it on
 * the replication network (its secondary IP), which need not be where libp2p listens.
 */
function dataPlaneBind(addresses: readonly string[]): string {
  return addresses[0]?.startsWith('/ip6/') ? '::' : '0.0.0.0';
}
