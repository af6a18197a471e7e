/**
 * Moving disk contents between nodes in chunks of request/response: a reader pulls a file a few chunks ahead
 * (disk copies for instance move, export dumps for an import), and a writer batches a stream it is fed (an
 * export script's output) into chunks sent in order, one at a time, so that the stream waits for the network.
 */

export interface Chunk {
  readonly data: Uint8Array;
  readonly eof: boolean;
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
    tally.bytes += chunk.data.byteLength;
    if (chunk.data.byteLength > 0) yield chunk.data;
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
