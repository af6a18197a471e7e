import { z } from 'zod';
import { requestProtocol } from '../peer/protocol.js';
import { type ConfigData, findNode, nodeById, sortedInstances, sortedNodes } from './config.js';
import { type NodeRole, nameSchema, nodeRole } from './model.js';

const roleNames: Record<NodeRole, string> = {
  M: 'master',
  C: 'candidate',
  D: 'drained',
  O: 'offline',
  R: 'regular',
};

/**
 * Ganeti's confd idea: a small question about the configuration that any node answers from its own replica,
 * asked of several nodes at once; the answer with the highest config serial wins, so a node that is behind
 * or cut off cannot mislead the asker.
 */
/** A question goes to this many nodes at most. */
export const MAX_QUERY_NODES = 16;

export const configQuerySchema = z.discriminatedUnion('type', [
  /** The master's name (CONFD_REQ_CLUSTER_MASTER). */
  z.object({ type: z.literal('cluster-master') }),
  /** A node's role: master, candidate, regular, drained or offline (CONFD_REQ_NODE_ROLE_BYNAME). */
  z.object({ type: z.literal('node-role'), node: nameSchema }),
  /** Every node's primary IP (CONFD_REQ_NODE_PIP_LIST). */
  z.object({ type: z.literal('node-pip-list') }),
  /** The master candidates' primary IPs (CONFD_REQ_MC_PIP_LIST). */
  z.object({ type: z.literal('mc-pip-list') }),
  /** Every instance NIC's IP (CONFD_REQ_INSTANCES_IPS_LIST). */
  z.object({ type: z.literal('instances-ips-list') }),
]);
export type ConfigQuery = z.infer<typeof configQuerySchema>;
export const configQueryTypes = configQuerySchema.options.map((option) => option.shape.type.value);

/** null: the question has no answer in this configuration (no master yet, no such node). */
const answerValue = z.union([z.string().max(253), z.array(z.string().max(253)).max(100_000), z.null()]);
export type ConfigAnswerValue = z.infer<typeof answerValue>;

export const configAnswerSchema = z.object({ serial: z.number().int().min(0), value: answerValue });
export type ConfigAnswer = z.infer<typeof configAnswerSchema>;

export const configQueryProtocol = requestProtocol({
  name: 'config-query',
  major: 1,
  callers: 'member',
  request: configQuerySchema,
  response: configAnswerSchema,
  timeoutMs: 3_000,
  maxFrameBytes: 4 * 1024 * 1024,
});

/** Answers from one replica; pure, so every node answers alike from the same serial. */
export function answerConfigQuery(config: ConfigData, query: ConfigQuery): ConfigAnswer {
  return { serial: config.serial, value: answerOf(config, query) };
}

function answerOf(config: ConfigData, query: ConfigQuery): ConfigAnswerValue {
  switch (query.type) {
    case 'cluster-master':
      return config.master === undefined ? null : (nodeById(config, config.master)?.name ?? null);
    case 'node-role': {
      const node = findNode(config, query.node);
      return node === undefined ? null : roleNames[nodeRole(node, config.master)];
    }
    case 'node-pip-list':
      return sortedNodes(config).map((node) => node.primaryIp);
    case 'mc-pip-list':
      return sortedNodes(config)
        .filter((node) => node.masterCandidate)
        .map((node) => node.primaryIp);
    case 'instances-ips-list':
      return sortedInstances(config).flatMap((instance) => instance.nics.flatMap((nic) => nic.ip ?? []));
  }
}

/** The answer with the highest serial among those that came back; undefined when none did. */
export function freshestAnswer<T extends { readonly answer?: ConfigAnswer | undefined }>(
  replies: readonly T[],
): (T & { readonly answer: ConfigAnswer }) | undefined {
  let best: (T & { readonly answer: ConfigAnswer }) | undefined;
  for (const reply of replies) {
    if (reply.answer === undefined) continue;
    if (best === undefined || reply.answer.serial > best.answer.serial)
      best = reply as T & { readonly answer: ConfigAnswer };
  }
  return best;
}
