import { z } from 'zod';
import type { NodeId } from '../common/ids.js';
import { type LatencySummary, summarize } from '../common/stats.js';
import { bytesSchema } from '../peer/codec.js';
import { requestProtocol, topic } from '../peer/protocol.js';
import type { Transport } from '../peer/transport.js';

/** Ganeti's gnt-debug in spirit: probes that measure the paths real traffic takes. */
export const MAX_ECHO_BYTES = 1024 * 1024;
const MAX_GOSSIP_SAMPLES = 100_000;

export const echoProtocol = requestProtocol({
  name: 'echo',
  major: 1,
  callers: 'member',
  request: z.object({ payload: bytesSchema }),
  response: z.object({ payload: bytesSchema }),
  maxFrameBytes: MAX_ECHO_BYTES + 64,
});

export const probeTopic = topic({
  name: 'debug-probe',
  major: 1,
  callers: 'member',
  message: z.object({ seq: z.number().int().nonnegative(), sentAtMs: z.number() }),
});

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes on one host. */
export function preciseWallMs(): number {
  return performance.timeOrigin + performance.now();
}

export interface EchoLoad {
  readonly peer: NodeId;
  readonly count: number;
  readonly concurrency: number;
  readonly sizeBytes: number;
}

export interface EchoResult extends LatencySummary {
  readonly elapsedMs: number;
  readonly requestsPerSecond: number;
}

/** Sends `count` echo requests with `concurrency` in flight and reports their round-trip times. */
export async function runEchoLoad(
  transport: Pick<Transport, 'request'>,
  load: EchoLoad,
): Promise<EchoResult> {
  const payload = new Uint8Array(load.sizeBytes).fill(0x5a);
  const samplesMs: number[] = [];
  let issued = 0;
  const started = performance.now();
  const worker = async () => {
    while (issued < load.count) {
      issued++;
      const sent = performance.now();
      await transport.request(load.peer, echoProtocol, { payload });
      samplesMs.push(performance.now() - sent);
    }
  };
  await Promise.all(Array.from({ length: Math.min(load.concurrency, load.count) }, worker));
  const elapsedMs = performance.now() - started;
  return {
    ...summarize(samplesMs),
    elapsedMs: Math.round(elapsedMs),
    requestsPerSecond: Math.round((load.count / elapsedMs) * 1000),
  };
}

/** Records how long each probe took to arrive here, for the delivery benchmark. */
export class ProbeRecorder {
  private delaysMs = new Map<number, number>();

  constructor(transport: Pick<Transport, 'subscribe'>) {
    transport.subscribe(probeTopic, (_from, { seq, sentAtMs }) => {
      if (this.delaysMs.size < MAX_GOSSIP_SAMPLES) this.delaysMs.set(seq, preciseWallMs() - sentAtMs);
    });
  }

  /** The delays seen since the last call, as [probe seq, delay ms] pairs. */
  take(): [number, number][] {
    const samples = [...this.delaysMs.entries()];
    this.delaysMs = new Map();
    return samples;
  }
}
