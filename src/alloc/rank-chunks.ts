/**
 * How the threads of a balancing run share a round's ranking: the pool is cut into chunks, and each thread
 * takes the next chunk until none is left, from one shared counter. A thread that does not get the processor
 * (the machine may be busy with other work) then leaves its part to the others instead of holding up the
 * round, and no thread waits for another while there is work.
 *
 * The counter holds the round in its high half and the next chunk in its low half, so that a thread still
 * busy with an earlier round's job takes nothing from a later round.
 */

/** The pool's size per chunk: small enough to share a round of the narrow search (about 240 instances). */
const CHUNK_SIZE = 16;
const LOW = 2n ** 32n;

/** The counter, shared between the threads. */
export function newCounter(): BigInt64Array {
  return new BigInt64Array(new SharedArrayBuffer(BigInt64Array.BYTES_PER_ELEMENT));
}

export function chunkCount(poolSize: number): number {
  return Math.ceil(poolSize / CHUNK_SIZE);
}

/** The pool positions of a chunk, end excluded. */
export function chunkRange(chunk: number, poolSize: number): [number, number] {
  return [chunk * CHUNK_SIZE, Math.min(poolSize, (chunk + 1) * CHUNK_SIZE)];
}

/** Opens round `round` for claiming. */
export function openRound(counter: BigInt64Array, round: number): void {
  Atomics.store(counter, 0, BigInt(round) * LOW);
}

/** The next unclaimed chunk of round `round`, or -1 when there is none left (or the round is over). */
export function claimChunk(counter: BigInt64Array, round: number, chunks: number): number {
  const opened = BigInt(round) * LOW;
  for (;;) {
    const value = Atomics.load(counter, 0);
    const next = Number(value - opened);
    if (value < opened || next >= chunks) return -1;
    if (Atomics.compareExchange(counter, 0, value, value + 1n) === value) return next;
  }
}
