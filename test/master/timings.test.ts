import { describe, expect, it } from 'vitest';
import { defaultRaftConfig } from '../../src/consensus/config.js';
import { type ControlTimings, checkControlTimings, defaultControlTimings } from '../../src/master/timings.js';

const refusal = (changes: Partial<ControlTimings>) => () =>
  checkControlTimings({ ...defaultControlTimings, ...changes });

describe('checkControlTimings', () => {
  it('takes the defaults, and a watcher as quick as the dev cluster runs it', () => {
    expect(checkControlTimings(defaultControlTimings)).toBe(defaultControlTimings);
    expect(refusal({ watcherIntervalMs: 500 })()).toMatchObject({ watcherIntervalMs: 500 });
  });

  it('refuses a commit timeout that an election outlasts, in one line with the figures', () => {
    // Elections take up to 2 × 10 ticks × 100 ms.
    expect(refusal({ commitTimeoutMs: 2_000 })).toThrow(
      expect.objectContaining({
        code: 'bad_request',
        message: expect.stringMatching(
          /^bad control-plane timing: commitTimeoutMs \(2000\) must exceed the longest election, 2 × electionTicks × raftTickMs \(2000\)[^\n]*$/,
        ),
      }),
    );
    expect(refusal({ commitTimeoutMs: 2_001 })()).toMatchObject({ commitTimeoutMs: 2_001 });
    expect(refusal({ raftTickMs: 2_000 })).toThrow(/commitTimeoutMs \(30000\) must exceed .* \(40000\)/);
  });

  it('refuses a forward deadline or a role wait that an election outlasts', () => {
    expect(refusal({ forwardDeadlineMs: 1_500 })).toThrow(/^bad control-plane timing: forwardDeadlineMs/);
    expect(refusal({ roleWaitTimeoutMs: 1_500 })).toThrow(/^bad control-plane timing: roleWaitTimeoutMs/);
    expect(refusal({ forwardRetryMs: 30_000 })).toThrow(
      /forwardRetryMs \(30000\) must be below forwardDeadlineMs/,
    );
  });

  it('refuses a wait for a new term that no heartbeat fits in, or that outlasts the call it holds', () => {
    // Learners hear a heartbeat every 10 ticks of 100 ms.
    expect(refusal({ awaitTermMs: 1_000 })).toThrow(
      /awaitTermMs \(1000\) must exceed a learner's heartbeat, learnerHeartbeatTicks × raftTickMs \(1000\)/,
    );
    expect(refusal({ awaitTermMs: 1_001 })()).toMatchObject({ awaitTermMs: 1_001 });
    expect(refusal({ awaitTermMs: 5_000 })).toThrow(/below nodeCallTimeoutMs \(5000\)/);
    expect(refusal({ nodeCallTimeoutMs: 2_000 })).toThrow(/awaitTermMs \(3000\)/);
  });

  it('refuses a duration that is not a positive number of milliseconds', () => {
    expect(refusal({ watcherIntervalMs: 0 })).toThrow(/watcherIntervalMs must be a positive number/);
    expect(refusal({ kvTimeoutMs: Number.NaN })).toThrow(/kvTimeoutMs must be a positive number/);
  });

  it('checks the Raft knobs it carries', () => {
    expect(refusal({ raft: { ...defaultRaftConfig, heartbeatTicks: 5 } })).toThrow(
      /^bad raft setting: heartbeatTicks/,
    );
  });
});
