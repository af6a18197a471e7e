import { encode } from 'it-length-prefixed';
import type { Pushable } from 'it-pushable';
import { Uint8ArrayList } from 'uint8arraylist';

/** A batch stops growing past this, so that one write never holds a stream for long. */
const MAX_BATCH_BYTES = 256 * 1024;

/**
 * Length-prefixes the frames of a queue and hands on, as one chunk, every frame already waiting: each chunk
 * becomes one muxer frame, one encryption and one socket write, instead of one of each per message.
 * `onTaken` is told of each frame as it leaves the queue.
 */
export async function* lengthPrefixedBatches(
  queue: Pushable<Uint8Array>,
  onTaken: () => void = () => undefined,
): AsyncGenerator<Uint8ArrayList> {
  for (;;) {
    const first = await queue.next();
    if (first.done === true) return;
    onTaken();
    const batch = new Uint8ArrayList(encode.single(first.value));
    while (queue.readableLength > 0 && batch.byteLength < MAX_BATCH_BYTES) {
      const next = await queue.next();
      if (next.done === true) break;
      onTaken();
      batch.append(encode.single(next.value));
    }
    yield batch;
  }
}
