import { createHash } from 'node:crypto';
import { MIRROR_HASH_BYTES } from '../../cluster/mirror-protocol.js';

/** The checksum of each granule of `data`, concatenated: what a checksummed resync compares. */
export function granuleHashes(data: Uint8Array, granuleBytes: number): Uint8Array {
  const count = Math.ceil(data.byteLength / granuleBytes);
  const out = new Uint8Array(count * MIRROR_HASH_BYTES);
  for (let index = 0; index < count; index++) {
    const granule = data.subarray(index * granuleBytes, (index + 1) * granuleBytes);
    out.set(
      createHash('sha256').update(granule).digest().subarray(0, MIRROR_HASH_BYTES),
      index * MIRROR_HASH_BYTES,
    );
  }
  return out;
}

/** Whether granule `index` has the same checksum in both lists. */
export function sameGranule(ours: Uint8Array, theirs: Uint8Array, index: number): boolean {
  const start = index * MIRROR_HASH_BYTES;
  for (let at = start; at < start + MIRROR_HASH_BYTES; at++) if (ours[at] !== theirs[at]) return false;
  return theirs.byteLength >= start + MIRROR_HASH_BYTES;
}
