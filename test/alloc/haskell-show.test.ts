import { describe, expect, it } from 'vitest';
import { showFFloat } from '../../src/alloc/haskell-show.js';

// Expected strings are what Ganeti 3.0.2's htools print for these figures (GHC's printf "%.Nf").
describe('showFFloat', () => {
  it('rounds the decimal digits half to even, as GHC does', () => {
    expect(showFFloat(0.125, 2)).toBe('0.12');
    expect(showFFloat(0.375, 2)).toBe('0.38');
    expect(showFFloat(0.001953125, 8)).toBe('0.00195312');
  });

  it('writes whole numbers, carries and small values as printf does', () => {
    expect(showFFloat(4, 2)).toBe('4.00');
    expect(showFFloat(9.999, 2)).toBe('10.00');
    expect(showFFloat(3.1541198, 8)).toBe('3.15411980');
    expect(showFFloat(0.00004, 3)).toBe('0.000');
    expect(showFFloat(131072, 0)).toBe('131072');
    expect(showFFloat(-1.5, 1)).toBe('-1.5');
  });
});
