import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { lpStream } from 'it-length-prefixed-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { asNodeId, type NodeId } from '../../src/common/ids.js';
import { seededRng } from '../../src/common/random.js';
import { echoProtocol } from '../../src/daemon/diagnostics.js';
import type { DaemonProcess } from '../../src/daemon/local-cluster.js';
import { startLocalCluster } from '../../src/daemon/local-cluster.js';
import { decodeFrame, encodeFrame } from '../../src/peer/codec.js';
import { replySchema } from '../../src/peer/envelope.js';
import { requestProtocol } from '../../src/peer/protocol.js';
import { startTestPeer, waitForLog } from '../helpers/test-peer.js';

/** Real daemons on loopback, fed what a broken or hostile peer would send. */
describe('a daemon facing bad input', () => {
  let baseDir: string;
  let daemons: DaemonProcess[];
  let target: DaemonProcess;
  let targetId: NodeId;
  let targetAddress: string;
  let client: Awaited<ReturnType<typeof startTestPeer>>;

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-bad-input-'));
    daemons = await startLocalCluster({ baseDir, nodes: 2, firstHost: 20, nodeFlags: ['--expose-gc'] });
    target = daemons[0]!;
    const status = await target.status();
    targetId = asNodeId(status.nodeId);
    targetAddress = status.addresses[0]!;
    client = await startTestPeer(
      async (self) => (await target.call({ op: 'token-create', peer: self, lifetimeMs: 600_000 })).token,
    );
    await client.host.dial(multiaddr(targetAddress));
  });

  afterAll(async () => {
    await client?.transport.stop();
    await Promise.all((daemons ?? []).map((daemon) => daemon.stop()));
    await rm(baseDir, { recursive: true, force: true });
  });

  /** The daemon still answers its members and the CLI. */
  async function stillServing(): Promise<void> {
    const other = daemons[1]!;
    const echo = await other.call({
      op: 'debug-echo',
      peer: targetId,
      count: 5,
      concurrency: 1,
      sizeBytes: 1024,
    });
    expect(echo.count).toBe(5);
    expect(target.isRunning()).toBe(true);
  }

  /** Sends raw bytes on a fresh echo stream and returns the daemon's reply frame, if any. */
  async function rawExchange(bytes: Uint8Array, closeWrite: boolean) {
    const stream = await client.host.dialProtocol(peerIdFromString(targetId), echoProtocol.id);
    const lp = lpStream(stream, { maxDataLength: 4096 });
    const bytesStream = lp.unwrap();
    await new Promise<void>((resolve) => {
      void bytesStream
        .sink(
          (async function* () {
            yield bytes;
            if (!closeWrite) await new Promise(() => undefined);
          })(),
        )
        .catch(() => undefined);
      resolve();
    });
    const reply = await lpStream(bytesStream, { maxDataLength: 4096 }).read({
      signal: AbortSignal.timeout(15_000),
    });
    return decodeFrame(reply.subarray(), replySchema, 4096);
  }

  it('answers a well-formed request', async () => {
    const answer = await client.transport.request(targetId, echoProtocol, {
      payload: new Uint8Array([1, 2, 3]),
    });
    expect([...answer.payload]).toEqual([1, 2, 3]);
  });

  it('closes a raw connection that sends random bytes', async () => {
    const rng = seededRng(3);
    const [host, port] = [targetAddress.split('/')[2]!, Number(targetAddress.split('/')[4])];
    for (let i = 0; i < 20; i++) {
      const garbage = Buffer.from(Array.from({ length: rng.between(1, 4096) }, () => rng.int(256)));
      await new Promise<void>((resolve) => {
        const socket = connect({ host, port }, () => socket.write(garbage));
        socket.on('close', () => resolve());
        socket.on('error', () => undefined);
        socket.setTimeout(15_000, () => socket.destroy());
      });
    }
    await stillServing();
  });

  it('refuses a truncated length prefix with a typed error', async () => {
    const reply = await rawExchange(new Uint8Array([0xff, 0xff]), true);
    expect(reply).toMatchObject({ ok: false, error: { code: 'bad_frame' } });
    await waitForLog(
      target.logPath,
      /"reason":"(stream ended|malformed length)[^"]*","msg":"refused a request"/,
      'the refusal',
    );
    await stillServing();
  });

  it('refuses a frame over the cap before reading it', async () => {
    // A length prefix announcing 64 MiB (varint 2^26), followed by a little of it.
    const prefix = new Uint8Array([0x80, 0x80, 0x80, 0x20]);
    const reply = await rawExchange(new Uint8Array([...prefix, 1, 2, 3]), false);
    expect(reply).toMatchObject({ ok: false, error: { code: 'frame_too_large' } });
    await waitForLog(target.logPath, /"code":"frame_too_large".*"msg":"refused a request"/, 'the refusal');
    await stillServing();
  });

  it('refuses valid CBOR of the wrong shape, naming the field', async () => {
    const wrongShape = requestProtocol({
      name: 'echo',
      major: 1,
      request: z.object({ payload: z.string() }),
      response: z.unknown(),
    });
    await expect(
      client.transport.request(targetId, wrongShape, { payload: 'not bytes' }),
    ).rejects.toMatchObject({
      code: 'bad_frame',
      message: expect.stringMatching(/wrong shape at payload/),
    });
    const frame = encodeFrame([1, 2, 3], 64);
    const framed = new Uint8Array([frame.length, ...frame]);
    expect(await rawExchange(framed, true)).toMatchObject({ ok: false, error: { code: 'bad_frame' } });
    await stillServing();
  });

  it('refuses an unknown protocol and keeps serving', async () => {
    const unknown = requestProtocol({
      name: 'no-such-thing',
      major: 1,
      request: z.object({}),
      response: z.object({}),
    });
    await expect(client.transport.request(targetId, unknown, {})).rejects.toThrow();
    await stillServing();
  });

  it('refuses a peer without a token at the gate, with the reason in its log', async () => {
    const stranger = await startTestPeer();
    try {
      await expect(stranger.host.dial(multiaddr(targetAddress))).rejects.toThrow();
      expect(stranger.host.getConnections().length).toBe(0);
      await waitForLog(
        target.logPath,
        new RegExp(`${stranger.transport.self}.*not a cluster member and showed no join token`),
        'the gate refusal in the log',
      );
    } finally {
      await stranger.transport.stop();
    }
    await stillServing();
  });

  it('survives 1,000 connections opened and dropped', async () => {
    const [host, port] = [targetAddress.split('/')[2]!, Number(targetAddress.split('/')[4])];
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(
        Array.from(
          { length: 50 },
          () =>
            new Promise<void>((resolve) => {
              const socket = connect({ host, port }, () => socket.destroy());
              socket.on('close', () => resolve());
              socket.on('error', () => resolve());
            }),
        ),
      );
    }
    await stillServing();
  });

  it('keeps its memory flat over 10,000 requests', async () => {
    const payload = new Uint8Array(1024);
    const burst = async (count: number) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next++ < count) await client.transport.request(targetId, echoProtocol, { payload });
        }),
      );
    };
    // Warm-up first: the JIT and libp2p's bounded caches grow once, then stay.
    await burst(5000);
    const before = (await target.call({ op: 'status', collectGarbage: true })).memory.heapUsedBytes;
    await burst(10_000);
    const after = (await target.call({ op: 'status', collectGarbage: true })).memory.heapUsedBytes;
    expect(after - before).toBeLessThan(4 * 1024 * 1024);
  });
});
