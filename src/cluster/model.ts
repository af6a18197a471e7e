import { z } from 'zod';
import type { Brand, NodeId } from '../common/ids.js';

/**
 * The cluster configuration as Ganeti's users know it (cluster, node groups, nodes, tags), kept as the Raft
 * state machine's data. Field names follow Ganeti's objects in camel case; the query layer maps them to
 * Ganeti's list fields.
 */

export type GroupUuid = Brand<string, 'GroupUuid'>;
export type NodeUuid = Brand<string, 'NodeUuid'>;
export type JobId = Brand<number, 'JobId'>;

export function asJobId(value: number): JobId {
  return value as JobId;
}

/** Host and object names: DNS-like labels, as Ganeti accepts them. */
export const nameSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a name is letters, digits, dots, dashes and underscores');

/** Ganeti's tag rules: at most 128 characters from a restricted set, at most 4096 tags per object. */
export const tagSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[\w.+*/:@-]+$/, 'a tag is letters, digits and . + * / : @ - _');
export const MAX_TAGS = 4096;

export const hypervisors = ['fake', 'kvm'] as const;
export const diskTemplates = ['diskless', 'file', 'sharedfile', 'plain', 'drbd'] as const;
export const allocPolicies = ['preferred', 'last_resort', 'unallocable'] as const;
export type AllocPolicy = (typeof allocPolicies)[number];

export interface ClusterParams {
  readonly name: string;
  readonly uuid: string;
  readonly ctimeMs: number;
  readonly mtimeMs: number;
  /** How many master candidates (Raft voters) the cluster keeps; Ganeti's default is 10. */
  readonly candidatePoolSize: number;
  /** The first is the default. */
  readonly enabledHypervisors: readonly string[];
  readonly enabledDiskTemplates: readonly string[];
  /** Ganeti's max_running_jobs: how many jobs the master runs at once. */
  readonly maxRunningJobs: number;
  /** How long a candidate may be unreachable before another node takes its seat. */
  readonly candidateDeadGraceMs: number;
  readonly tags: readonly string[];
}

export interface GroupRecord {
  readonly uuid: GroupUuid;
  readonly name: string;
  readonly allocPolicy: AllocPolicy;
  readonly tags: readonly string[];
  readonly ctimeMs: number;
  readonly mtimeMs: number;
  readonly serial: number;
}

export interface NodeRecord {
  readonly uuid: NodeUuid;
  readonly name: string;
  /** The peer ID: who this node is on the wire, checked by Noise on every connection. */
  readonly id: NodeId;
  readonly addrs: readonly string[];
  readonly primaryIp: string;
  readonly secondaryIp: string;
  readonly group: GroupUuid;
  readonly masterCandidate: boolean;
  readonly masterCapable: boolean;
  readonly vmCapable: boolean;
  readonly drained: boolean;
  readonly offline: boolean;
  readonly tags: readonly string[];
  readonly ctimeMs: number;
  readonly mtimeMs: number;
  readonly serial: number;
}

/** Ganeti's role letter: master, candidate, drained, offline, regular, in that precedence. */
export type NodeRole = 'M' | 'C' | 'D' | 'O' | 'R';

export function nodeRole(node: NodeRecord, master: NodeId | undefined): NodeRole {
  if (node.id === master) return 'M';
  if (node.masterCandidate) return 'C';
  if (node.drained) return 'D';
  if (node.offline) return 'O';
  return 'R';
}

export const DEFAULT_GROUP_NAME = 'default';
export const DEFAULT_CANDIDATE_POOL_SIZE = 10;
export const DEFAULT_MAX_RUNNING_JOBS = 20;
export const DEFAULT_CANDIDATE_DEAD_GRACE_MS = 60_000;
