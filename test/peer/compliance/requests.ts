import { describe, expect, it } from 'vitest';
import { CorralError } from '../../../src/common/errors.js';
import { requestProtocol } from '../../../src/peer/protocol.js';
import {
  echo,
  echoBack,
  failure,
  type Harness,
  looseEcho,
  outcome,
  type Pair,
  type TransportCluster,
  type Trio,
  wideEcho,
} from './harness.js';

/** A protocol whose handler waits until its own signal aborts, and says why it did. */
const hang = requestProtocol({
  name: 'compliance-hang',
  major: 1,
  callers: 'member',
  request: echo.request,
  response: echo.response,
  timeoutMs: 300,
  maxFrameBytes: 1024,
});

/** Serves `hang` on the node; returns the codes its handlers' signals aborted with, and the calls begun. */
function serveHang(cluster: TransportCluster, index: number): { begun: number; aborted: string[] } {
  const seen = { begun: 0, aborted: [] as string[] };
  cluster.nodes[index]!.handle(hang, (_request, { signal }) => {
    seen.begun++;
    return new Promise((_resolve, reject) =>
      signal.addEventListener('abort', () => {
        seen.aborted.push((signal.reason as CorralError).code);
        reject(signal.reason);
      }),
    );
  });
  return seen;
}

export function requestTests(harness: Harness): void {
  describe('requests', () => {
    it('carries a request and its answer, telling the handler who called', async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      echoBack(b);
      expect((await outcome(cluster, a.request(b.self, echo, { text: 'hi' }))).value).toEqual({
        text: 'hi',
        from: a.self,
      });
    });

    it('carries a thrown CorralError back with its code and message', async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      b.handle(echo, async () => {
        throw new CorralError('conflict', 'name taken; pick another');
      });
      const error = await failure(cluster, a.request(b.self, echo, { text: 'hi' }));
      expect(error).toBeInstanceOf(CorralError);
      expect([error.code, error.message]).toEqual(['conflict', 'name taken; pick another']);
    });

    it('carries any other exception back as internal, with its message, and logs it', async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      b.handle(echo, async () => {
        throw new Error('disk on fire');
      });
      const error = await failure(cluster, a.request(b.self, echo, { text: 'hi' }));
      expect([error.code, error.message]).toEqual(['internal', 'disk on fire']);
      expect(harness.lines.filter((line) => line.level === 'error').map((line) => line.fields.peer)).toEqual([
        a.self,
      ]);
    });

    it('refuses a protocol the peer does not serve with unknown_protocol', async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      const error = await failure(cluster, a.request(b.self, echo, { text: 'hi' }));
      expect(error.code).toBe('unknown_protocol');
      expect(error.message).toContain(echo.id);
    });

    it("gives up at the caller's deadline with timeout, and the next call goes through", async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      serveHang(cluster, 1);
      echoBack(b);
      const error = await failure(cluster, a.request(b.self, hang, { text: 'hi' }, { timeoutMs: 100 }));
      expect(error.code).toBe('timeout');
      expect((await outcome(cluster, a.request(b.self, echo, { text: 'again' }))).value?.text).toBe('again');
    });

    it("aborts the handler's signal at the protocol's deadline", async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      const served = serveHang(cluster, 1);
      const error = await failure(cluster, a.request(b.self, hang, { text: 'hi' }, { timeoutMs: 5_000 }));
      expect(served.aborted).toEqual(['timeout']);
      // The handler's own deadline ended it: the caller hears the handler's error, not its own timeout.
      expect(error.code).toBe('timeout');
      expect(error.message).not.toContain('did not answer');
    });

    it("stops waiting when the caller's signal aborts, with aborted", async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      const served = serveHang(cluster, 1);
      const stop = new AbortController();
      const call = outcome(cluster, a.request(b.self, hang, { text: 'hi' }, { signal: stop.signal }));
      await cluster.until(() => served.begun || undefined, 'the request to reach its handler');
      stop.abort();
      expect((await call).error?.code).toBe('aborted');

      const already = AbortSignal.abort();
      const error = await failure(cluster, a.request(b.self, hang, { text: 'hi' }, { signal: already }));
      expect(error.code).toBe('aborted');
      expect(served.begun).toBe(1);
    });

    it('ends pending calls with closed when the caller stops, and aborts handlers when the server stops', async () => {
      const cluster = await harness.start(3);
      const [a, b, c] = cluster.nodes as Trio;
      const onB = serveHang(cluster, 1);
      const onC = serveHang(cluster, 2);
      const fromA = outcome(cluster, a.request(b.self, hang, { text: 'hi' }, { timeoutMs: 5_000 }));
      const toC = outcome(cluster, b.request(c.self, hang, { text: 'hi' }, { timeoutMs: 5_000 }));
      await cluster.until(
        () => (onB.begun && onC.begun) || undefined,
        'both requests to reach their handlers',
      );
      await a.stop();
      expect((await fromA).error?.code).toBe('closed');
      await c.stop();
      await cluster.until(() => onC.aborted[0], "the stopped server's handler to be aborted");
      expect(onC.aborted).toEqual(['closed']);
      expect((await toC).error?.code).toMatch(/^(closed|unreachable)$/);
    });

    it('fails with unreachable, long before its deadline, once the peer has stopped', async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      echoBack(b);
      expect((await outcome(cluster, a.request(b.self, echo, { text: 'hi' }))).value?.text).toBe('hi');
      await b.stop();
      const error = await failure(cluster, a.request(b.self, echo, { text: 'hi' }, { timeoutMs: 60_000 }));
      expect(error.code).toBe('unreachable');
      expect((await failure(cluster, a.ping(b.self, { timeoutMs: 60_000 }))).code).toBe('unreachable');
    });

    it("refuses a request over the protocol's cap at the caller with frame_too_large", async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      echoBack(b);
      const error = await failure(cluster, a.request(b.self, echo, { text: 'x'.repeat(2_000) }));
      expect(error.code).toBe('frame_too_large');
      expect((await outcome(cluster, a.request(b.self, echo, { text: 'small' }))).value?.text).toBe('small');
    });

    it("refuses a request over the server's cap with frame_too_large", async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      let calls = 0;
      b.handle(echo, async ({ text }, { from }) => {
        calls++;
        return { text, from };
      });
      const error = await failure(cluster, a.request(b.self, wideEcho, { text: 'x'.repeat(2_000) }));
      expect(error.code).toBe('frame_too_large');
      expect(calls).toBe(0);
      expect((await outcome(cluster, a.request(b.self, echo, { text: 'small' }))).value?.text).toBe('small');
    });

    it("refuses an answer over the protocol's cap with frame_too_large, and keeps serving", async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      b.handle(echo, async ({ text }, { from }) => ({
        text: text === 'big' ? 'x'.repeat(2_000) : text,
        from,
      }));
      expect((await failure(cluster, a.request(b.self, echo, { text: 'big' }))).code).toBe('frame_too_large');
      expect((await outcome(cluster, a.request(b.self, echo, { text: 'small' }))).value?.text).toBe('small');
    });

    it("refuses an answer over the caller's cap with frame_too_large", async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      b.handle(wideEcho, async ({ text }, { from }) => ({
        text: text === 'big' ? 'x'.repeat(2_000) : text,
        from,
      }));
      expect((await failure(cluster, a.request(b.self, echo, { text: 'big' }))).code).toBe('frame_too_large');
      expect((await outcome(cluster, a.request(b.self, echo, { text: 'small' }))).value?.text).toBe('small');
    });

    it('refuses a malformed request with bad_frame naming the field, before the handler', async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      let calls = 0;
      b.handle(echo, async ({ text }, { from }) => {
        calls++;
        return { text, from };
      });
      const error = await failure(cluster, a.request(b.self, looseEcho, { text: 42 }));
      expect(error.code).toBe('bad_frame');
      expect(error.message).toMatch(/\btext\b/);
      expect(calls).toBe(0);
    });

    it('refuses a malformed answer with bad_frame naming the field', async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      b.handle(looseEcho, async (_request, { from }) => ({ text: 42, from }));
      const error = await failure(cluster, a.request(b.self, echo, { text: 'hi' }));
      expect(error.code).toBe('bad_frame');
      expect(error.message).toMatch(/\btext\b/);
    });

    it('answers a ping with the round trip in ms', async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      const roundTrip = (await outcome(cluster, a.ping(b.self))).value;
      expect(roundTrip).toBeGreaterThanOrEqual(0);
    });
  });
}
