import { describe, expect, it } from 'vitest';
import type { NodeId } from '../../../src/common/ids.js';
import type { Transport } from '../../../src/peer/transport.js';
import { type Harness, looseNote, note, type Pair, type Trio, wideNote } from './harness.js';

/** Records the notes a node takes in, as `from:seq`. */
function listen(node: Transport): string[] {
  const heard: string[] = [];
  node.onMessage(note, (from, { seq }) => heard.push(`${from}:${seq}`));
  return heard;
}

function from(heard: readonly string[], peer: NodeId): number[] {
  return heard.filter((line) => line.startsWith(`${peer}:`)).map((line) => Number(line.split(':')[1]));
}

export function messageTests(harness: Harness): void {
  describe('one-way messages', () => {
    it('delivers the messages of each sender in the order it sent them', async () => {
      const cluster = await harness.start(3);
      const [a, b, c] = cluster.nodes as Trio;
      const heard = listen(b);
      const sent = Array.from({ length: 50 }, (_, seq) => seq);
      for (const seq of sent) {
        a.send(b.self, note, { seq });
        c.send(b.self, note, { seq });
      }
      await cluster.until(() => heard.length === 100 || undefined, 'every message to arrive');
      expect(from(heard, a.self)).toEqual(sent);
      expect(from(heard, c.self)).toEqual(sent);
    });

    it('drops a message over the cap at the sender without throwing, and sends the next', async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      const heard = listen(b);
      expect(() => a.send(b.self, looseNote, { seq: 'x'.repeat(2_000) })).not.toThrow();
      expect(() => a.send(b.self, note, { seq: 1 })).not.toThrow();
      await cluster.until(() => heard[0], 'the message under the cap to arrive');
      expect(heard).toEqual([`${a.self}:1`]);
    });

    it("refuses a message over the receiver's cap or of the wrong shape, logs why, and takes later ones", async () => {
      const cluster = await harness.start(2);
      const [a, b] = cluster.nodes as Pair;
      const heard = listen(b);
      const refusals = () =>
        harness.lines
          .filter((line) => line.level === 'warn' && line.fields.peer === a.self)
          .map((line) => line.fields.code);
      // A refused frame may take the stream it came on with it, and what was sent behind it; the sender sends
      // again until one gets through on a new stream.
      await cluster.until(() => {
        a.send(b.self, wideNote, { seq: 'x'.repeat(2_000) });
        return refusals().includes('frame_too_large') || undefined;
      }, 'the oversized message to be refused');
      await cluster.until(() => {
        a.send(b.self, looseNote, { seq: 'one' });
        return refusals().includes('bad_frame') || undefined;
      }, 'the malformed message to be refused');
      const named = harness.lines.find((line) => line.fields.code === 'bad_frame')?.fields.reason;
      expect(named).toMatch(/\bseq\b/);
      await cluster.until(() => {
        a.send(b.self, note, { seq: 2 });
        return heard[0];
      }, 'a later message to arrive');
      expect(new Set(heard)).toEqual(new Set([`${a.self}:2`]));
    });
  });
}
