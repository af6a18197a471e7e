import { describe, expect, it } from 'vitest';
import { CorralError } from '../../../src/common/errors.js';
import type { NodeId } from '../../../src/common/ids.js';
import type { FrameStream, Transport } from '../../../src/peer/transport.js';
import {
  drain,
  failure,
  framesOf,
  type Harness,
  outcome,
  type Pair,
  shout,
  type TransportCluster,
  text,
  wideShout,
} from './harness.js';

/** Serves shout by sending back every frame upper-cased, then ending its side when the opener ends theirs. */
function serveShout(node: Transport): void {
  node.handleStream(shout, (stream) => {
    void stream
      .send(
        (async function* () {
          for await (const frame of stream.frames) yield text(new TextDecoder().decode(frame).toUpperCase());
        })(),
      )
      .catch(() => undefined);
  });
}

/** Serves shout by keeping each stream for the case to use; returns them with their openers. */
function keepStreams(node: Transport): { stream: FrameStream; from: NodeId }[] {
  const accepted: { stream: FrameStream; from: NodeId }[] = [];
  node.handleStream(shout, (stream, from) => accepted.push({ stream, from }));
  return accepted;
}

async function accept(cluster: TransportCluster, accepted: { stream: FrameStream }[]): Promise<FrameStream> {
  return (await cluster.until(() => accepted[0], 'the stream to reach its handler')).stream;
}

export function streamTests(harness: Harness): void {
  describe('streams', () => {
    it('carries frames both ways in order, and each side ends its own', async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      serveShout(b);
      const stream = (await outcome(cluster, a.openStream(b.self, shout))).value!;
      const words = Array.from({ length: 30 }, (_, i) => `word ${i}`);
      const sending = outcome(cluster, stream.send(framesOf(...words)));
      const heard = await drain(cluster, stream.frames);
      expect(heard).toEqual({ frames: words.map((word) => word.toUpperCase()) });
      expect((await sending).error).toBeUndefined();
    });

    it("tells the handler who opened it, and an abort fails the peer's frames with closed", async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      const accepted = keepStreams(b);
      const stream = (await outcome(cluster, a.openStream(b.self, shout))).value!;
      const remote = await accept(cluster, accepted);
      expect(accepted[0]!.from).toBe(a.self);
      const reading = drain(cluster, remote.frames);
      stream.abort(new CorralError('aborted', 'the operator detached'));
      const local = await drain(cluster, stream.frames);
      expect([local.error?.code, local.error?.message]).toEqual(['aborted', 'the operator detached']);
      expect((await reading).error?.code).toBe('closed');
      expect((await failure(cluster, remote.send(framesOf('too late')))).code).toBe('closed');
    });

    it('refuses a frame over the cap at the sender with frame_too_large, breaking the stream', async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      const accepted = keepStreams(b);
      const stream = (await outcome(cluster, a.openStream(b.self, shout))).value!;
      const sending = stream.send(framesOf('small', new Uint8Array(2_000)));
      expect((await failure(cluster, sending)).code).toBe('frame_too_large');
      const remote = await drain(cluster, (await accept(cluster, accepted)).frames);
      // A reset may overtake the frames before it: libp2p drops what the reader had not taken yet.
      expect(['small'].slice(0, remote.frames.length)).toEqual(remote.frames);
      expect(remote.error?.code).toBe('closed');
    });

    it("refuses a frame over the receiver's cap with frame_too_large, breaking the stream", async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      const accepted = keepStreams(b);
      const stream = (await outcome(cluster, a.openStream(b.self, wideShout))).value!;
      void stream.send(framesOf('small', new Uint8Array(2_000), 'after')).catch(() => undefined);
      const remote = await drain(cluster, (await accept(cluster, accepted)).frames);
      expect(remote.frames).toEqual(['small']);
      expect(remote.error?.code).toBe('frame_too_large');
      expect((await drain(cluster, stream.frames)).error?.code).toBe('closed');
    });

    it('refuses to open a protocol the peer does not serve with unknown_protocol', async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      expect((await failure(cluster, a.openStream(b.self, shout))).code).toBe('unknown_protocol');
    });

    it("gives up opening when the caller's signal aborts, with aborted", async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      serveShout(b);
      const opening = a.openStream(b.self, shout, { signal: AbortSignal.abort() });
      expect((await failure(cluster, opening)).code).toBe('aborted');
    });
  });
}
