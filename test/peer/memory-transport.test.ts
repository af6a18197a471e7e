import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CorralError } from '../../src/common/errors.js';
import { asNodeId, type NodeId } from '../../src/common/ids.js';
import { seededRng } from '../../src/common/random.js';
import { SimClock } from '../../src/common/sim-clock.js';
import { MemoryHub, type Packet } from '../../src/peer/memory-transport.js';
import { messageProtocol, requestProtocol, streamProtocol, topic } from '../../src/peer/protocol.js';
import { SimNetwork } from '../../src/peer/sim-network.js';

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

describe('in-memory transport', () => {
  it('answers requests and carries typed errors back', async () => {
    const { clock, nodes } = cluster(1);
    const [na, nb] = nodes as [ReturnType<MemoryHub['join']>, ReturnType<MemoryHub['join']>];
    nb.handle(echo, async ({ text }, { from }) => {
      if (text === 'fail') throw new CorralError('conflict', 'name taken');
      return { text: `${text} from ${from}` };
    });
    expect((await settle(clock, na.request(b, echo, { text: 'hi' }))).value).toEqual({
      text: 'hi from node-a',
    });
    const failed = await settle(clock, na.request(b, echo, { text: 'fail' }));
    expect([failed.error?.code, failed.error?.message]).toEqual(['conflict', 'name taken']);
  });

  it('refuses oversized requests at the sender and unknown protocols at the receiver', async () => {
    const { clock, nodes } = cluster(2);
    const na = nodes[0]!;
    const oversized = await settle(clock, na.request(b, echo, { text: 'x'.repeat(300) }));
    expect(oversized.error?.message).toMatch(/frame limit/);
    const unknown = await settle(clock, na.request(c, echo, { text: 'hi' }));
    expect(unknown.error?.code).toBe('unknown_protocol');
  });

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

  it('drops a malformed message without stopping the receiver', async () => {
    const { clock, network, nodes } = cluster(4);
    const seen: number[] = [];
    nodes[1]!.onMessage(note, (_from, { seq }) => seen.push(seq));
    const garbage = new Uint8Array([0xff, 0x00, 0x13]);
    network.send(a as NodeId, b, { kind: 'message', protocol: note.id, frame: garbage });
    nodes[0]!.send(b, note, { seq: 1 });
    await run(clock, 100);
    expect(seen).toEqual([1]);
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

    // A protocol the peer does not serve ends the stream at once.
    const refused = (await settle(clock, na.openStream(b, { ...shout, id: '/corral/test-none/1' }))).value!;
    const nothing: Uint8Array[] = [];
    await settle(
      clock,
      (async () => {
        for await (const frame of refused.frames) nothing.push(frame);
      })(),
    );
    expect(nothing).toEqual([]);
  });
});
