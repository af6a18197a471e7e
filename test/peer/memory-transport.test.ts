import { pushable } from 'it-pushable';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { CorralError } from '../../src/common/errors.js';
import { asNodeId } from '../../src/common/ids.js';
import { InvariantError, invariant } from '../../src/common/invariant.js';
import { seededRng } from '../../src/common/random.js';
import { SimClock } from '../../src/common/sim-clock.js';
import { MemoryHub, type Packet } from '../../src/peer/memory-transport.js';
import { messageProtocol, requestProtocol, streamProtocol, topic } from '../../src/peer/protocol.js';
import { SimNetwork } from '../../src/peer/sim-network.js';
import type { FrameStream } from '../../src/peer/transport.js';

const echo = requestProtocol({
  name: 'test-echo',
  major: 1,
  callers: 'member',
  request: z.object({ text: z.string() }),
  response: z.object({ text: z.string() }),
  timeoutMs: 500,
  maxFrameBytes: 256,
});
const note = messageProtocol({
  name: 'test-note',
  major: 1,
  callers: 'member',
  message: z.object({ seq: z.number() }),
});
const shout = streamProtocol({ name: 'test-shout', major: 1, callers: 'member', maxFrameBytes: 1024 });
const news = topic({
  name: 'test-news',
  major: 1,
  callers: 'member',
  message: z.object({ headline: z.string() }),
});

const a = asNodeId('node-a');
const b = asNodeId('node-b');
const c = asNodeId('node-c');

function cluster(seed: number, lossRate = 0) {
  const clock = new SimClock();
  const network = new SimNetwork<Packet>(clock, seededRng(seed), {
    lossRate,
    duplicateRate: 0,
    delayMinMs: 1,
    delayMaxMs: 20,
  });
  const hub = new MemoryHub(network);
  return { clock, network, hub, nodes: [a, b, c].map((id) => hub.join(id)) };
}

/** Lets promise callbacks run between simulated timer firings. */
async function run(clock: SimClock, untilMs: number): Promise<void> {
  for (;;) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    const due = clock.nextDueMs();
    if (due === undefined || due > untilMs) break;
    clock.step();
  }
  clock.advanceTo(untilMs);
}

async function settle<T>(clock: SimClock, promise: Promise<T>): Promise<{ value?: T; error?: CorralError }> {
  const outcome: { value?: T; error?: CorralError } = {};
  let done = false;
  promise.then(
    (value) => {
      outcome.value = value;
      done = true;
    },
    (error: CorralError) => {
      outcome.error = error;
      done = true;
    },
  );
  await run(clock, clock.monotonicMs() + 10_000);
  expect(done).toBe(true);
  return outcome;
}

/**
 * What only the simulator's transport does: faults, partitions, reordering and crashes on a seeded network.
 * What it shares with libp2p's is held to the compliance suite (transport-compliance-memory.test.ts).
 */
