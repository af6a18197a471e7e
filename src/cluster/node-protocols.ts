import { z } from 'zod';
import { bytesSchema } from '../peer/codec.js';
import { requestProtocol } from '../peer/protocol.js';
import { nameSchema } from './model.js';
import { nodeAddOpSchema } from './opcodes.js';

/** What the master asks of a node's daemon to bring it into the cluster, or to let it go. */

const clusterRef = z.object({ name: nameSchema, uuid: z.string().min(1).max(64) });
const memberList = z
  .array(z.object({ id: z.string().min(1).max(128), addrs: z.array(z.string().max(256)).max(16) }))
  .max(1024);

/** Who a daemon is and whether it already belongs to a cluster: what `node add` shows before admitting it. */
export const nodeInfoProtocol = requestProtocol({
  name: 'node-info',
  major: 1,
  // A caller that is not a member sees what any fresh node shows: no cluster, no addresses, no clock.
  callers: 'anyone',
  request: z.object({}),
  response: z.object({
    name: z.string().max(253),
    version: z.string().max(64),
    cluster: clusterRef.optional(),
    addrs: z.array(z.string().max(256)).max(16),
    /** The node's wall clock when it answered, for the clock-skew check of cluster verify. */
    timeMs: z.number().optional(),
    /** The serial of the configuration the node has applied, for cluster redist-conf. */
    configSerial: z.number().int().nonnegative().optional(),
  }),
});

/**
 * Hands an unjoined node the cluster's secret and member list, once the caller has shown that node's enrolment
 * code; a node already in this cluster answers alike when the master asks again (a node add resumed).
 */
export const admitProtocol = requestProtocol({
  name: 'admit',
  major: 2,
  callers: 'admitter',
  request: z.object({
    cluster: clusterRef,
    secret: bytesSchema,
    members: memberList,
    /** The serial of the configuration the member list is of: older ones met while replaying are ignored. */
    serial: z.number().int().nonnegative(),
  }),
  response: z.object({}),
  maxFrameBytes: 1024 * 1024,
});

/**
 * A node that holds a join token asks any member to have it added: the member checks the token against the
 * caller's peer ID, submits the node add (with that peer ID, whatever the request says) and answers when the
 * job has ended, by which time the master has admitted the caller.
 */
export const joinProtocol = requestProtocol({
  name: 'join',
  major: 2,
  // The token travels in the credentials, judged with the caller's peer ID before the handler runs.
  callers: 'joiner',
  request: z.object({ add: nodeAddOpSchema.omit({ peer_id: true }) }),
  response: z.object({ cluster: clusterRef, node: nameSchema, job: z.number().int().positive() }),
  // A node add probes and admits the joiner: it may wait behind other jobs holding the big lock.
  timeoutMs: 120_000,
});

/** Tells a removed node to forget the cluster: it drops its replica and waits to be added again. */
export const evictProtocol = requestProtocol({
  name: 'evict',
  major: 2,
  callers: 'master',
  request: z.object({ cluster: clusterRef }),
  response: z.object({}),
});

export const hookResultSchema = z.object({
  script: z.string().max(256),
  /** The exit status, or undefined when a signal or the timeout ended the script. */
  exitCode: z.number().int().optional(),
  signal: z.string().max(32).optional(),
  timedOut: z.boolean(),
  output: z.string().max(80 * 1024),
  durationMs: z.number(),
});
export type HookResult = z.infer<typeof hookResultSchema>;

/** Runs one hooks phase on a node with the environment the master computed. */
export const hooksProtocol = requestProtocol({
  name: 'hooks',
  major: 2,
  callers: 'master',
  request: z.object({
    hpath: z.string().regex(/^[a-z0-9-]{1,64}$/),
    phase: z.enum(['pre', 'post']),
    // Ganeti's names keep parameter keys as they are: GANETI_INSTANCE_BE_maxmem, GANETI_INSTANCE_HV_kernel_path.
    env: z.record(z.string().regex(/^GANETI_[A-Za-z0-9_]{1,64}$/), z.string().max(4096)),
  }),
  response: z.object({ results: z.array(hookResultSchema).max(256) }),
  timeoutMs: 120_000,
  maxFrameBytes: 4 * 1024 * 1024,
});
