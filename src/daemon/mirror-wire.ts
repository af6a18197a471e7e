import {
  type ToPrimary,
  type ToSecondary,
  toPrimarySchema,
  toSecondarySchema,
} from '../cluster/mirror-protocol.js';
import { CorralError } from '../common/errors.js';
import { decodeFrame, encodeFrame } from '../peer/codec.js';

/**
 * The mirror's frames on the wire, with the hot ones (a write, its acknowledgement) encoded and decoded by
 * hand. The bytes are CBOR as `encodeFrame` writes it (a map with text keys; integers as cbor-x writes
 * them), so either end may be the other kind. A decoded frame the hand path does not recognise
 * exactly (another shape, another encoding of a number, an unknown or repeated key, trailing bytes) goes
 * through `decodeFrame` and its schema, which accepts or refuses it as before: the hand path only ever
 * accepts frames the schema accepts, and yields the same value for them.
 *
 * A write's payload is not copied into the frame: it travels as a second part after the frame's head.
 */

/** A frame ready to send: its head, and the payload that follows it (a write's bytes), if any. */
export interface EncodedFrame {
  readonly head: Uint8Array;
  readonly payload?: Uint8Array;
}

/** The largest head of a write: a map of five, its keys, two numbers as float64 and the payload's length. */
const WRITE_HEAD_MAX = 40;
const KEY_T = 0x74;
const KEY_S = 0x73;
const KEY_O = 0x6f;
const KEY_D = 0x64;

export function encodeToSecondary(frame: ToSecondary, maxFrameBytes: number): EncodedFrame {
  if (frame.t !== 'w') return { head: encodeFrame(frame, maxFrameBytes) };
  const head = Buffer.allocUnsafe(WRITE_HEAD_MAX);
  let at = 0;
  head[at++] = 0xa5;
  head[at++] = 0x61;
  head[at++] = KEY_T;
  head[at++] = 0x61;
  head[at++] = 0x77; // 'w'
  head[at++] = 0x61;
  head[at++] = KEY_S;
  at = putNumber(head, at, frame.s);
  head[at++] = 0x61;
  head[at++] = KEY_O;
  at = putNumber(head, at, frame.o);
  head[at++] = 0x63;
  head[at++] = 0x66; // 'f'
  head[at++] = 0x75; // 'u'
  head[at++] = 0x61; // 'a'
  head[at++] = frame.fua ? 0xf5 : 0xf4;
  head[at++] = 0x61;
  head[at++] = KEY_D;
  at = putLength(head, at, 0x40, frame.d.byteLength);
  const total = at + frame.d.byteLength;
  if (total > maxFrameBytes)
    throw new CorralError(
      'frame_too_large',
      `message of ${total} bytes exceeds the ${maxFrameBytes}-byte frame limit`,
    );
  return { head: head.subarray(0, at), payload: frame.d };
}

export function encodeToPrimary(frame: ToPrimary, maxFrameBytes: number): EncodedFrame {
  if (frame.t !== 'a') return { head: encodeFrame(frame, maxFrameBytes) };
  const head = Buffer.allocUnsafe(16);
  head[0] = 0xa2;
  head[1] = 0x61;
  head[2] = KEY_T;
  head[3] = 0x61;
  head[4] = 0x61; // 'a'
  head[5] = 0x61;
  head[6] = KEY_S;
  return { head: head.subarray(0, putNumber(head, 7, frame.s)) };
}

export function decodeToSecondary(bytes: Uint8Array, maxFrameBytes: number): ToSecondary {
  return (
    (bytes.byteLength <= maxFrameBytes ? quickWrite(bytes) : undefined) ??
    decodeFrame(bytes, toSecondarySchema, maxFrameBytes)
  );
}

export function decodeToPrimary(bytes: Uint8Array, maxFrameBytes: number): ToPrimary {
  return (
    (bytes.byteLength <= maxFrameBytes ? quickAck(bytes) : undefined) ??
    decodeFrame(bytes, toPrimarySchema, maxFrameBytes)
  );
}

/** A number as cbor-x writes it: an unsigned integer of up to 32 bits in its shortest form, else a float64. */
function putNumber(target: Buffer, at: number, value: number): number {
  if (value >>> 0 === value) return putLength(target, at, 0x00, value);
  target[at] = 0xfb;
  target.writeDoubleBE(value, at + 1);
  return at + 9;
}

/** A CBOR head of the major type in `major` (its top three bits) with an argument below 2^32. */
function putLength(target: Buffer, at: number, major: number, value: number): number {
  if (value < 24) {
    target[at] = major | value;
    return at + 1;
  }
  if (value < 0x100) {
    target[at] = major | 24;
    target[at + 1] = value;
    return at + 2;
  }
  if (value < 0x10000) {
    target[at] = major | 25;
    target.writeUInt16BE(value, at + 1);
    return at + 3;
  }
  target[at] = major | 26;
  target.writeUInt32BE(value, at + 1);
  return at + 5;
}

