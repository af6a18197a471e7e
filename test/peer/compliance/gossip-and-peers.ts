import { describe, expect, it } from 'vitest';
import type { PeerEvent, Transport } from '../../../src/peer/transport.js';
import { failure, type Harness, looseNews, news, outcome, type Pair, sports, type Trio } from './harness.js';

/** Records what a handler of a topic takes in, as `author:headline`. */
function heardBy(node: Transport, on = news): { heard: string[]; unsubscribe: () => void } {
  const heard: string[] = [];
  const unsubscribe = node.subscribe(on, (from, { headline }) => heard.push(`${from}:${headline}`));
  return { heard, unsubscribe };
}

/** Publishes, ignoring the outcome: cases publish again until the mesh has formed and a copy arrives. */
function publish(node: Transport, on: typeof news, headline: string): void {
  void node.publish(on, { headline }).catch(() => undefined);
}

export function gossipTests(harness: Harness): void {
  describe('gossip', () => {
    it('delivers a publication to every subscriber but its publisher, naming its author', async () => {
      const cluster = await harness.start(3);
      const [a, b, c] = cluster.nodes as Trio;
      const [onA, onB, onC] = [heardBy(a), heardBy(b), heardBy(c)];
      await cluster.until(() => {
        publish(a, news, 'elected');
        return (onB.heard.length > 0 && onC.heard.length > 0) || undefined;
      }, 'both subscribers to hear the publication');
      expect(new Set([...onB.heard, ...onC.heard])).toEqual(new Set([`${a.self}:elected`]));
      expect(onA.heard).toEqual([]);
    });

    it('stops delivering to a handler once it unsubscribes, and to none once the last one has', async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      const [first, second, other] = [heardBy(b), heardBy(b), heardBy(b, sports)];
      await cluster.until(() => {
        publish(a, news, 'one');
        publish(a, sports, 'one');
        return (second.heard.length > 0 && other.heard.length > 0) || undefined;
      }, 'both topics to reach the subscriber');

      first.unsubscribe();
      first.heard.length = 0;
      second.heard.length = 0;
      await cluster.until(() => {
        publish(a, news, 'two');
        return second.heard.includes(`${a.self}:two`) || undefined;
      }, 'the remaining handler to hear the next publication');
      expect(first.heard).toEqual([]);

      second.unsubscribe();
      second.heard.length = 0;
      other.heard.length = 0;
      // The other topic's publication goes out after this one's, on the same path: once it has arrived,
      // this one would have too.
      await cluster.until(() => {
        publish(a, news, 'three');
        publish(a, sports, 'three');
        return other.heard.includes(`${a.self}:three`) || undefined;
      }, 'the other topic to hear the next publication');
      expect([first.heard, second.heard]).toEqual([[], []]);
    });

    it('refuses a publication over the cap with frame_too_large', async () => {
      const cluster = await harness.start(2);
      const [a] = cluster.nodes as Pair;
      const error = await failure(cluster, a.publish(news, { headline: 'x'.repeat(2_000) }));
      expect(error.code).toBe('frame_too_large');
    });

    it('drops a malformed publication, logging the field, and delivers later ones', async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      const onB = heardBy(b);
      const refused = () =>
        harness.lines.find((line) => line.level === 'warn' && line.fields.code === 'bad_frame');
      const why = await cluster.until(() => {
        void a.publish(looseNews, { headline: 42 }).catch(() => undefined);
        return refused();
      }, 'the malformed publication to be refused');
      expect(why.fields.reason).toMatch(/\bheadline\b/);
      await cluster.until(() => {
        publish(a, news, 'fine');
        return onB.heard[0];
      }, 'a well-formed publication to arrive');
      expect(new Set(onB.heard)).toEqual(new Set([`${a.self}:fine`]));
    });
  });
}

/** Records a node's connection events, as `type peer`. */
function events(node: Transport): { seen: string[]; off: () => void } {
  const seen: string[] = [];
  const off = node.onPeer((event: PeerEvent) => {
    if (event.type !== 'identified') seen.push(`${event.type} ${event.peer}`);
  });
  return { seen, off };
}

export function peerTests(harness: Harness): void {
  describe('peers', () => {
    it('tells of a node that connects and of one that stops, and lists who is connected', async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      const onA = events(a);
      const fresh = await cluster.join();
      expect((await outcome(cluster, fresh.connect(a.listenAddresses()[0]!))).value).toBe(a.self);
      await cluster.until(() => onA.seen.includes(`connected ${fresh.self}`) || undefined, 'the connection');
      expect(a.connectedPeers()).toEqual(expect.arrayContaining([b.self, fresh.self]));
      expect(fresh.connectedPeers()).toContain(a.self);

      await fresh.stop();
      await cluster.until(
        () => onA.seen.includes(`disconnected ${fresh.self}`) || undefined,
        'the disconnection',
      );
      expect(a.connectedPeers()).toEqual([b.self]);
      expect(onA.seen.filter((event) => event.endsWith(b.self))).toEqual([]);
    });

    it('stops telling a handler once it unsubscribes', async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      const [kept, dropped] = [events(a), events(a)];
      dropped.off();
      await b.stop();
      await cluster.until(
        () => kept.seen.includes(`disconnected ${b.self}`) || undefined,
        'the disconnection',
      );
      expect(dropped.seen).toEqual([]);
    });

    it('refuses to connect to a stopped node with unreachable, and to a malformed address with bad_request', async () => {
      const cluster = await harness.start(1);
      const [a] = cluster.nodes as Pair;
      const gone = await cluster.join();
      const address = gone.listenAddresses()[0]!;
      await gone.stop();
      expect((await failure(cluster, a.connect(address))).code).toBe('unreachable');
      expect((await failure(cluster, a.connect('not an address'))).code).toBe('bad_request');
    });
  });
}
