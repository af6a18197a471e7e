import { describe, expect, it } from 'vitest';
import { PeerTable } from '../../src/alloc/peer-table.js';

/** The same operations on a plain map, as the reference. */
function reference(start: Map<number, number>, edits: readonly (readonly [number, number])[]) {
  const map = new Map(start);
  for (const [primary, memory] of edits) {
    if (memory === 0) map.delete(primary);
    else map.set(primary, memory);
  }
  return map;
}

describe('PeerTable', () => {
  it('reads what it was made from, with 0 for a primary it does not hold', () => {
    const table = PeerTable.from(
      new Map([
        [3, 512],
        [7, 2048],
      ]),
    );
    expect(table.get(3)).toBe(512);
    expect(table.get(7)).toBe(2048);
    expect(table.get(4)).toBe(0);
    expect(table.max()).toBe(2048);
    expect(table.total()).toBe(2560);
  });

  it('leaves the table it was derived from unchanged', () => {
    const before = PeerTable.from(new Map([[1, 100]]));
    const after = before.with(1, 300).with(2, 50);
    expect(before.get(1)).toBe(100);
    expect(before.get(2)).toBe(0);
    expect(before.total()).toBe(100);
    expect(after.get(1)).toBe(300);
    expect(after.total()).toBe(350);
  });

  it('treats memory 0 as no entry, in the base and in the overlay', () => {
    const table = PeerTable.from(
      new Map([
        [1, 100],
        [2, 0],
      ]),
    )
      .with(1, 0)
      .with(5, 70)
      .with(5, 0);
    expect(table.get(1)).toBe(0);
    expect(table.max()).toBe(0);
    expect(table.total()).toBe(0);
  });

  it('counts a primary new to the base once, at its latest value, even when a memory equals its index', () => {
    // Primary 40 is edited twice; an edit whose memory is 40 must not be read as a primary.
    const table = PeerTable.from(new Map([[1, 10]]))
      .with(40, 5)
      .with(3, 40)
      .with(9, 1);
    expect(table.get(40)).toBe(5);
    expect(table.get(3)).toBe(40);
    expect(table.total()).toBe(10 + 5 + 40 + 1);
    const again = table.with(40, 25);
    expect(again.get(40)).toBe(25);
    expect(again.total()).toBe(10 + 25 + 40 + 1);
    expect(again.max()).toBe(40);
  });

  it('agrees with a map over long runs of edits, folded or not', () => {
    let seed = 12345;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const start = new Map([
      [0, 64],
      [1, 128],
      [2, 256],
    ]);
    const edits: [number, number][] = [];
    let table = PeerTable.from(start);
    for (let step = 0; step < 200; step++) {
      const edit: [number, number] = [next(12), next(3) === 0 ? 0 : 1 + next(4096)];
      edits.push(edit);
      table = table.with(...edit);
      const expected = reference(start, edits);
      for (let primary = 0; primary < 12; primary++)
        expect(table.get(primary)).toBe(expected.get(primary) ?? 0);
      expect(table.total()).toBe([...expected.values()].reduce((a, b) => a + b, 0));
      expect(table.max()).toBe(Math.max(0, ...expected.values()));
      const compacted = table.compact();
      for (let primary = 0; primary < 12; primary++)
        expect(compacted.get(primary)).toBe(expected.get(primary) ?? 0);
      expect(compacted.max()).toBe(table.max());
      expect(compacted.total()).toBe(table.total());
      // Every few steps, go on from the compacted table, as a balancing search does with committed nodes.
      if (step % 5 === 0) table = compacted;
    }
  });
});
