import { describe, expect, it } from 'vitest';
import { simRaftConfig } from '../../simulations/world.js';
import { asNodeId } from '../../src/common/ids.js';
import { seededRng } from '../../src/common/random.js';
import { checkRaftConfig, defaultRaftConfig, type RaftConfig } from '../../src/consensus/config.js';
import { RaftNode } from '../../src/consensus/raft.js';
import { testConfig } from './harness.js';

const refusal = (changes: Partial<RaftConfig>) => () => checkRaftConfig({ ...defaultRaftConfig, ...changes });

describe('checkRaftConfig', () => {
  it('takes the default, test and simulator settings', () => {
    for (const config of [defaultRaftConfig, testConfig, simRaftConfig])
      expect(checkRaftConfig(config)).toBe(config);
  });

  it('refuses a heartbeat that is not well below the election timeout, in one line naming both knobs', () => {
    expect(refusal({ electionTicks: 10, heartbeatTicks: 5 })).toThrow(
      expect.objectContaining({
        code: 'bad_request',
        message: expect.stringMatching(
          /^bad raft setting: heartbeatTicks \(5\) must be at most electionTicks \/ 4 \(2\.5\)[^\n]*$/,
        ),
      }),
    );
    expect(refusal({ electionTicks: 10, heartbeatTicks: 3 })).toThrow(/heartbeatTicks/);
    expect(refusal({ electionTicks: 8, heartbeatTicks: 2 })()).toMatchObject({ heartbeatTicks: 2 });
  });

  it('refuses learners heartbeated more often than voters', () => {
    expect(refusal({ heartbeatTicks: 2, learnerHeartbeatTicks: 1 })).toThrow(
      /^bad raft setting: learnerHeartbeatTicks \(1\) must be at least heartbeatTicks \(2\)$/,
    );
    expect(refusal({ heartbeatTicks: 2, learnerHeartbeatTicks: 2 })()).toMatchObject({
      learnerHeartbeatTicks: 2,
    });
  });

  it('refuses limits that are not whole numbers of 1 or more, and a negative promotion lag', () => {
    expect(refusal({ electionTicks: 0 })).toThrow(/whole numbers, 1 or more/);
    expect(refusal({ maxInflightAppends: 0 })).toThrow(/whole numbers, 1 or more/);
    expect(refusal({ compactAfterEntries: 2.5 })).toThrow(/whole numbers, 1 or more/);
    expect(refusal({ promoteLagEntries: -1 })).toThrow(/promoteLagEntries/);
    expect(refusal({ promoteLagEntries: 0 })()).toMatchObject({ promoteLagEntries: 0 });
  });

  it('refuses batches and snapshot chunks that could not fit in one raft frame', () => {
    expect(refusal({ maxBytesPerAppend: 2 * 1024 * 1024 })).toThrow(/fit in one raft frame/);
    expect(refusal({ snapshotChunkBytes: 4 * 1024 * 1024 })).toThrow(/fit in one raft frame/);
  });

  it('is applied by every Raft node', () => {
    expect(
      () =>
        new RaftNode({
          id: asNodeId('n1'),
          config: { ...defaultRaftConfig, heartbeatTicks: 10 },
          rng: seededRng(1),
          persisted: { hardState: { term: 0, vote: undefined, commit: 0 }, snapshot: undefined, entries: [] },
        }),
    ).toThrow(/bad raft setting/);
  });
});
