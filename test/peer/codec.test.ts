import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CorralError } from '../../src/common/errors.js';
import { seededRng } from '../../src/common/random.js';
import { decodeFrame, encodeFrame } from '../../src/peer/codec.js';

const shape = z.object({ name: z.string(), sizeMiB: z.number().int().nonnegative() });

function codeOf(thunk: () => unknown): string {
  try {
    thunk();
  } catch (error) {
    if (error instanceof CorralError) return error.code;
    throw error;
  }
  return 'no error';
}

describe('frame codec', () => {
  it('round-trips a value of the declared shape', () => {
    const frame = encodeFrame({ name: 'disk0', sizeMiB: 1024 }, 1024);
    expect(decodeFrame(frame, shape, 1024)).toEqual({ name: 'disk0', sizeMiB: 1024 });
  });

  it('refuses to encode past the cap', () => {
    expect(codeOf(() => encodeFrame({ blob: new Uint8Array(2000) }, 1024))).toBe('frame_too_large');
  });

  it('refuses a frame over the cap before decoding it', () => {
    const frame = encodeFrame({ name: 'x'.repeat(100), sizeMiB: 1 }, 4096);
    expect(codeOf(() => decodeFrame(frame, shape, 64))).toBe('frame_too_large');
  });

  it('names the field of a frame of the wrong shape', () => {
    const frame = encodeFrame({ name: 'disk0', sizeMiB: -1 }, 1024);
    expect(() => decodeFrame(frame, shape, 1024)).toThrow(/wrong shape at sizeMiB/);
  });

  it('refuses valid CBOR that is not the declared shape', () => {
    for (const value of [42, 'text', [1, 2], null, { name: 7 }, { other: true }]) {
      expect(codeOf(() => decodeFrame(encodeFrame(value, 1024), shape, 1024))).toBe('bad_frame');
    }
  });

  it('turns random bytes into a bad_frame, never a crash or a hang (seed 7)', () => {
    const rng = seededRng(7);
    for (let i = 0; i < 5000; i++) {
      const bytes = new Uint8Array(rng.between(0, 64));
      for (let j = 0; j < bytes.length; j++) bytes[j] = rng.int(256);
      const code = codeOf(() => decodeFrame(bytes, shape, 1024));
      expect(['bad_frame', 'no error']).toContain(code);
    }
  });

  it('does not allocate what a forged length claims', () => {
    // An array header claiming 2^32-1 items in a five-byte frame.
    const forged = new Uint8Array([0x9b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    expect(codeOf(() => decodeFrame(forged, z.array(z.number()), 1024))).toBe('bad_frame');
  });
});
