import { describe, expect, it } from 'vitest';
import { checkHistory, type Operation } from './linearizability.js';

const put = (client: number, value: string, callAt: number, returnAt: number): Operation => ({
  client,
  input: { op: 'put', key: 'k', value },
  output: returnAt === Number.POSITIVE_INFINITY ? undefined : { op: 'put' },
  callAt,
  returnAt,
});
const get = (client: number, value: string | undefined, callAt: number, returnAt: number): Operation => ({
  client,
  input: { op: 'get', key: 'k' },
  output: { op: 'get', value },
  callAt,
  returnAt,
});
const cas = (
  client: number,
  expected: string | undefined,
  value: string,
  ok: boolean,
  callAt: number,
  returnAt: number,
) =>
  ({
    client,
    input: { op: 'cas', key: 'k', expected, value },
    output: { op: 'cas', ok },
    callAt,
    returnAt,
  }) satisfies Operation;

describe('linearizability checker', () => {
  it('accepts concurrent writes read in an order consistent with real time', () => {
    const history = [put(1, 'a', 0, 10), put(2, 'b', 1, 11), get(3, 'a', 12, 13), get(3, 'a', 14, 15)];
    expect(checkHistory(history)).toBe('linearizable');
  });

  it('rejects a stale read after a completed write', () => {
    const history = [put(1, 'a', 0, 1), put(1, 'b', 2, 3), get(2, 'a', 4, 5)];
    expect(checkHistory(history)).toBe('not-linearizable');
  });

  it('rejects two reads that see concurrent writes in opposite orders', () => {
    const history = [
      put(1, 'a', 0, 100),
      put(2, 'b', 0, 100),
      get(3, 'a', 10, 20),
      get(3, 'b', 21, 30),
      get(4, 'b', 31, 40),
      get(4, 'a', 41, 50),
    ];
    expect(checkHistory(history)).toBe('not-linearizable');
  });

  it('lets a write of unknown outcome take effect late or never', () => {
    const lost = Number.POSITIVE_INFINITY;
    expect(
      checkHistory([put(1, 'a', 0, 1), put(2, 'b', 2, lost), get(3, 'a', 5, 6), get(3, 'b', 7, 8)]),
    ).toBe('linearizable');
    expect(
      checkHistory([put(1, 'a', 0, 1), put(2, 'b', 2, lost), get(3, 'b', 5, 6), get(3, 'a', 7, 8)]),
    ).toBe('not-linearizable');
  });

  it('checks compare-and-set outcomes against the value it found', () => {
    expect(checkHistory([put(1, 'a', 0, 1), cas(2, 'a', 'b', true, 2, 3), get(1, 'b', 4, 5)])).toBe(
      'linearizable',
    );
    expect(checkHistory([put(1, 'a', 0, 1), cas(2, 'a', 'b', false, 2, 3)])).toBe('not-linearizable');
    expect(checkHistory([cas(2, 'a', 'b', true, 0, 1)])).toBe('not-linearizable');
  });

  it('checks keys independently', () => {
    const other: Operation = {
      client: 9,
      input: { op: 'get', key: 'other' },
      output: { op: 'get', value: 'zz' },
      callAt: 0,
      returnAt: 1,
    };
    expect(checkHistory([put(1, 'a', 0, 1), other])).toBe('not-linearizable');
  });
});
