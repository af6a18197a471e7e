import { randomInt } from 'node:crypto';
import type { Server } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { encodeKvCommand, KvStore } from '../cluster/kv-store.js';
import { systemClock } from '../common/clock.js';
import { CorralError } from '../common/errors.js';
import { createLogger, type Logger, type LogLevel } from '../common/log.js';
import { seededRng } from '../common/random.js';
import { CORRAL_VERSION } from '../common/version.js';
import { bootstrapStore, RaftRuntime } from '../consensus/runtime.js';
import type { PersistedState } from '../consensus/types.js';
import { WalStore } from '../consensus/wal-store.js';
import { joinCluster, serveMembership } from '../membership/join.js';
import { MemberStore } from '../membership/member-store.js';
import { createHost } from '../peer/host.js';
import { loadOrCreateIdentity, parseNodeId } from '../peer/identity.js';
import { MAX_TOKEN_LIFETIME_MS, mintJoinToken } from '../peer/join-token.js';
import { Libp2pTransport } from '../peer/libp2p-transport.js';
import type { Transport } from '../peer/transport.js';
import { CONTROL_SOCKET_FILE, type ControlRequest, type DaemonStatus } from './control-protocol.js';
import { serveControl } from './control-server.js';
import { echoProtocol, ProbeRecorder, preciseWallMs, probeTopic, runEchoLoad } from './diagnostics.js';

/** etcd's defaults: a 100 ms heartbeat and a 1,000 ms election timeout (ten ticks). */
const RAFT_TICK_MS = 100;

function isEmpty(state: PersistedState): boolean {
  return state.snapshot === undefined && state.entries.length === 0 && state.hardState.term === 0;
}

export interface DaemonOptions {
  readonly dataDir: string;
  readonly listen: readonly string[];
  readonly name?: string;
  /** Joins the cluster of the member at `address`, showing `token`. */
  readonly join?: { readonly address: string; readonly token: string };
  readonly socketPath?: string;
  readonly logLevel?: LogLevel;
}

export interface Daemon {
  readonly transport: Transport;
  readonly log: Logger;
  stop(): Promise<void>;
}

/**
 * Starts every part of a node: identity, the libp2p host behind the cluster gate, membership, the Raft group
 * and its replicated store, and the control socket.
 */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const startedMs = performance.now();
  const identity = await loadOrCreateIdentity(options.dataDir);
  const name = options.name ?? hostname();
  const log = createLogger({ node: name, level: options.logLevel ?? 'info' });
  const store = await MemberStore.open(options.dataDir, identity.nodeId);
  const joinToken = options.join?.token;
  const host = await createHost({
    identity,
    listen: options.listen,
    gate: {
      directory: store,
      clock: systemClock,
      log: log.child({ part: 'gate' }),
      joinToken: () => joinToken,
    },
  });
  const transport = new Libp2pTransport(host, log.child({ part: 'transport' }));
  transport.handle(echoProtocol, async (request) => request);
  const probes = new ProbeRecorder(transport);
  await store.merge([{ id: transport.self, addrs: transport.listenAddresses() }]);
  await serveMembership(transport, store, log.child({ part: 'membership' }));

  const raftLog = log.child({ part: 'raft' });
  const wal = await WalStore.open(join(options.dataDir, 'raft'));
  const kv = new KvStore();
  // A node that founded its cluster starts a Raft group of one; a joining node waits to be added.
  const founding = isEmpty(wal.state) && options.join === undefined && store.list().length === 1;
  const raft = new RaftRuntime({
    transport,
    store: wal.store,
    persisted: founding ? await bootstrapStore(wal.store, [transport.self]) : wal.state,
    machine: kv,
    clock: systemClock,
    rng: seededRng(randomInt(2 ** 31)),
    log: raftLog,
    tickMs: RAFT_TICK_MS,
    onFatal: () => process.kill(process.pid, 'SIGTERM'),
  });
  raft.onLeaderChange(({ leader, term }) => raftLog.info({ leader, term }, 'raft leader changed'));

  if (options.join !== undefined) {
    if (store.list().length > 1) {
      log.info({}, 'already a cluster member; --join ignored');
    } else {
      try {
        const sponsor = await joinCluster(transport, store, options.join.address);
        log.info({ sponsor }, 'joined the cluster');
      } catch (error) {
        await transport.stop();
        throw error;
      }
    }
  }

  const handle = async (request: ControlRequest): Promise<unknown> => {
    switch (request.op) {
      case 'status':
        // For memory checks: a heap figure after a full collection says what is really retained.
        if (request.collectGarbage && typeof globalThis.gc === 'function') globalThis.gc();
        return status();
      case 'token-create': {
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
        return { token, expiresAtMs: nowMs + request.lifetimeMs };
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
      case 'raft-status': {
        const status = raft.status();
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
      case 'raft-add-voter': {
        await raft.addVoter(parseNodeId(request.peer), { signal: AbortSignal.timeout(60_000) });
        return { voters: [...raft.status().membership.voters] };
      }
      case 'raft-transfer':
        raft.transferLeadership(parseNodeId(request.peer));
        return {};
      case 'kv-put': {
        const outcome = await raft.propose(
          encodeKvCommand({ op: 'put', key: request.key, value: request.value }),
          {
            signal: AbortSignal.timeout(10_000),
          },
        );
        if (!outcome?.ok)
          throw new CorralError('bad_request', `the write was refused: ${outcome?.reason ?? 'no outcome'}`);
        return { revision: outcome.revision };
      }
      case 'kv-get': {
        if (request.linearizable) await raft.readBarrier({ signal: AbortSignal.timeout(10_000) });
        const value = kv.get(request.key);
        return value === undefined ? {} : { value };
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

  const socketPath = options.socketPath ?? join(options.dataDir, CONTROL_SOCKET_FILE);
  let control: Server;
  try {
    control = await serveControl(socketPath, handle, log.child({ part: 'control' }));
  } catch (error) {
    raft.stop();
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
    async stop() {
      log.info({}, 'daemon stopping');
      await new Promise<void>((resolve) => control.close(() => resolve()));
      raft.stop();
      await transport.stop();
      // Lets a write already handed to the log finish before the process exits.
      await wal.store.close();
    },
  };
}
