import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FrameReader, lengthPrefixed } from '../../src/peer/socket-framing.js';

const MAX = 1000;

/** A connected pair of unix sockets: what the test writes on `writer` arrives on `reader`. */
async function socketPair(dir: string): Promise<{ server: Server; writer: Socket; reader: Socket }> {
  const path = join(dir, 's.sock');
  let accepted!: (socket: Socket) => void;
  const reader = new Promise<Socket>((resolve) => {
    accepted = resolve;
  });
  const server = createServer((socket) => accepted(socket));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const writer = connect(path);
  await new Promise((resolve) => writer.once('connect', resolve));
  return { server, writer, reader: await reader };
}

/** Writes each piece as its own chunk, waiting for it to arrive, so the reader sees them apart. */
async function writeApart(writer: Socket, reader: Socket, pieces: readonly Buffer[]): Promise<void> {
  for (const piece of pieces) {
    const arrived = new Promise((resolve) => reader.once('data', resolve));
    writer.write(piece);
    await arrived;
  }
}

describe('length-prefixed frames on a local socket', () => {
  let dir: string;
  let pair: Awaited<ReturnType<typeof socketPair>>;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'corral-framing-'));
    pair = await socketPair(dir);
  });

  afterEach(async () => {
    pair.writer.destroy();
    pair.reader.destroy();
    await new Promise((resolve) => pair.server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('reads frames one after another, however the bytes are split, then undefined at a clean end', async () => {
    const frames = [Buffer.from('first'), Buffer.alloc(300, 7), Buffer.alloc(0), Buffer.from('last')];
    const stream = Buffer.concat(frames.map(lengthPrefixed));
    // Split inside the second frame's two-byte length prefix, inside its body, and between frames.
    const cuts = [0, 6, 7, 100, 310, 311, stream.byteLength];
    const reader = new FrameReader(pair.reader, MAX);
    // Listening before the first data arrives, as the server does: a frame read later still finds its bytes.
    await writeApart(
      pair.writer,
      pair.reader,
      cuts.slice(1).map((end, i) => stream.subarray(cuts[i], end)),
    );
    pair.writer.end();
    const read: Buffer[] = [];
    for (let frame = await reader.next(); frame !== undefined; frame = await reader.next())
      read.push(Buffer.from(frame));
    expect(read).toEqual(frames);
  });

  it('refuses a frame cut off by the end of the stream', async () => {
    const reader = new FrameReader(pair.reader, MAX);
    pair.writer.end(lengthPrefixed(Buffer.from('whole frame')).subarray(0, 5));
    await expect(reader.next()).rejects.toMatchObject({ code: 'bad_frame' });
  });

  it('refuses a frame over the cap from its length alone', async () => {
    const reader = new FrameReader(pair.reader, MAX);
    pair.writer.write(lengthPrefixed(Buffer.alloc(MAX + 1)).subarray(0, 2));
    await expect(reader.next()).rejects.toMatchObject({ code: 'frame_too_large' });
  });

  it('refuses a length prefix longer than the cap needs', async () => {
    // 100 needs one byte of prefix: a second one, announced by the continuation bit, means a larger frame.
    const reader = new FrameReader(pair.reader, 100);
    pair.writer.write(Buffer.from([0x80, 0x80]));
    await expect(reader.next()).rejects.toMatchObject({ code: 'frame_too_large' });
  });

  it('fails a read when the connection fails', async () => {
    const reader = new FrameReader(pair.reader, MAX);
    const read = reader.next();
    pair.reader.destroy(new Error('reset by test'));
    await expect(read).rejects.toMatchObject({ code: 'closed' });
  });
});
