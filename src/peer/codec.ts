import { Encoder } from 'cbor-x';
import { z } from 'zod';
import { CorralError } from '../common/errors.js';

// Plain maps and arrays only: records and structured clones would let a peer make us build shapes we never
// declared, and the schema check is the single gate every decoded value passes.
const cbor = new Encoder({ useRecords: false, mapsAsObjects: true, structuredClone: false });

export function encodeFrame(value: unknown, maxFrameBytes: number): Uint8Array {
  const bytes = cbor.encode(value);
  if (bytes.byteLength > maxFrameBytes) {
    throw new CorralError(
      'frame_too_large',
      `message of ${bytes.byteLength} bytes exceeds the ${maxFrameBytes}-byte frame limit`,
    );
  }
  return bytes;
}

/** Decodes one frame and checks it against the schema; anything else is a bad_frame. */
export function decodeFrame<T>(bytes: Uint8Array, schema: z.ZodType<T>, maxFrameBytes: number): T {
  if (bytes.byteLength > maxFrameBytes) {
    throw new CorralError(
      'frame_too_large',
      `frame of ${bytes.byteLength} bytes exceeds the ${maxFrameBytes}-byte limit`,
    );
  }
  let value: unknown;
  try {
    value = cbor.decode(bytes);
  } catch (error) {
    throw new CorralError('bad_frame', `undecodable frame: ${(error as Error).message}`);
  }
  return checkShape(value, schema);
}

/** Checks a decoded value against the schema the protocol declares; a mismatch is a bad_frame. */
export function checkShape<T>(value: unknown, schema: z.ZodType<T>): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new CorralError('bad_frame', `frame of the wrong shape${where}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** A CBOR byte string; cbor-x decodes them as Buffers, which are Uint8Arrays. */
export const bytesSchema = z.custom<Uint8Array>(
  (value) => value instanceof Uint8Array,
  'expected a byte string',
);
