import { setImmediate } from 'node:timers/promises';
import { CorralError } from '../common/errors.js';
import { holeChunks } from '../storage/disk-bytes.js';
import { type CopySegment, copySegments, type DiskMap, mapProblem } from '../storage/extents.js';

/**
 * Moving disk contents between nodes in chunks of request/response: a reader pulls a file a few chunks ahead
 * (disk copies for instance move, export dumps for an import), or only the data its map shows (disk copies
 * from a source that can tell its holes), and a writer batches a stream it is fed (an export script's output)
 * into chunks sent in order, one at a time, so that the stream waits for the network.
 */

export interface Chunk {
  readonly data: Uint8Array;
  readonly eof: boolean;
  /** A chunk of nothing but zeros travels as their count instead of `data`: a hole in a sparse disk. */
  readonly zeros?: number;
}

/** What a chunk is compared with to find it holds only zeros. */
const ZEROS = new Uint8Array(1024 * 1024);

/**
 * The chunk to send for `data`: as it is, or, when it holds only zeros, as their count. A 2 GiB disk holding
 * 100 MiB is mostly holes, which then cross the network as a few bytes each; the writer keeps them sparse.
 */
export function compactChunk(data: Uint8Array, eof: boolean): Chunk {
  const zero = data.byteLength > 0 && data.byteLength <= ZEROS.byteLength;
  if (zero && Buffer.compare(data, ZEROS.subarray(0, data.byteLength)) === 0)
    return { data: new Uint8Array(0), eof, zeros: data.byteLength };
  return { data, eof };
}

/** How many chunk reads are in flight: enough to hide the round trips. */
const READS_AHEAD = 4;

/** Yields the file chunk by chunk, counting into `tally`; `read` fetches the chunk at an offset, `chunkBytes` apart. */
export async function* pulledChunks(
  read: (offset: number) => Promise<Chunk>,
  chunkBytes: number,
  tally: { bytes: number } = { bytes: 0 },
): AsyncGenerator<Uint8Array> {
  const start = (n: number) => {
    const answer = read(n * chunkBytes);
    // Marked handled now: when one read fails the copy stops, and the reads behind it are not awaited.
    answer.catch(() => undefined);
    return answer;
  };
  const inFlight = Array.from({ length: READS_AHEAD }, (_, n) => start(n));
  let next = inFlight.length;
  for (;;) {
    const chunk = await inFlight.shift()!;
    tally.bytes += received(chunk);
    yield* receivedChunks(chunk);
    if (chunk.eof) return;
    inFlight.push(start(next++));
  }
}

/**
 * Yields a disk of which `first` maps the start (from offset 0) and `next` the rest, a map at a time: its holes
 * as zeros, never asked for, and its data read with `read` a few pieces ahead, each at most `chunkBytes`
 * long. Counts the disk's bytes into `tally`. A map that does not fit the disk, or a piece that comes back
 * another length, ends the copy with an error: the source changed or misbehaves.
 */
export async function* mappedChunks(
  first: DiskMap,
  next: (from: number) => Promise<DiskMap>,
  read: (offset: number, length: number) => Promise<Chunk>,
  chunkBytes: number,
  tally: { bytes: number } = { bytes: 0 },
): AsyncGenerator<Uint8Array> {
  const segments = mapSegments(first, next, chunkBytes);
  const queue: { readonly segment: CopySegment; readonly answer?: Promise<Chunk> }[] = [];
  let reading = 0;
  let mapped = false;
  for (;;) {
    // A hole between each two reads at most: the queue stays short while the reads run ahead.
    while (!mapped && reading < READS_AHEAD && queue.length < 2 * READS_AHEAD) {
      const step = await segments.next();
      if (step.done === true) mapped = true;
      else if (!step.value.data) queue.push({ segment: step.value });
      else {
        const answer = read(step.value.offset, step.value.length);
        // Marked handled now: when one read fails the copy stops, and the reads behind it are not awaited.
        answer.catch(() => undefined);
        queue.push({ segment: step.value, answer });
        reading++;
      }
    }
    const entry = queue.shift();
    if (entry === undefined) return;
    const { segment } = entry;
    tally.bytes += segment.length;
    if (entry.answer === undefined) {
      yield* holeChunks(segment.length);
      // Holes pass without I/O: let the node's other work (heartbeats, replies) in before going on.
      await setImmediate();
      continue;
    }
    reading--;
    const chunk = await entry.answer;
    if (received(chunk) !== segment.length)
      throw new CorralError(
        'conflict',
        `the disk changed while it was copied: ${segment.length} bytes at ${segment.offset} came as ${received(chunk)}; copy it again`,
      );
    yield* receivedChunks(chunk);
  }
}

/** How many bytes of the disk a chunk carries, sent or counted. */
function received(chunk: Chunk): number {
  return chunk.zeros ?? chunk.data.byteLength;
}

/** A chunk's bytes: a chunk of zeros as a hole, which the writer skips without reading it. */
function* receivedChunks(chunk: Chunk): Generator<Uint8Array> {
  if (chunk.zeros !== undefined) yield* holeChunks(chunk.zeros);
  else if (chunk.data.byteLength > 0) yield chunk.data;
}

/** The segments of the disk the maps describe, each map checked against the disk and where it should start. */
async function* mapSegments(
  first: DiskMap,
  next: (from: number) => Promise<DiskMap>,
  chunkBytes: number,
): AsyncGenerator<CopySegment> {
  for (let map = first, from = 0; ; map = await next(from)) {
    if (map.lengthBytes !== first.lengthBytes)
      throw new CorralError(
        'conflict',
        `the disk changed while it was copied: it was ${first.lengthBytes} bytes long, and is now ${map.lengthBytes}; copy it again`,
      );
    const problem = mapProblem(map, from);
    if (problem !== undefined)
      throw new CorralError('bad_frame', `the source's map of the disk is unsound: ${problem}`);
    yield* copySegments(map, from, chunkBytes);
    if (map.until >= map.lengthBytes) return;
    from = map.until;
  }
}

export interface ChunkedWriter {
  /** Takes the next piece of the stream; a promise means: wait for it before the next piece. */
  push(piece: Uint8Array): Promise<void> | undefined;
  /** Sends what is left; resolves with the stream's length. */
  end(): Promise<number>;
}

/** Batches a stream into chunks of `chunkBytes`, each written at its offset once the previous one is. */
export function chunkedWriter(
  write: (offset: number, data: Uint8Array) => Promise<void>,
  chunkBytes: number,
): ChunkedWriter {
  let buffer = new Uint8Array(chunkBytes);
  let filled = 0;
  let offset = 0;
  const flush = async () => {
    const data = buffer.subarray(0, filled);
    buffer = new Uint8Array(chunkBytes);
    filled = 0;
    const at = offset;
    offset += data.byteLength;
    await write(at, data);
  };
  /** The chunk being written: the stream's reader waits for it, and so does the end. */
  let writing: Promise<void> = Promise.resolve();
  const push = (piece: Uint8Array): Promise<void> | undefined => {
    const n = Math.min(piece.byteLength, chunkBytes - filled);
    buffer.set(piece.subarray(0, n), filled);
    filled += n;
    if (filled < chunkBytes) return undefined;
    const rest = piece.subarray(n);
    writing = writing.then(flush).then(() => (rest.byteLength > 0 ? push(rest) : undefined));
    return writing;
  };
  return {
    push,
    async end() {
      await writing;
      // An empty stream still creates its (empty) file.
      if (filled > 0 || offset === 0) await flush();
      return offset;
    },
  };
}
