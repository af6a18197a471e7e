import { CorralError } from '../common/errors.js';

/**
 * Node leases, the fence behind automatic failover (notes/leases.md gives the timing argument). A node runs
 * guests only while it holds a lease, granted by a master that has just confirmed its leadership with a
 * quorum. A lease runs `leaseMs` by the node's clock from the moment the node asked for it; the node kills
 * its guests `fenceMarginMs` before that. The master counts a node's lease as lapsed only `lapseAfterMs`
 * after its last grant by its own clock, which covers both clocks running apart at `clockDriftPpm`.
 */
export interface HaParams {
  /** How long a granted lease lasts, by the node's clock, from when it asked. */
  readonly leaseMs: number;
  /** How long before its lease ends a node starts killing its guests, and how long the master waits past it. */
  readonly fenceMarginMs: number;
  /** The most any node's clock rate may differ from true time, in parts per million. */
  readonly clockDriftPpm: number;
  /** The lease length before the last change: a master that takes over may face leases granted with it. */
  readonly previousLeaseMs: number;
  /** Whether the master fails a dead node's instances over on its own, unless a tag says otherwise. */
  readonly autoFailover: boolean;
}

export const DEFAULT_HA_PARAMS: HaParams = {
  leaseMs: 8_000,
  fenceMarginMs: 1_000,
  clockDriftPpm: 10_000,
  previousLeaseMs: 8_000,
  autoFailover: true,
};

export const LEASE_LIMITS = {
  minLeaseMs: 2_000,
  maxLeaseMs: 600_000,
  minFenceMarginMs: 100,
  maxClockDriftPpm: 100_000,
} as const;

/** Refuses lease parameters that cannot fence: a margin that eats the lease, or a drift past 10%. */
export function checkHaParams(params: HaParams): void {
  const { leaseMs, fenceMarginMs, clockDriftPpm } = params;
  if (!Number.isInteger(leaseMs) || leaseMs < LEASE_LIMITS.minLeaseMs || leaseMs > LEASE_LIMITS.maxLeaseMs)
    throw new CorralError(
      'bad_request',
      `the node lease must be from ${LEASE_LIMITS.minLeaseMs / 1000} to ${LEASE_LIMITS.maxLeaseMs / 1000} s`,
    );
  if (!Number.isInteger(fenceMarginMs) || fenceMarginMs < LEASE_LIMITS.minFenceMarginMs)
    throw new CorralError(
      'bad_request',
      `the fence margin must be at least ${LEASE_LIMITS.minFenceMarginMs} ms`,
    );
  if (fenceMarginMs * 2 > leaseMs)
    throw new CorralError('bad_request', 'the fence margin must be at most half the node lease');
  if (!Number.isInteger(clockDriftPpm) || clockDriftPpm < 0 || clockDriftPpm > LEASE_LIMITS.maxClockDriftPpm)
    throw new CorralError(
      'bad_request',
      `the clock drift bound must be from 0 to ${LEASE_LIMITS.maxClockDriftPpm} ppm`,
    );
}

/** A node asks again this often, so that a lost answer or two costs nothing. */
export function renewIntervalMs(leaseMs: number): number {
  return Math.floor(leaseMs / 4);
}

/** By the node's clock: when it must start killing its guests, for a lease it asked for at `askedAtMs`. */
export function fenceAtMs(askedAtMs: number, grant: LeaseGrant): number {
  return askedAtMs + grant.leaseMs - grant.fenceMarginMs;
}

/**
 * By the master's clock: how long after a grant the node's guests are surely dead. The node asked before the
 * grant and counts `leaseMs` on a clock that may run slow by the drift; the master's clock may run fast by
 * as much. Its margin is added once more for what a kill takes to reach the disks.
 */
export function lapseAfterMs(grant: LeaseGrant, clockDriftPpm: number): number {
  const drift = clockDriftPpm / 1_000_000;
  return Math.ceil((grant.leaseMs * (1 + drift)) / (1 - drift)) + grant.fenceMarginMs;
}

/** What a master grants: the lengths of its configuration when it granted. */
export interface LeaseGrant {
  readonly leaseMs: number;
  readonly fenceMarginMs: number;
}

export function leaseGrant(params: HaParams): LeaseGrant {
  return { leaseMs: params.leaseMs, fenceMarginMs: params.fenceMarginMs };
}

/** The longest lease a master that takes over may face: one granted before the last change of length. */
export function takeoverGrant(params: HaParams): LeaseGrant {
  return { leaseMs: Math.max(params.leaseMs, params.previousLeaseMs), fenceMarginMs: params.fenceMarginMs };
}
