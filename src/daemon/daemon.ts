import { randomInt, randomUUID } from 'node:crypto';
import type { Server } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { peerIdFromString } from '@libp2p/peer-id';
import { findInstance, nodeOfUuid } from '../cluster/config.js';
import { shownJob } from '../cluster/jobs.js';
import { asJobId } from '../cluster/model.js';
import { toConfigView } from '../cluster/views.js';
import { systemClock } from '../common/clock.js';
import { CorralError } from '../common/errors.js';
import { createLogger, type Logger, type LogLevel } from '../common/log.js';
import { seededRng } from '../common/random.js';
import { CORRAL_VERSION } from '../common/version.js';
import { MemberStore } from '../membership/member-store.js';
import { createUserEvents } from '../membership/user-events.js';
import { Enrolment } from '../peer/enrolment.js';
import { createHost } from '../peer/host.js';
import { loadOrCreateIdentity, parseNodeId } from '../peer/identity.js';
import { MAX_TOKEN_LIFETIME_MS, mintJoinToken, readJoinToken } from '../peer/join-token.js';
import { Libp2pTransport } from '../peer/libp2p-transport.js';
import { PeerBlocklist } from '../peer/peer-block.js';
import type { Transport } from '../peer/transport.js';
import { nodeCallerCheck } from './caller-check.js';
import { ClusterService } from './cluster-service.js';
import { CONTROL_SOCKET_FILE, type ControlRequest, type DaemonStatus } from './control-protocol.js';
import { serveControl } from './control-server.js';
import { echoProtocol, ProbeRecorder, preciseWallMs, probeTopic, runEchoLoad } from './diagnostics.js';
import { checkSecretFiles, daemonUid, findUnsafeFiles, healthReport, secureDataDir } from './file-modes.js';
import { ClusterHookRunner } from './hook-runner.js';
import { joinThrough, serveJoins } from './join-service.js';
import { startMembership } from './membership.js';
import { createNodeAgent, type NodeStorageOptions, storageDirs } from './node-setup.js';
import { walReplicaLog } from './replica-log.js';

/** Where Ganeti keeps hooks is /etc/ganeti/hooks; ours sit beside it. */
export const DEFAULT_HOOKS_DIR = '/etc/corral/hooks';
/** Ganeti's watcher runs every 5 minutes from cron; ours runs in the master, so it can look more often. */
const DEFAULT_WATCHER_INTERVAL_MS = 30_000;

export interface DaemonOptions {
  readonly dataDir: string;
  readonly listen: readonly string[];
  readonly name?: string;
  readonly socketPath?: string;
  readonly hooksDir?: string;
  readonly logLevel?: LogLevel;
  readonly storage?: NodeStorageOptions;
  readonly watcherIntervalMs?: number;
}

