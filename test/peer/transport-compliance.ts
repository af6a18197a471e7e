import { afterEach, describe } from 'vitest';
import type { CallerCheck } from '../../src/peer/callers.js';
import { callerTests } from './compliance/callers.js';
import { gossipTests, peerTests } from './compliance/gossip-and-peers.js';
import {
  type Harness,
  type LogLine,
  recordingLog,
  type TransportCluster,
  type TransportFactory,
} from './compliance/harness.js';
import { messageTests } from './compliance/messages.js';
import { requestTests } from './compliance/requests.js';
import { streamTests } from './compliance/streams.js';

const admitsEveryCall: CallerCheck = () => undefined;

/**
 * The behaviour every Transport must show, whatever carries its frames, as js-libp2p's interface-compliance
 * tests hold every transport to one suite. The factory starts a cluster of connected nodes and says how time
 * passes for them (compliance/harness.ts); each case starts its own, so that no case depends on another's
 * handlers, subscriptions or connections.
 */
export function transportCompliance(name: string, factory: TransportFactory): void {
  describe(`${name} transport compliance`, () => {
    const lines: LogLine[] = [];
    let running: TransportCluster | undefined;
    const harness: Harness = {
      lines,
      async start(size, check = admitsEveryCall) {
        lines.length = 0;
        running = await factory({ size, check, log: recordingLog(lines) });
        return running;
      },
    };
    afterEach(async () => {
      await running?.stop();
      running = undefined;
    });
    requestTests(harness);
    messageTests(harness);
    streamTests(harness);
    gossipTests(harness);
    peerTests(harness);
    callerTests(harness);
  });
}
