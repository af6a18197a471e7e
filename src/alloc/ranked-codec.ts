import type { Ranked } from './balance.js';
import type { Move } from './moves.js';

/**
 * Ranked moves as a few typed arrays, for crossing between threads: cloning them as objects (a move and a
 * list of touched nodes each) took a fifth of the main thread's time on 2,000 nodes; typed arrays are copied
 * whole.
 */
export interface RankedTable {
  readonly instance: Int32Array;
  readonly position: Int32Array;
  readonly score: Float64Array;
  readonly kind: Uint8Array;
  /** The move's target, -1 for a failover. */
  readonly node: Int32Array;
  /** Three per move, -1 where it touches fewer nodes. */
  readonly touched: Int32Array;
}

const kinds: readonly Move['kind'][] = [
  'failover',
  'failover-to-any',
  'replace-primary',
  'replace-secondary',
  'replace-and-failover',
  'failover-and-replace',
];
const TOUCHED = 3;

export function encodeRanked(ranked: readonly Ranked[]): RankedTable {
  const n = ranked.length;
  const table: RankedTable = {
    instance: new Int32Array(n),
    position: new Int32Array(n),
    score: new Float64Array(n),
    kind: new Uint8Array(n),
    node: new Int32Array(n),
    touched: new Int32Array(n * TOUCHED).fill(-1),
  };
  ranked.forEach((r, k) => {
    if (r.touched.length > TOUCHED) throw new RangeError('a move touches at most three nodes');
    table.instance[k] = r.instance;
    table.position[k] = r.position;
    table.score[k] = r.score;
    table.kind[k] = kinds.indexOf(r.move.kind);
    table.node[k] = r.move.kind === 'failover' ? -1 : r.move.node;
    table.touched.set(r.touched, k * TOUCHED);
  });
  return table;
}

export function decodeRanked(table: RankedTable): Ranked[] {
  return Array.from(table.instance, (instance, k) => {
    const kind = kinds[table.kind[k] as number] as Move['kind'];
    const node = table.node[k] as number;
    const move = (kind === 'failover' ? { kind } : { kind, node }) as Move;
    const touched = Array.from(table.touched.subarray(k * TOUCHED, (k + 1) * TOUCHED)).filter((i) => i >= 0);
    return {
      instance,
      move,
      score: table.score[k] as number,
      touched,
      position: table.position[k] as number,
    };
  });
}
