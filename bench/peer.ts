/**
 * bench:peer — the peer layer between real daemons on loopback.
 * Request/response round trips with 1 KiB payloads (sequential, and 32 in flight) between two daemons, and
 * one-to-all gossip delivery among ten. The last line printed is one JSON object of figures.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isNativeAccelerationEnabled } from 'cbor-x';
import { percentile } from '../src/common/stats.js';
import { waitFor } from '../src/common/wait.js';
import { type DaemonProcess, startLocalCluster } from '../src/daemon/local-cluster.js';

const round = (value: number) => Math.round(value * 1000) / 1000;
const log = (line: string) => process.stderr.write(`${line}\n`);

async function withCluster<T>(
  nodes: number,
  firstHost: number,
  work: (daemons: DaemonProcess[]) => Promise<T>,
): Promise<T> {
  const baseDir = await mkdtemp(join(tmpdir(), 'corral-bench-peer-'));
  const daemons = await startLocalCluster({ baseDir, nodes, firstHost, logLevel: 'warn' });
  try {
    return await work(daemons);
  } finally {
    await Promise.all(daemons.map((daemon) => daemon.stop()));
    await rm(baseDir, { recursive: true, force: true });
  }
}

async function requestResponse() {
  return withCluster(2, 40, async ([a, b]) => {
    const peer = (await b!.status()).nodeId;
    const echo = (count: number, concurrency: number) =>
      a!.call({ op: 'debug-echo', peer, count, concurrency, sizeBytes: 1024 });
    await echo(2000, 32);
    log('request/response: sequential…');
    const sequential = await echo(5000, 1);
    log('request/response: 32 in flight…');
    const concurrent = await echo(30_000, 32);
    return {
      sequential: { p50_ms: sequential.p50Ms, p99_ms: sequential.p99Ms, rps: sequential.requestsPerSecond },
      in_flight_32: { p50_ms: concurrent.p50Ms, p99_ms: concurrent.p99Ms, rps: concurrent.requestsPerSecond },
    };
  });
}

async function gossipDelivery(peers: number, probes: number) {
  return withCluster(peers, 60, async ([publisher, ...receivers]) => {
    // The gossip mesh forms a few heartbeats after the connections: wait until a probe reaches everyone.
    await waitFor(
      async () => {
        await publisher!.call({ op: 'debug-probe', count: 1, intervalMs: 0 });
        const seen = await Promise.all(receivers.map((r) => r.call({ op: 'debug-probe-stats' })));
        return seen.every((s) => s.delaysMs.length > 0) ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'the gossip mesh to reach every peer' },
    );
    // Then a warm-up round, so that JIT compilation and mesh grafting are not what gets measured.
    await publisher!.call({ op: 'debug-probe', count: 50, intervalMs: 20 });
    await Promise.all(receivers.map((r) => r.call({ op: 'debug-probe-stats' })));
    log(`gossip: ${probes} probes to ${receivers.length} peers…`);
    await publisher!.call({ op: 'debug-probe', count: probes, intervalMs: 20 });
    // Collect until every peer has every probe, or for ten seconds: a probe never delivered counts as lost.
    const received = receivers.map(() => new Map<number, number>());
    const deadlineMs = performance.now() + 10_000;
    while (performance.now() < deadlineMs && received.some((delays) => delays.size < probes)) {
      const stats = await Promise.all(receivers.map((r) => r.call({ op: 'debug-probe-stats' })));
      stats.forEach(({ delaysMs }, i) => {
        for (const [seq, ms] of delaysMs) received[i]!.set(seq, ms);
      });
    }
    const delivered = received.reduce((sum, delays) => sum + delays.size, 0);
    // One-to-all time of a probe: when the last peer got it (probes some peer missed are left out).
    const complete = Array.from({ length: probes }, (_, seq) => seq)
      .filter((seq) => received.every((delays) => delays.has(seq)))
      .map((seq) => Math.max(...received.map((delays) => delays.get(seq)!)))
      .sort((x, y) => x - y);
    return {
      peers,
      probes,
      delivered_ratio: round(delivered / (probes * receivers.length)),
      one_to_all_p50_ms: round(percentile(complete, 0.5)),
      one_to_all_p99_ms: round(percentile(complete, 0.99)),
    };
  });
}

const requests = await requestResponse();
const gossip = await gossipDelivery(10, 200);
console.log(
  JSON.stringify({
    node: process.version,
    cbor_native: isNativeAccelerationEnabled,
    payload_bytes: 1024,
    request_response: requests,
    gossip,
  }),
);
