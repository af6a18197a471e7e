import { describe, expect, it } from 'vitest';
import { candidatesToReplace, type ObservedNode } from '../../src/master/raft-membership.js';
import { configOf, nodeRecord } from '../helpers/config.js';

const GRACE_MS = 60_000;
const self = nodeRecord(1).id;

/** Node 1 (this master) and 2–3 are candidates; 4 is a regular node that could take a seat. */
function config(fourChanges = {}) {
  return configOf({
    nodes: [
      nodeRecord(1),
      nodeRecord(2),
      nodeRecord(3),
      nodeRecord(4, { masterCandidate: false, ...fourChanges }),
    ],
    master: self,
    candidateDeadGraceMs: GRACE_MS,
  });
}

function observed(states: Record<string, ObservedNode>) {
  return (id: string) => states[id];
}

const alive = { state: 'alive', stateAgeMs: 1_000 } as const;

describe('replacing dead master candidates by what gossip observes', () => {
  it('replaces a candidate gossip has held dead past the grace period, when a live node can take its seat', () => {
    const seen = observed({ peer2: { state: 'dead', stateAgeMs: GRACE_MS + 1 }, peer3: alive, peer4: alive });
    expect(candidatesToReplace(config(), seen, self).map((node) => node.name)).toEqual(['node2']);
  });

  it('waits out the grace period, and never replaces a suspect (it may still refute)', () => {
    expect(
      candidatesToReplace(
        config(),
        observed({ peer2: { state: 'dead', stateAgeMs: GRACE_MS }, peer4: alive }),
        self,
      ),
    ).toEqual([]);
    expect(
      candidatesToReplace(
        config(),
        observed({ peer2: { state: 'suspect', stateAgeMs: 10 * GRACE_MS }, peer4: alive }),
        self,
      ),
    ).toEqual([]);
  });

  it('counts a node that left like a dead one', () => {
    const seen = observed({ peer3: { state: 'left', stateAgeMs: GRACE_MS + 1 }, peer4: alive });
    expect(candidatesToReplace(config(), seen, self).map((node) => node.name)).toEqual(['node3']);
  });

  it('keeps a dead candidate when no live node could replace it, so the voter set does not shrink', () => {
    const dead = { state: 'dead', stateAgeMs: GRACE_MS + 1 } as const;
    expect(candidatesToReplace(config(), observed({ peer2: dead, peer4: dead }), self)).toEqual([]);
    expect(
      candidatesToReplace(
        config(),
        observed({ peer2: dead, peer4: { state: 'suspect', stateAgeMs: 1 } }),
        self,
      ),
    ).toEqual([]);
    expect(
      candidatesToReplace(config({ drained: true }), observed({ peer2: dead, peer4: alive }), self),
    ).toEqual([]);
    // One seat to fill: only the first of two dead candidates goes.
    expect(
      candidatesToReplace(config(), observed({ peer2: dead, peer3: dead, peer4: alive }), self).map(
        (n) => n.name,
      ),
    ).toEqual(['node2']);
  });

  it('never replaces itself, nor a node gossip does not know yet', () => {
    const seen = observed({ peer1: { state: 'dead', stateAgeMs: 10 * GRACE_MS }, peer4: alive });
    expect(candidatesToReplace(config(), seen, self)).toEqual([]);
  });
});
