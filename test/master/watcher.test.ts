import { describe, expect, it } from 'vitest';
import type { AgentCall, AgentResponse } from '../../src/cluster/agent-protocols.js';
import type { ConfigData } from '../../src/cluster/config.js';
import { DEFAULT_BE_PARAMS, type InstanceRecord } from '../../src/cluster/model.js';
import type { Opcode } from '../../src/cluster/opcodes.js';
import type { Clock } from '../../src/common/clock.js';
import { silentLogger } from '../../src/common/log.js';
import { SimClock } from '../../src/common/sim-clock.js';
import type { NodeAgentClient } from '../../src/master/op-context.js';
import { Watcher } from '../../src/master/watcher.js';
import { configOf, instanceRecord, nodeRecord } from '../helpers/config.js';

const intervalMs = 1_000;

const configWith = (adminState: InstanceRecord['adminState']): ConfigData =>
  configOf({
    nodes: [nodeRecord(1)],
    instances: [instanceRecord('web', { adminState, disksActive: adminState === 'up' })],
    cluster: { beParams: DEFAULT_BE_PARAMS },
  });

/** node1 runs no guest. */
const idleNode: AgentResponse<'status'> = {
  instances: [],
  mirrors: [],
  memoryTotalMiB: 4096,
  memoryFreeMiB: 4096,
  memoryInstancesMiB: 0,
  cpus: 2,
  storage: [],
};

/**
 * A watcher pass driven step by step: a simulated clock fires it, the test answers its status call when it
 * chooses, and the pass's end shows as the loop scheduling the next one.
 */
function drivenWatcher(initial: ConfigData) {
  const sim = new SimClock();
  let config = initial;
  let scheduled: (() => void) | undefined;
  const clock: Clock = {
    monotonicMs: () => sim.monotonicMs(),
    wallMs: () => sim.wallMs(),
    setTimer: (delayMs, callback) => {
      const timer = sim.setTimer(delayMs, callback);
      if (delayMs === intervalMs) scheduled?.();
      return timer;
    },
  };
  const asked: ((answer: AgentResponse<'status'>) => void)[] = [];
  let onAsked: (() => void) | undefined;
  const agent = {
    call: <K extends AgentCall>(_peer: unknown, call: K) => {
      expect(call).toBe('status');
      return new Promise<AgentResponse<K>>((resolve) => {
        asked.push(resolve as (answer: AgentResponse<'status'>) => void);
        onAsked?.();
      });
    },
  } as unknown as NodeAgentClient;
  const submitted: Opcode[][] = [];
  const watcher = new Watcher({
    // Read at each access, as ClusterState's getter is.
    state: {
      get config() {
        return config;
      },
      jobs: () => [],
    },
    agent,
    clock,
    log: silentLogger,
    timings: { watcherIntervalMs: intervalMs, nodeCallTimeoutMs: 5 * intervalMs },
    submit: async (_key, ops) => {
      submitted.push(ops);
    },
  });
  return {
    submitted,
    setConfig: (next: ConfigData) => {
      config = next;
    },
    /** Starts the loop and fires its first pass; resolves once the pass has asked node1 for its status. */
    async firePass(): Promise<(answer: AgentResponse<'status'>) => void> {
      const wasAsked = new Promise<void>((resolve) => {
        onAsked = resolve;
      });
      watcher.start();
      sim.advanceBy(intervalMs);
      await wasAsked;
      return asked.shift()!;
    },
    /** Answers, and resolves once the pass has ended (the loop has scheduled the next). */
    async finish(answer: (status: AgentResponse<'status'>) => void): Promise<void> {
      const ended = new Promise<void>((resolve) => {
        scheduled = resolve;
      });
      answer(idleNode);
      await ended;
      watcher.stop();
    },
  };
}

describe('the watcher', () => {
  it('restarts an instance that should run and does not', async () => {
    const driven = drivenWatcher(configWith('up'));
    await driven.finish(await driven.firePass());
    expect(driven.submitted).toEqual([[{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'web' }]]);
  });

  it('leaves alone an instance shut down while it asked the nodes: it judges by the config after their answers', async () => {
    const driven = drivenWatcher(configWith('up'));
    const answer = await driven.firePass();
    // A shutdown job stops the guest and ends (so it is no longer busy) before node1's answer arrives.
    driven.setConfig(configWith('down'));
    await driven.finish(answer);
    expect(driven.submitted).toEqual([]);
  });
});
