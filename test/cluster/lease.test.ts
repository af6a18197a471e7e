import { describe, expect, it } from 'vitest';
import {
  checkHaParams,
  DEFAULT_HA_PARAMS,
  fenceAtMs,
  type HaParams,
  type LeaseGrant,
  lapseAfterMs,
  takeoverGrant,
} from '../../src/cluster/lease.js';

const check = (changes: Partial<HaParams>) => () => checkHaParams({ ...DEFAULT_HA_PARAMS, ...changes });

/** A refusal: bad_request, one line, saying what. */
const refusal = (what: RegExp) =>
  expect.objectContaining({
    code: 'bad_request',
    message: expect.stringMatching(new RegExp(`^[^\\n]*${what.source}[^\\n]*$`)),
  });

describe('checkHaParams', () => {
  it('accepts the defaults and the edges of every range', () => {
    expect(check({})).not.toThrow();
    expect(check({ leaseMs: 2_000, fenceMarginMs: 1_000 })).not.toThrow();
    expect(check({ leaseMs: 600_000 })).not.toThrow();
    expect(check({ fenceMarginMs: 100 })).not.toThrow();
    expect(check({ clockDriftPpm: 0 })).not.toThrow();
    expect(check({ clockDriftPpm: 100_000 })).not.toThrow();
  });

  it('refuses a lease out of range, or not whole milliseconds', () => {
    for (const leaseMs of [1_999, 600_001, 4_000.5])
      expect(check({ leaseMs, fenceMarginMs: 500 })).toThrow(
        refusal(/the node lease must be from 2 to 600 s/),
      );
  });

  it('refuses a fence margin under 100 ms', () => {
    for (const fenceMarginMs of [99, 0, 150.5])
      expect(check({ fenceMarginMs })).toThrow(refusal(/the fence margin must be at least 100 ms/));
  });

  it('refuses a fence margin over half the lease', () => {
    expect(check({ leaseMs: 2_000, fenceMarginMs: 1_001 })).toThrow(
      refusal(/the fence margin must be at most half the node lease/),
    );
  });

  it('refuses a drift bound out of range', () => {
    for (const clockDriftPpm of [-1, 100_001, 0.5])
      expect(check({ clockDriftPpm })).toThrow(refusal(/the clock drift bound must be from 0 to 100000 ppm/));
  });
});

describe('lapseAfterMs', () => {
  const grant: LeaseGrant = { leaseMs: 8_000, fenceMarginMs: 1_000 };

  it('is lease plus margin without drift, and grows with drift', () => {
    expect(lapseAfterMs(grant, 0)).toBe(9_000);
    expect(lapseAfterMs(grant, 10_000)).toBeGreaterThan(9_000);
    expect(lapseAfterMs(grant, 100_000)).toBeGreaterThan(lapseAfterMs(grant, 10_000));
  });

  // The worst case: the master grants the instant the node asks (it never grants earlier); the node's clock
  // runs slow by the bound, so its lease lasts longest in real time; the master's runs fast, so its wait is
  // shortest in real time. The node's guests must be dead by the end of its lease, before the master's wait ends.
  it.each([
    [DEFAULT_HA_PARAMS.leaseMs, DEFAULT_HA_PARAMS.fenceMarginMs, DEFAULT_HA_PARAMS.clockDriftPpm],
    [2_000, 100, 100_000],
    [600_000, 100, 100_000],
    [60_000, 5_000, 50_000],
    [10_000, 100, 0],
  ])(
    'covers a lease of %i ms, margin %i ms, drift %i ppm, with the clocks apart by the bound',
    (leaseMs, fenceMarginMs, ppm) => {
      const drift = ppm / 1_000_000;
      const askedAt = 0;
      const lease = { leaseMs, fenceMarginMs };
      // Real time: the node's clock advances (1 - drift) per real ms, the master's (1 + drift).
      const nodeFencesAt = (fenceAtMs(askedAt, lease) - askedAt) / (1 - drift);
      const nodeLeaseEndsAt = leaseMs / (1 - drift);
      const masterCountsLapsedAt = lapseAfterMs(lease, ppm) / (1 + drift);
      expect(nodeFencesAt).toBeLessThan(nodeLeaseEndsAt);
      expect(masterCountsLapsedAt).toBeGreaterThanOrEqual(nodeLeaseEndsAt);
    },
  );
});

describe('takeoverGrant', () => {
  it('uses the longer of the lease and the lease before the last change', () => {
    const params = { ...DEFAULT_HA_PARAMS, leaseMs: 8_000, fenceMarginMs: 700 };
    expect(takeoverGrant({ ...params, previousLeaseMs: 20_000 })).toEqual({
      leaseMs: 20_000,
      fenceMarginMs: 700,
    });
    expect(takeoverGrant({ ...params, previousLeaseMs: 3_000 })).toEqual({
      leaseMs: 8_000,
      fenceMarginMs: 700,
    });
  });
});
