import { describe, expect, it } from 'vitest';
import { DEFAULT_HA_PARAMS, type HaParams, lapseAfterMs } from '../../src/cluster/lease.js';
import { asNodeId } from '../../src/common/ids.js';
import { LeaseTable } from '../../src/master/leases.js';

const ha: HaParams = {
  ...DEFAULT_HA_PARAMS,
  leaseMs: 8_000,
  previousLeaseMs: 12_000,
  fenceMarginMs: 1_000,
  clockDriftPpm: 10_000,
};
const grant = { leaseMs: 8_000, fenceMarginMs: 1_000 };
const node1 = asNodeId('peer1');
const node2 = asNodeId('peer2');
const takeoverAt = 50_000;
/** Every node counts as granted at the takeover, with the longer of the two lease lengths. */
const takeoverLapse = takeoverAt + lapseAfterMs({ leaseMs: 12_000, fenceMarginMs: 1_000 }, 10_000);

describe('LeaseTable', () => {
  it('counts a node never granted as lapsing at takeover + lapseAfter', () => {
    const table = new LeaseTable(takeoverAt, () => ha);
    expect(table.lapsesAtMs(node1)).toBe(takeoverLapse);
  });

  it('pushes the lapse of the node granted, and of no other', () => {
    const table = new LeaseTable(takeoverAt, () => ha);
    const grantedAt = takeoverLapse - 100;
    table.granted(node1, grantedAt, grant);
    const lapse = grantedAt + lapseAfterMs(grant, ha.clockDriftPpm);
    expect(table.lapsesAtMs(node1)).toBe(lapse);
    expect(table.lapsesAtMs(node2)).toBe(takeoverLapse);
  });

  it('never lets an older grant, or a grant before the takeover lapse, pull the lapse back', () => {
    const table = new LeaseTable(takeoverAt, () => ha);
    table.granted(node1, takeoverLapse, grant);
    const lapse = table.lapsesAtMs(node1);
    // An answer to an older request recorded late.
    table.granted(node1, takeoverLapse - 2_000, grant);
    expect(table.lapsesAtMs(node1)).toBe(lapse);
    // A grant right after the takeover lapses earlier than the takeover's count: that one holds.
    const early = new LeaseTable(takeoverAt, () => ha);
    early.granted(node2, takeoverAt + 1, grant);
    expect(early.lapsesAtMs(node2)).toBe(takeoverLapse);
  });

  it('reads the drift bound of the configuration at each grant', () => {
    let current = ha;
    const table = new LeaseTable(0, () => current);
    current = { ...ha, clockDriftPpm: 100_000 };
    table.granted(node1, 100_000, grant);
    expect(table.lapsesAtMs(node1)).toBe(100_000 + lapseAfterMs(grant, 100_000));
  });
});