/** Where the reader of one frame is, and what it last read. */
interface Cursor {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  at: number;
}

function cursor(bytes: Uint8Array): Cursor {
  return { bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), at: 0 };
}

/**
 * The argument of a head of major type `major` (a number below 2^32), or undefined when the next item is
 * of another type, or uses a longer form than 32 bits, or runs past the end.
 */
function readArgument(c: Cursor, major: number): number | undefined {
  const { bytes, view } = c;
  if (c.at >= bytes.byteLength) return undefined;
  const initial = bytes[c.at]!;
  if (initial >> 5 !== major >> 5) return undefined;
  const info = initial & 0x1f;
  if (info < 24) {
    c.at += 1;
    return info;
  }
  const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : 0;
  if (size === 0 || c.at + 1 + size > bytes.byteLength) return undefined;
  const value =
    size === 1 ? view.getUint8(c.at + 1) : size === 2 ? view.getUint16(c.at + 1) : view.getUint32(c.at + 1);
  c.at += 1 + size;
  return value;
}

/** A non-negative safe integer, as an unsigned integer of up to 32 bits or a float64; else undefined. */
function readCount(c: Cursor): number | undefined {
  if (c.at < c.bytes.byteLength && c.bytes[c.at] === 0xfb) {
    if (c.at + 9 > c.bytes.byteLength) return undefined;
    const value = c.view.getFloat64(c.at + 1);
    if (!Number.isSafeInteger(value) || value < 0) return undefined;
    c.at += 9;
    return value;
  }
  return readArgument(c, 0x00);
}

/** A one-letter text string (a key or a frame's type), as its character code; else undefined. */
function readLetter(c: Cursor): number | undefined {
  if (c.at + 2 > c.bytes.byteLength || c.bytes[c.at] !== 0x61) return undefined;
  const letter = c.bytes[c.at + 1]!;
  c.at += 2;
  return letter;
}

function readBoolean(c: Cursor): boolean | undefined {
  const byte = c.bytes[c.at];
  if (byte !== 0xf4 && byte !== 0xf5) return undefined;
  c.at += 1;
  return byte === 0xf5;
}

/** A write frame, keys in any order, or undefined for anything else. */
function quickWrite(bytes: Uint8Array): ToSecondary | undefined {
  const c = cursor(bytes);
  if (readArgument(c, 0xa0) !== 5) return undefined;
  let t: number | undefined;
  let s: number | undefined;
  let o: number | undefined;
  let d: Uint8Array | undefined;
  let fua: boolean | undefined;
  for (let entry = 0; entry < 5; entry++) {
    if (c.bytes[c.at] === 0x63) {
      // The only longer key: 'fua'.
      if (
        fua !== undefined ||
        c.at + 4 > bytes.byteLength ||
        bytes[c.at + 1] !== 0x66 ||
        bytes[c.at + 2] !== 0x75 ||
        bytes[c.at + 3] !== 0x61
      )
        return undefined;
      c.at += 4;
      fua = readBoolean(c);
      if (fua === undefined) return undefined;
      continue;
    }
    const key = readLetter(c);
    if (key === KEY_T && t === undefined) t = readLetter(c);
    else if (key === KEY_S && s === undefined) s = readCount(c);
    else if (key === KEY_O && o === undefined) o = readCount(c);
    else if (key === KEY_D && d === undefined) {
      const length = readArgument(c, 0x40);
      if (length === undefined || c.at + length > bytes.byteLength) return undefined;
      d = bytes.subarray(c.at, c.at + length);
      c.at += length;
    } else return undefined;
    if ((key === KEY_T ? t : key === KEY_S ? s : key === KEY_O ? o : d) === undefined) return undefined;
  }
  if (c.at !== bytes.byteLength || t !== 0x77 || s === undefined || o === undefined || d === undefined)
    return undefined;
  if (fua === undefined) return undefined;
  return { t: 'w', s, o, d, fua };
}

/** An acknowledgement, keys in either order, or undefined for anything else. */
function quickAck(bytes: Uint8Array): ToPrimary | undefined {
  const c = cursor(bytes);
  if (readArgument(c, 0xa0) !== 2) return undefined;
  let t: number | undefined;
  let s: number | undefined;
  for (let entry = 0; entry < 2; entry++) {
    const key = readLetter(c);
    if (key === KEY_T && t === undefined) t = readLetter(c);
    else if (key === KEY_S && s === undefined) s = readCount(c);
    else return undefined;
  }
  if (c.at !== bytes.byteLength || t !== 0x61 || s === undefined) return undefined;
  return { t: 'a', s };
}