describe('in-memory transport', () => {
  it('times out across a partition and recovers after healing', async () => {
    const { clock, network, nodes } = cluster(3);
    const [na, nb] = nodes as [ReturnType<MemoryHub['join']>, ReturnType<MemoryHub['join']>];
    nb.handle(echo, async (request) => request);
    network.partition([a], [b, c]);
    expect((await settle(clock, na.request(b, echo, { text: 'hi' }))).error?.code).toBe('timeout');
    expect(na.connectedPeers()).toEqual([]);
    network.heal();
    expect((await settle(clock, na.request(b, echo, { text: 'hi' }))).value).toEqual({ text: 'hi' });
    expect(na.connectedPeers()).toEqual([b, c]);
  });

  it('delivers one-way messages and gossip to subscribers only, identically for one seed', async () => {
    const trace = async (seed: number) => {
      const { clock, nodes } = cluster(seed, 0.2);
      const seen: string[] = [];
      for (const node of nodes.slice(1)) {
        node.onMessage(note, (from, { seq }) => seen.push(`${node.self}<-${from} note ${seq}`));
      }
      nodes[1]!.subscribe(news, (from, { headline }) => seen.push(`${nodes[1]!.self}<-${from} ${headline}`));
      for (let seq = 0; seq < 20; seq++) {
        nodes[0]!.send(b, note, { seq });
        nodes[0]!.send(c, note, { seq });
      }
      await nodes[0]!.publish(news, { headline: 'elected' });
      await run(clock, 1000);
      return seen;
    };
    const first = await trace(11);
    expect(first.length).toBeGreaterThan(20);
    expect(first.length).toBeLessThan(41);
    expect(first.some((line) => line.startsWith('node-c') && line.includes('elected'))).toBe(false);
    expect(await trace(11)).toEqual(first);
    expect(await trace(12)).not.toEqual(first);
  });

  it('carries a stream of frames both ways, in order over a network that reorders them, to its end', async () => {
    const { clock, nodes } = cluster(7);
    const [na, nb] = nodes as [ReturnType<MemoryHub['join']>, ReturnType<MemoryHub['join']>];
    nb.handleStream(shout, (stream) => {
      void stream.send(
        (async function* () {
          for await (const frame of stream.frames)
            yield new TextEncoder().encode(new TextDecoder().decode(frame).toUpperCase());
        })(),
      );
    });
    const words = Array.from({ length: 50 }, (_, i) => `word${i}`);
    const stream = (await settle(clock, na.openStream(b, shout))).value!;
    void stream.send(
      (async function* () {
        for (const word of words) yield new TextEncoder().encode(word);
      })(),
    );
    const heard: string[] = [];
    const reading = (async () => {
      for await (const frame of stream.frames) heard.push(new TextDecoder().decode(frame));
    })();
    await settle(clock, reading);
    expect(heard).toEqual(words.map((w) => w.toUpperCase()));
  });

  it('fails the calls and streams a node had with a peer the moment that peer goes, not at their deadlines', async () => {
    const { clock, hub, nodes } = cluster(8);
    const [na, nb] = nodes as [ReturnType<MemoryHub['join']>, ReturnType<MemoryHub['join']>];
    nb.handle(echo, () => new Promise(() => undefined));
    nb.handleStream(shout, () => undefined);
    const stream = (await settle(clock, na.openStream(b, shout))).value!;
    const call = na.request(b, echo, { text: 'hi' }, { timeoutMs: 60_000 });
    const reading = (async () => {
      for await (const _ of stream.frames);
    })();
    await run(clock, clock.monotonicMs() + 100);
    const goneAtMs = clock.monotonicMs();
    hub.leave(b);
    await expect(call).rejects.toMatchObject({ code: 'unreachable' });
    await expect(reading).rejects.toMatchObject({ code: 'closed' });
    expect(clock.monotonicMs()).toBe(goneAtMs);
  });

  it('loses no request or reply on a lossy network, as a connection does not, and runs each handler once', async () => {
    const { clock, nodes } = cluster(12, 0.5);
    const [na, nb] = nodes as [ReturnType<MemoryHub['join']>, ReturnType<MemoryHub['join']>];
    let served = 0;
    nb.handle(echo, async (request) => {
      served++;
      return request;
    });
    const calls = Array.from({ length: 20 }, (_, i) => na.request(b, echo, { text: `call ${i}` }));
    const answers = await settle(clock, Promise.all(calls));
    expect(answers.value?.map((answer) => answer.text)).toEqual(calls.map((_, i) => `call ${i}`));
    expect(served).toBe(20);
  });

  it('resets a stream whose other side is gone when a frame reaches it, as TCP answers with RST', async () => {
    const { clock, network, nodes } = cluster(10);
    const [na, nb] = nodes as [ReturnType<MemoryHub['join']>, ReturnType<MemoryHub['join']>];
    let served: FrameStream | undefined;
    nb.handleStream(shout, (stream) => {
      served = stream;
    });
    const stream = (await settle(clock, na.openStream(b, shout))).value!;
    const reading = (async () => {
      for await (const _ of stream.frames);
    })();
    const outgoing = pushable<Uint8Array>();
    void stream.send(outgoing).catch(() => undefined);
    await run(clock, clock.monotonicMs() + 100);
    // b drops its side while the path is cut: the reset it sends is lost, and a's side does not know.
    network.partition([a], [b]);
    served!.abort(new Error('b gave up on it'));
    network.heal();
    await run(clock, clock.monotonicMs() + 1_000);
    let broken = false;
    void reading.catch(() => (broken = true));
    await run(clock, clock.monotonicMs() + 100);
    expect(broken).toBe(false);
    // The next frame a sends reaches a side b no longer has: b resets a's.
    outgoing.push(new TextEncoder().encode('anyone there?'));
    await run(clock, clock.monotonicMs() + 100);
    await expect(reading).rejects.toMatchObject({ code: 'closed' });
  });

  it('times out opening a stream across a partition', async () => {
    const { clock, network, nodes } = cluster(9);
    nodes[1]!.handleStream(shout, () => undefined);
    network.partition([a], [b]);
    const opening = await settle(clock, nodes[0]!.openStream(b, shout, { timeoutMs: 200 }));
    expect(opening.error?.code).toBe('timeout');
  });
  it('drops a message its handler throws at, but lets a broken invariant through to stop the simulation', () => {
    const { clock, nodes } = cluster(5);
    const [na, nb] = nodes as [ReturnType<MemoryHub['join']>, ReturnType<MemoryHub['join']>];
    nb.onMessage(note, (_from, { seq }) => {
      if (seq === 1) throw new Error('a handler bug the node survives');
      invariant(seq !== 2, () => 'note 2 breaks an invariant');
    });
    na.send(b, note, { seq: 1 });
    clock.advanceBy(100);
    na.send(b, note, { seq: 2 });
    expect(() => clock.advanceBy(100)).toThrow(new InvariantError('note 2 breaks an invariant'));
  });
});
