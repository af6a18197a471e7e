import { afterEach, describe, expect, it } from 'vitest';
import {
  mirrorStream,
  type ToPrimary,
  type ToSecondary,
  toPrimarySchema,
  toSecondarySchema,
} from '../../src/cluster/mirror-protocol.js';
import type { CorralError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/log.js';
import { connectDataPlane, DataPlaneServer } from '../../src/daemon/mirror-data-plane.js';
import {
  decodeToPrimary,
  decodeToSecondary,
  encodeToPrimary,
  encodeToSecondary,
} from '../../src/daemon/mirror-wire.js';
import { decodeFrame, encodeFrame } from '../../src/peer/codec.js';

describe('the mirror data plane (TLS with a one-time pre-shared key)', () => {
  let server: DataPlaneServer | undefined;
  afterEach(async () => {
    await server?.stop();
  });

  it('carries frames both ways for the primary that shows the offer, once', async () => {
    server = new DataPlaneServer('127.0.0.1', 64 * 1024, silentLogger);
    await server.start();
    const { offer, connection } = server.offer();
    const primary = await connectDataPlane('127.0.0.1', offer, 64 * 1024);
    const secondary = await connection;
    primary.send(new Uint8Array([1, 2, 3]));
    const received = await secondary.frames[Symbol.asyncIterator]().next();
    expect([...received.value!]).toEqual([1, 2, 3]);
    secondary.send(new Uint8Array(40_000).fill(9));
    const answer = await primary.frames[Symbol.asyncIterator]().next();
    expect(answer.value!.byteLength).toBe(40_000);
    primary.close();
    // The offer was used: showing it again fails the handshake.
    await expect(connectDataPlane('127.0.0.1', offer, 64 * 1024)).rejects.toThrow(
      /cannot open the mirror data connection/,
    );
  });

  it('refuses a connection with the wrong key, and a frame over the cap', async () => {
    server = new DataPlaneServer('127.0.0.1', 1024, silentLogger);
    await server.start();
    const { offer, connection } = server.offer();
    await expect(connectDataPlane('127.0.0.1', { ...offer, key: new Uint8Array(32) }, 1024)).rejects.toThrow(
      /cannot open the mirror data connection/,
    );
    const primary = await connectDataPlane('127.0.0.1', offer, 1024);
    const secondary = await connection;
    primary.send(new Uint8Array(2048));
    await expect(secondary.frames[Symbol.asyncIterator]().next()).rejects.toThrow(/exceeds 1024/);
  });
});

describe('the mirror wire codec (hot frames by hand, the rest through the schema)', () => {
  const max = mirrorStream.maxFrameBytes;
  const join = ({ head, payload }: { head: Uint8Array; payload?: Uint8Array }) =>
    Buffer.concat([head, payload ?? new Uint8Array(0)]);
  /** A value with its byte strings as hex, so that Buffers and Uint8Arrays of the same bytes compare equal. */
  const plain = (value: unknown): unknown =>
    value instanceof Uint8Array
      ? `bytes:${Buffer.from(value).toString('hex')}`
      : typeof value === 'object' && value !== null
        ? Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, plain(inner)]))
        : Object.is(value, -0)
          ? '-0'
          : value;
  const outcome = (decode: () => unknown): unknown => {
    try {
      return { value: plain(decode()) };
    } catch (error) {
      return { error: (error as CorralError).code };
    }
  };
  const numbers = [0, 1, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 4096, 2 ** 53 - 1];
  const lengths = [0, 1, 23, 24, 255, 256, 4096, 65_536, 1024 * 1024];
  const writes: ToSecondary[] = numbers.flatMap((n, i) => [
    {
      t: 'w',
      s: n,
      o: numbers[(i + 5) % numbers.length]!,
      d: payload(lengths[i % lengths.length]!, i),
      fua: true,
    },
    { t: 'w', s: i, o: n, d: payload(lengths[(i + 3) % lengths.length]!, i + 1), fua: false },
  ]);

  function payload(length: number, seed: number): Buffer {
    const bytes = Buffer.alloc(length);
    for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 0xff;
    return bytes;
  }

  it('writes and acks it encodes are what the schema decodes, and it decodes what cbor-x encodes', () => {
    for (const frame of writes) {
      const byHand = join(encodeToSecondary(frame, max));
      expect(plain(decodeFrame(byHand, toSecondarySchema, max))).toEqual(plain(frame));
      expect(plain(decodeToSecondary(byHand, max))).toEqual(plain(frame));
      expect(plain(decodeToSecondary(encodeFrame(frame, max), max))).toEqual(plain(frame));
    }
    for (const s of numbers) {
      const ack: ToPrimary = { t: 'a', s };
      const byHand = join(encodeToPrimary(ack, max));
      expect(decodeFrame(byHand, toPrimarySchema, max)).toEqual(ack);
      expect(decodeToPrimary(byHand, max)).toEqual(ack);
      expect(decodeToPrimary(encodeFrame(ack, max), max)).toEqual(ack);
    }
    // The other frames go through cbor-x and the schema both ways.
    const others: ToSecondary[] = [
      { t: 'f', s: 3 },
      { t: 'z', s: 4, o: 8192, n: 4096, fua: true },
      { t: 'h', s: 5, o: 0, n: 1024 * 1024 },
      { t: 'c', s: 6, g: 2, consistent: false },
    ];
    for (const frame of others)
      expect(plain(decodeToSecondary(join(encodeToSecondary(frame, max)), max))).toEqual(plain(frame));
    const hashes: ToPrimary = { t: 'H', s: 7, h: payload(64, 3) };
    expect(plain(decodeToPrimary(join(encodeToPrimary(hashes, max)), max))).toEqual(plain(hashes));
    expect(() => encodeToSecondary({ t: 'w', s: 0, o: 0, d: payload(max, 0), fua: true }, max)).toThrow(
      /exceeds/,
    );
  });

  it('accepts and refuses exactly what the schema does, whatever a peer sends', () => {
    let state = 7;
    const next = (below: number) => {
      state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
      return Math.floor((state / 2 ** 32) * below);
    };
    const smallWrites = writes.filter((frame) => frame.t === 'w' && frame.d.byteLength <= 256);
    const samples: Uint8Array[] = [];
    for (const frame of smallWrites) {
      samples.push(join(encodeToSecondary(frame, max)), encodeFrame(frame, max));
      samples.push(encodeFrame({ ...frame, extra: 1 }, max), encodeFrame({ t: 'w', s: frame.s }, max));
    }
    for (const s of [0, 24, 2 ** 32]) samples.push(join(encodeToPrimary({ t: 'a', s }, max)));
    samples.push(encodeFrame({ t: 'a', s: -1 }, max), encodeFrame({ t: 'a', s: 1.5 }, max));
    samples.push(encodeFrame({ t: 'w', s: 1, o: 2, d: 'text', fua: true }, max));
    samples.push(encodeFrame({ t: 'w', s: 1, o: 2, d: new Uint8Array(4), fua: 1 }, max));
    for (let round = 0; round < 20_000; round++) {
      const bytes = Buffer.from(samples[next(samples.length)]!);
      let mutated: Buffer = bytes;
      const kind = next(4);
      if (kind === 0 && bytes.byteLength > 0) mutated[next(bytes.byteLength)] = next(256);
      else if (kind === 1) mutated = bytes.subarray(0, next(bytes.byteLength + 1));
      else if (kind === 2) mutated = Buffer.concat([bytes, Buffer.from([next(256)])]);
      else if (bytes.byteLength > 0) mutated[next(Math.min(bytes.byteLength, 24))] = next(256);
      expect(outcome(() => decodeToSecondary(mutated, max))).toEqual(
        outcome(() => decodeFrame(mutated, toSecondarySchema, max)),
      );
      expect(outcome(() => decodeToPrimary(mutated, max))).toEqual(
        outcome(() => decodeFrame(mutated, toPrimarySchema, max)),
      );
    }
    const oversized = join(encodeToSecondary({ t: 'w', s: 0, o: 0, d: payload(64, 0), fua: true }, 4096));
    expect(() => decodeToSecondary(oversized, 32)).toThrow(/exceeds/);
  });

  it('carries a write and its ack over the data plane without copying the payload into the frame', async () => {
    const server = new DataPlaneServer('127.0.0.1', max, silentLogger);
    await server.start();
    try {
      const { offer, connection } = server.offer();
      const primary = await connectDataPlane('127.0.0.1', offer, max);
      const secondary = await connection;
      const frame: ToSecondary = { t: 'w', s: 9, o: 4096, d: payload(4096, 5), fua: true };
      const { head, payload: data } = encodeToSecondary(frame, max);
      expect(data).toBe(frame.d);
      primary.send(head, data);
      const received = await secondary.frames[Symbol.asyncIterator]().next();
      expect(plain(decodeToSecondary(received.value!, max))).toEqual(plain(frame));
      const ack = encodeToPrimary({ t: 'a', s: 9 }, max);
      secondary.send(ack.head, ack.payload);
      const answer = await primary.frames[Symbol.asyncIterator]().next();
      expect(decodeToPrimary(answer.value!, max)).toEqual({ t: 'a', s: 9 });
      primary.close();
    } finally {
      await server.stop();
    }
  });
});
