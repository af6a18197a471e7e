import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { asNodeId, type NodeId } from '../../src/common/ids.js';
import { seededRng } from '../../src/common/random.js';
import { waitFor } from '../../src/common/wait.js';
import { echoProtocol } from '../../src/daemon/diagnostics.js';
import type { DaemonProcess } from '../../src/daemon/local-cluster.js';
import { startLocalCluster } from '../../src/daemon/local-cluster.js';
import { encodeFrame } from '../../src/peer/codec.js';
import { requestProtocol } from '../../src/peer/protocol.js';
import { RPC_PROTOCOL } from '../../src/peer/rpc-channel.js';
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
    // The client holds the second node's key: the echo protocol and the bad frames are a member's to send.
    client = await startTestPeer(undefined, daemons[1]!.options.dataDir);
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

  /** Sends raw bytes on a fresh rpc channel; resolves when the daemon has closed it. */
  async function rawChannel(bytes: Uint8Array, closeWrite: boolean): Promise<void> {
    const stream = await client.host.dialProtocol(peerIdFromString(targetId), RPC_PROTOCOL);
    const closed = (async () => {
      try {
        for await (const _ of stream.source) throw new Error('the daemon answered a malformed frame');
      } catch (error) {
        if ((error as Error).message.startsWith('the daemon answered')) throw error;
      }
    })();
    void stream
      .sink(
        (async function* () {
          yield bytes;
          // Keep our side open unless asked to close it: the daemon must act on the bytes alone.
          if (!closeWrite) await closed.catch(() => undefined);
        })(),
      )
      .catch(() => undefined);
    await waitFor(
      () =>
        Promise.race([
          closed.then(() => true),
          new Promise<undefined>((resolve) => setImmediate(() => resolve(undefined))),
        ]),
      { timeoutMs: 15_000, what: 'the daemon to close the channel' },
    );
  }

  it('answers a well-formed request', async () => {
    const answer = await client.transport.request(targetId, echoProtocol, {
      payload: new Uint8Array([1, 2, 3]),
    });
    expect([...answer.payload]).toEqual([1, 2, 3]);
  });

  it('answers many concurrent first requests from a new peer over one channel', async () => {
    const fresh = await startTestPeer(undefined, daemons[1]!.options.dataDir);
    try {
      await fresh.host.dial(multiaddr(targetAddress));
      const payload = new Uint8Array([7]);
      const answers = await Promise.all(
        Array.from({ length: 64 }, () => fresh.transport.request(targetId, echoProtocol, { payload })),
      );
      expect(answers.every((answer) => answer.payload[0] === 7)).toBe(true);
    } finally {
      await fresh.transport.stop();
    }
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

  it('closes a channel that ends in the middle of a length prefix', async () => {
    await rawChannel(new Uint8Array([0xff, 0xff]), true);
    await waitForLog(target.logPath, /"code":"bad_frame".*"msg":"closed an rpc channel"/, 'the reason');
    await stillServing();
  });

  it('closes a channel whose frame is over the cap, before reading it', async () => {
    // A length prefix announcing 64 MiB (varint 2^26), followed by a little of it.
    const prefix = new Uint8Array([0x80, 0x80, 0x80, 0x20]);
    await rawChannel(new Uint8Array([...prefix, 1, 2, 3]), false);
    await waitForLog(target.logPath, /"code":"frame_too_large".*"msg":"closed an rpc channel"/, 'the reason');
    await stillServing();
  });

  it('refuses valid CBOR of the wrong shape, naming the field', async () => {
    const wrongShape = requestProtocol({
      name: 'echo',
      major: 1,
      callers: 'member',
      request: z.object({ payload: z.string() }),
      response: z.unknown(),
    });
    await expect(
      client.transport.request(targetId, wrongShape, { payload: 'not bytes' }),
    ).rejects.toMatchObject({
      code: 'bad_frame',
      message: expect.stringMatching(/wrong shape at payload/),
    });
    await waitForLog(
      target.logPath,
      /"reason":"frame of the wrong shape at payload.*"msg":"refused a request"/,
      'the reason',
    );
    const frame = encodeFrame([1, 2, 3], 64);
    await rawChannel(new Uint8Array([frame.length, ...frame]), false);
    await waitForLog(
      target.logPath,
      /"reason":"frame of the wrong shape.*"msg":"closed an rpc channel"/,
      'the reason',
    );
    await stillServing();
  });

  it('refuses an unknown protocol and keeps serving', async () => {
    const unknown = requestProtocol({
      name: 'no-such-thing',
      major: 1,
      callers: 'member',
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
