import { describe, expect, it } from 'vitest';
import { encodeKvCommand, KvStore } from '../../src/cluster/kv-store.js';

const entry = (index: number, data: Uint8Array) => ({ type: 'normal' as const, index, term: 1, data });
const bytes = (text: string) => new TextEncoder().encode(text);

describe('the replicated key-value store', () => {
  it('applies puts and deletes and reports the revision', () => {
    const store = new KvStore();
    expect(store.apply(entry(1, new Uint8Array()))).toBeUndefined();
    expect(store.apply(entry(2, encodeKvCommand({ op: 'put', key: 'a', value: bytes('1') })))).toEqual({
      ok: true,
      revision: 2,
    });
    store.apply(entry(3, encodeKvCommand({ op: 'put', key: 'b', value: bytes('2') })));
    store.apply(entry(4, encodeKvCommand({ op: 'delete', key: 'a' })));
    expect(store.get('a')).toBeUndefined();
    expect(new TextDecoder().decode(store.get('b'))).toBe('2');
  });

  it('answers garbage and wrong shapes as refused, without throwing or changing anything', () => {
    const store = new KvStore();
    expect(store.apply(entry(1, new Uint8Array([0xff, 0x13])))).toMatchObject({ ok: false });
    expect(store.apply(entry(2, encodeKvCommand({ op: 'put', key: '', value: bytes('x') })))).toEqual({
      ok: false,
      reason: 'malformed command',
    });
    expect(store.size).toBe(0);
  });

  it('restores from its snapshot to the same state', () => {
    const store = new KvStore();
    for (let i = 1; i <= 20; i++)
      store.apply(entry(i, encodeKvCommand({ op: 'put', key: `k${i % 5}`, value: bytes(`${i}`) })));
    const copy = new KvStore();
    copy.restore(store.snapshot());
    expect(copy.snapshot()).toEqual(store.snapshot());
    expect(new TextDecoder().decode(copy.get('k0'))).toBe('20');
  });

  it('refuses values over the limit before they reach the log', () => {
    expect(() => encodeKvCommand({ op: 'put', key: 'big', value: new Uint8Array(300 * 1024) })).toThrow(
      /limit/,
    );
  });
});