export interface Daemon {
  readonly transport: Transport;
  readonly log: Logger;
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
  const agent = createNodeAgent(
    { ...options.storage, dataDir: options.dataDir },
    { transport, clock: systemClock, log },
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
  const cluster = await ClusterService.start({
    transport,
    members: store,
    raftLog: walReplicaLog(join(options.dataDir, 'raft')),
    name,
    hooks: new ClusterHookRunner({
      transport,
      hooksDir: options.hooksDir ?? DEFAULT_HOOKS_DIR,
      dataDir: options.dataDir,
      log: log.child({ part: 'hooks' }),
    }),
    agent,
    watcherIntervalMs: options.watcherIntervalMs ?? DEFAULT_WATCHER_INTERVAL_MS,
    clock: systemClock,
    log,
    onEvicted: () => evicted(),
    // The daemon's SIGTERM handler stops every part in order.
    onFatal: () => process.kill(process.pid, 'SIGTERM'),
    observed: (node) => membership.gossip.member(node),
    enrolment,
    rng: seededRng(randomInt(2 ** 31)),
    newUuid: randomUUID,
  });
  replica = cluster;
  const joinDeps = { transport, members: store, clock: systemClock, log: log.child({ part: 'join' }) };
  serveJoins({ ...joinDeps, cluster });

  const handle = async (request: ControlRequest): Promise<unknown> => {
    switch (request.op) {
      case 'status':
        // For memory checks: a heap figure after a full collection says what is really retained.
        if (request.collectGarbage && typeof globalThis.gc === 'function') globalThis.gc();
        return status();
      case 'token-create': {
        // Before init or admission the secret is this node's own, and no member would accept its tokens.
        if (store.cluster === undefined)
          throw new CorralError(
            'not_member',
            'this node belongs to no cluster; create the token on a member',
          );
        if (request.lifetimeMs > MAX_TOKEN_LIFETIME_MS) {
          throw new CorralError(
            'bad_request',
            `a token lives at most ${MAX_TOKEN_LIFETIME_MS / 3_600_000} h`,
          );
        }
        const nowMs = systemClock.wallMs();
        const token = mintJoinToken(
          store.clusterSecret(),
          parseNodeId(request.peer),
          nowMs,
          request.lifetimeMs,
        );
        // The token's own expiry, which is rounded up to the second.
        return { token, expiresAtMs: readJoinToken(token).expiresMs };
      }
      case 'debug-echo':
        return runEchoLoad(transport, { ...request, peer: parseNodeId(request.peer) });
      case 'debug-probe':
        for (let seq = 0; seq < request.count; seq++) {
          await transport.publish(probeTopic, { seq, sentAtMs: preciseWallMs() });
          if (request.intervalMs > 0)
            await new Promise((resolve) =>
              systemClock.setTimer(request.intervalMs, () => resolve(undefined)),
            );
        }
        return { published: request.count };
      case 'debug-probe-stats':
        return { delaysMs: probes.take() };
      case 'debug-partition': {
        const added = blocklist.replace(request.peers.map(parseNodeId));
        await Promise.all(added.map((peer) => host.hangUp(peerIdFromString(peer)).catch(() => undefined)));
        return { blocked: request.peers.length };
      }
      case 'event':
        return { sentAtMs: await userEvents.publish(request.name, request.payload) };
      case 'events':
        return { events: userEvents.received(request.name) };
      case 'raft-status': {
        const status = cluster.raftStatus();
        if (status === undefined) throw new CorralError('unavailable', 'this node belongs to no cluster yet');
        return {
          id: status.id,
          role: status.role,
          term: status.term,
          ...(status.leader !== undefined && { leader: status.leader }),
          commit: status.commit,
          applied: status.applied,
          voters: [...status.membership.voters],
          learners: [...status.membership.learners],
        };
      }
      case 'raft-transfer':
        await cluster.forward({ op: 'transfer', to: request.peer });
        return {};
      case 'kv-put':
        return { revision: await cluster.kvPut(request.key, request.value) };
      case 'kv-get': {
        const value = await cluster.kvGet(request.key, request.linearizable);
        return value === undefined ? {} : { value };
      }
      case 'cluster-init':
        await cluster.init(request);
        return { name: request.name };
      case 'cluster-join': {
        const address = request.add.address ?? advertisedAddress(transport.listenAddresses());
        if (address === undefined)
          throw new CorralError(
            'unavailable',
            'this daemon listens nowhere; give the address with --address',
          );
        const slot = {
          set: (token: string | undefined) => {
            joinToken = token;
          },
        };
        // The node's own enrolment code goes with the add: the master shows it back when it admits this node.
        const add = {
          ...request.add,
          OP_ID: 'OP_NODE_ADD' as const,
          node_name: request.add.node_name ?? name,
          address,
          enrol_code: enrolment.code(),
        };
        const answer = await joinThrough(joinDeps, slot, request.member, request.token, { add });
        return { cluster: answer.cluster.name, node: answer.node, job: answer.job };
      }
      case 'master':
        return cluster.forward(request.request);
      case 'master-failover': {
        await cluster.takeMasterRole();
        return { master: name };
      }
      case 'config': {
        const view = await cluster.view(request.consistent);
        const raft = cluster.raftStatus();
        return {
          ...(view.config !== undefined && { config: toConfigView(view.config) }),
          ...(view.master !== undefined && { master: view.master }),
          ...(view.staleMs !== undefined && { staleMs: view.staleMs }),
          self: transport.self,
          ...(raft !== undefined && {
            raft: {
              role: raft.role,
              term: raft.term,
              voters: [...raft.membership.voters],
              learners: [...raft.membership.learners],
            },
          }),
        };
      }
      case 'jobs': {
        const view = await cluster.view(request.consistent);
        const wanted = request.ids === undefined ? undefined : new Set(request.ids);
        const jobs = view.jobs
          .jobs()
          .filter((job) => wanted === undefined || wanted.has(job.id))
          .map(shownJob);
        return { jobs, ...(view.staleMs !== undefined && { staleMs: view.staleMs }) };
      }
      case 'nodes-live':
        return { nodes: await cluster.nodesLive() };
      case 'health':
        return { self: transport.self, rows: membership.health(request.node) };
      case 'monitor-reports':
        return membership.reports(request.node);
      case 'config-query':
        return membership.configQuery(request.query, request.nodes);
      case 'os-diagnose':
        return { nodes: await cluster.osDiagnose() };
      case 'console': {
        const view = await cluster.view(false);
        const instance = view.config === undefined ? undefined : findInstance(view.config, request.instance);
        if (view.config === undefined || instance === undefined)
          throw new CorralError('not_found', `instance ${request.instance} does not exist`);
        const primary = nodeOfUuid(view.config, instance.primaryNode);
        if (primary.id === transport.self)
          return { path: agent.consolePath(instance.name, instance.hypervisor) };
        const open = { instance: instance.name, hypervisor: instance.hypervisor };
        return {
          path: await agent.remoteConsole(primary.id, primary.name, open, join(options.dataDir, 'console')),
        };
      }
      case 'job-wait': {
        const job = await cluster.waitJob(asJobId(request.job), request.afterVersion, request.waitMs);
        return { job: shownJob(job) };
      }
    }
  };

  const status = (): DaemonStatus => {
    const connected = new Set(transport.connectedPeers());
    const memory = process.memoryUsage();
    return {
      nodeId: transport.self,
      name,
      version: CORRAL_VERSION,
      addresses: transport.listenAddresses(),
      uptimeMs: Math.round(performance.now() - startedMs),
      members: store.list().map((member) => ({
        id: member.id,
        addrs: [...member.addrs],
        connected: member.id === transport.self || connected.has(member.id),
      })),
      memory: { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed },
    };
  };

  let control: Server;
  try {
    control = await serveControl(socketPath, handle, log.child({ part: 'control' }));
  } catch (error) {
    await membership.stop();
    await cluster.stop();
    await transport.stop();
    throw new CorralError('unavailable', `cannot listen on ${socketPath}: ${(error as Error).message}`);
  }
  log.info(
    { nodeId: transport.self, addresses: transport.listenAddresses(), socket: socketPath },
    'daemon started',
  );

  return {
    transport,
    log,
    evicted: evictedPromise,
    async stop() {
      log.info({}, 'daemon stopping');
      await new Promise<void>((resolve) => control.close(() => resolve()));
      await membership.stop();
      // Lets a write already handed to the log finish before the process exits.
      await cluster.stop();
      await transport.stop();
    },
  };
}

/**
 * The address a joining node gives the master to reach it: a daemon listening on every interface lists
 * loopback too, which no other machine can dial, so another address goes first when there is one.
 */
function advertisedAddress(addresses: readonly string[]): string | undefined {
  const loopback = /^\/ip4\/127\.|^\/ip6\/::1\//;
  return addresses.find((address) => !loopback.test(address)) ?? addresses[0];
}
