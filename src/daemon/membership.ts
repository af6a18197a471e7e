import { randomInt } from 'node:crypto';
import { type ConfigData, findNode, instancesOfNode, nodeById, sortedNodes } from '../cluster/config.js';
import {
  answerConfigQuery,
  type ConfigAnswer,
  type ConfigQuery,
  configQueryProtocol,
  freshestAnswer,
  MAX_QUERY_NODES,
} from '../cluster/config-query.js';
import type { Clock } from '../common/clock.js';
import { asCorralError, CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import { seededRng } from '../common/random.js';
import {
  createGossipService,
  type GossipService,
  type GossipTransport,
} from '../membership/gossip-service.js';
import type { HealthRecord, RaftRoleSeen } from '../membership/health.js';
import { createHealthCollector } from '../membership/health-collector.js';
import { type HealthRow, healthRows } from '../membership/health-view.js';
import { createMonitor } from '../membership/monitor.js';
import type { MonitorReport } from '../membership/monitor-reports.js';
import type { SwimConfig } from '../membership/swim-config.js';
import { monitorReportsProtocol } from '../membership/wire.js';
import type { Transport } from '../peer/transport.js';
import type { NodeAgent } from './node-agent.js';

/** How long gossip may take to say goodbye when the daemon stops. */
const LEAVE_TIMEOUT_MS = 1_000;

/** The parts of this node's replica that membership reads; undefined until the cluster service runs. */
export interface LocalReplica {
  localConfig(): ConfigData | undefined;
  raftRole(): RaftRoleSeen;
}

export interface MembershipInit {
  /** Storage dirs whose free space is reported, most important first (the health table shows the fullest). */
  readonly storageDirs: readonly string[];
  readonly swim?: Partial<SwimConfig>;
}

/** Gossip's needs, and a lasting connection to each member of the config. */
export type MembershipTransport = GossipTransport & Pick<Transport, 'keepConnected'>;

export interface MembershipDeps {
  /** This node's name, for its own row before it belongs to a cluster. */
  readonly name: string;
  readonly transport: MembershipTransport;
  readonly clock: Clock;
  readonly log: Logger;
  readonly agent: NodeAgent;
  readonly replica: () => LocalReplica | undefined;
  /** This node's files with unsafe modes, carried in its health record for cluster verify. */
  readonly unsafeFiles?: () => Promise<NonNullable<HealthRecord['unsafeFiles']>>;
}

export interface ConfigQueryResult {
  readonly node: string;
  readonly serial: number;
  readonly value: ConfigAnswer['value'];
  readonly replies: { node: string; serial?: number; error?: string }[];
}

export interface NodeMembership {
  readonly gossip: GossipService;
  /** Every node, or the one named, as this node's gossip sees it; no master needed. */
  health(node?: string): HealthRow[];
  /** A node's full monitoring reports: this node's from memory, another's asked of it. */
  reports(node?: string): Promise<{ node: string; reports: readonly MonitorReport[] }>;
  /** Asks up to `nodes` nodes (this one first) and keeps the answer with the highest config serial. */
  configQuery(query: ConfigQuery, nodes: number): Promise<ConfigQueryResult>;
  /** Tells the cluster this node leaves, then stops sampling. */
  stop(): Promise<void>;
}

/**
 * Gossip membership, health and monitoring as one part of the daemon: the SWIM service over the cluster's
 * nodes from the replicated configuration, the health record it carries, the monitoring collectors whose
 * summaries ride on it, and the node-to-node questions (full reports, config queries) answered from here.
 */
export function startMembership(init: MembershipInit, deps: MembershipDeps): NodeMembership {
  const { transport, clock, log } = deps;
  const config = () => deps.replica()?.localConfig();
  const monitor = createMonitor(
    {},
    {
      clock,
      log: log.child({ part: 'monitor' }),
      agentStatus: (signal) => deps.agent.serve('status', { storage: false }, signal),
      configuredHere: () => {
        const current = config();
        const self = current === undefined ? undefined : nodeById(current, transport.self);
        if (current === undefined || self === undefined) return [];
        return instancesOfNode(current, self.uuid).primary.map((instance) => ({
          name: instance.name,
          uuid: instance.uuid,
          adminState: instance.adminState,
          mtimeMs: instance.mtimeMs,
        }));
      },
      health: () => health.current(),
      collectors: () => config()?.cluster.dataCollectors,
    },
  );
  const health = createHealthCollector(
    { storageDirs: init.storageDirs },
    {
      clock,
      log: log.child({ part: 'health' }),
      instances: () => monitor.instances(),
      configSerial: () => config()?.serial ?? 0,
      raftRole: () => deps.replica()?.raftRole() ?? 'none',
      monitor: () => monitor.summary(),
      ...(deps.unsafeFiles !== undefined && { unsafeFiles: deps.unsafeFiles }),
    },
  );
  let memberIds: readonly NodeId[] = [];
  const gossip = createGossipService(
    { ...(init.swim !== undefined && { config: init.swim }) },
    {
      transport,
      clock,
      rng: seededRng(randomInt(2 ** 31)),
      log: log.child({ part: 'gossip' }),
      health: () => health.current(),
      members: () => {
        const ids = [...(config()?.nodes.values() ?? [])].map((node) => node.id).sort();
        // The same list object while the node set stays, so that gossip skips comparing it.
        if (ids.length !== memberIds.length || ids.some((id, i) => id !== memberIds[i])) memberIds = ids;
        return memberIds;
      },
    },
  );

  // A member gossip holds dead may have come back elsewhere: dialing it again falls back to the DHT.
  gossip.onChange(({ node, state }) => {
    const current = config();
    const record = state === 'dead' && current !== undefined ? nodeById(current, node) : undefined;
    if (record !== undefined && !record.offline)
      void transport.keepConnected(record.id, record.addrs).catch(() => undefined);
  });

  transport.handle(monitorReportsProtocol, async () => ({ reports: [...monitor.reports()] }));
  transport.handle(configQueryProtocol, async (query) => {
    const current = config();
    if (current === undefined) throw new CorralError('unavailable', 'this node belongs to no cluster yet');
    return answerConfigQuery(current, query);
  });

  const named = () => [
    { id: transport.self, name: deps.name },
    ...[...(config()?.nodes.values() ?? [])].map((node) => ({ id: node.id, name: node.name })),
  ];

  function requireConfig(): ConfigData {
    const current = config();
    if (current === undefined)
      throw new CorralError(
        'unavailable',
        'this node belongs to no cluster yet: run cluster init or node add',
      );
    return current;
  }

  return {
    gossip,
    health: (node) => healthRows(gossip.view(), named(), node),
    async reports(name) {
      const current = config();
      const node =
        name === undefined || current === undefined ? undefined : (findNode(current, name) ?? undefined);
      if (name !== undefined && node === undefined)
        throw new CorralError(
          'not_found',
          `node ${name} is not in the cluster; corral health lists the nodes`,
        );
      if (node === undefined || node.id === transport.self)
        return { node: node?.name ?? 'this node', reports: monitor.reports() };
      const { reports } = await transport.request(node.id, monitorReportsProtocol, {});
      return { node: node.name, reports: reports as MonitorReport[] };
    },
    async configQuery(query, count) {
      const current = requireConfig();
      const others = sortedNodes(current).filter(
        (node) => node.id !== transport.self && !node.offline && gossip.member(node.id)?.state === 'alive',
      );
      // A random few of the others, so that queries spread over the cluster.
      for (let i = others.length - 1; i > 0; i--) {
        const j = randomInt(i + 1);
        [others[i], others[j]] = [others[j]!, others[i]!];
      }
      const self = nodeById(current, transport.self);
      const asked = [...(self === undefined ? [] : [self]), ...others].slice(
        0,
        Math.min(count, MAX_QUERY_NODES),
      );
      const replies = await Promise.all(
        asked.map(async (node) => {
          try {
            const answer =
              node.id === transport.self
                ? answerConfigQuery(requireConfig(), query)
                : await transport.request(node.id, configQueryProtocol, query);
            return { node: node.name, answer };
          } catch (error) {
            return { node: node.name, error: asCorralError(error).message };
          }
        }),
      );
      const best = freshestAnswer(replies);
      if (best === undefined)
        throw new CorralError(
          'unavailable',
          `none of the ${asked.length} nodes asked could answer; try again`,
        );
      return {
        node: best.node,
        serial: best.answer.serial,
        value: best.answer.value,
        replies: replies.map((reply) => ({
          node: reply.node,
          ...(reply.answer !== undefined && { serial: reply.answer.serial }),
          ...(reply.error !== undefined && { error: reply.error }),
        })),
      };
    },
    async stop() {
      monitor.stop();
      await Promise.race([
        gossip.leave(),
        new Promise<void>((resolve) => clock.setTimer(LEAVE_TIMEOUT_MS, resolve)),
      ]);
      gossip.stop();
    },
  };
}
