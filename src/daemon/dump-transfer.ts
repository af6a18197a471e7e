/**
 * Moving disk contents between nodes in chunks of request/response: a reader pulls a file a few chunks ahead
 * (disk copies for instance move, export dumps for an import), and a writer batches a stream it is fed (an
 * export script's output) into chunks sent in order, one at a time, so that the stream waits for the network.
 */

export interface Chunk {
  readonly data: Uint8Array;
  readonly eof: boolean;
  /** A chunk of nothing but zeros travels as their count instead of `data`: a hole in a sparse disk. */
  readonly zeros?: number;
}

/** Zero-filled, never written: what a hole reads as on the receiving side. */
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
    const data = chunk.zeros !== undefined ? ZEROS.subarray(0, chunk.zeros) : chunk.data;
    tally.bytes += data.byteLength;
    if (data.byteLength > 0) yield data;
    if (chunk.eof) return;
    inFlight.push(start(next++));
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
