/**
 * Where a disk's data lies, so that a copy reads and sends only that: a map of data extents, every byte
 * outside them reading as zero (the holes of a sparse file). Pure: the map comes from qemu-img on the source
 * (qemu-img-map.ts) and is turned here into the reads and holes of a copy.
 */

/** The bytes [offset, offset + length) of a disk. */
export interface Extent {
  readonly offset: number;
  readonly length: number;
}

/**
 * The data of a disk in [from, until), for some `from` the asker chose: everything there outside `extents`
 * reads as zero. A map stops short of the disk's end when it would list too many extents; the next one
 * starts at `until`.
 */
export interface DiskMap {
  /** The whole disk's length in bytes. */
  readonly lengthBytes: number;
  /** Data, in order, neither overlapping nor touching, within [from, until). */
  readonly extents: readonly Extent[];
  readonly until: number;
}

/** The most extents one map lists: it crosses the network in one frame. */
export const MAX_MAP_EXTENTS = 4096;

/** The map of a disk whose holes are unknown from `from` to `until`: all of it is data. */
export function allData(from: number, until: number, lengthBytes: number): DiskMap {
  return { lengthBytes, extents: until > from ? [{ offset: from, length: until - from }] : [], until };
}

/** An entry of `qemu-img map --output=json`: `zero` says the range reads as zeros. */
export interface QemuImgMapEntry {
  readonly start: number;
  readonly length: number;
  readonly zero: boolean;
}

/**
 * The map of [from, end) of a disk of `lengthBytes` from qemu-img's entries for that range. Only what qemu-img
 * says reads as zero is a hole; anything it does not mention counts as data, so a short or odd answer costs
 * bytes sent, never bytes lost. qemu-img rounds a raw file up to whole sectors: nothing past the end counts.
 */
export function mapFromQemuImg(
  entries: readonly QemuImgMapEntry[],
  from: number,
  end: number,
  lengthBytes: number,
  maxExtents = MAX_MAP_EXTENTS,
): DiskMap {
  const stop = Math.min(end, lengthBytes);
  const zeros = entries
    .filter((entry) => entry.zero && entry.length > 0)
    .map((entry) => ({ offset: entry.start, length: entry.length }));
  const extents: Extent[] = [];
  let position = from;
  for (const hole of mergeExtents(zeros)) {
    const holeStart = Math.max(hole.offset, from);
    const holeEnd = Math.min(hole.offset + hole.length, stop);
    if (holeEnd <= holeStart) continue;
    if (holeStart > position) extents.push({ offset: position, length: holeStart - position });
    position = Math.max(position, holeEnd);
  }
  if (stop > position) extents.push({ offset: position, length: stop - position });
  if (extents.length <= maxExtents) return { lengthBytes, extents, until: Math.max(stop, from) };
  return { lengthBytes, extents: extents.slice(0, maxExtents), until: extents[maxExtents]!.offset };
}

/** Sorted, with overlapping and touching extents joined into one. */
function mergeExtents(extents: readonly Extent[]): Extent[] {
  const merged: Extent[] = [];
  for (const extent of [...extents].sort((a, b) => a.offset - b.offset)) {
    const last = merged.at(-1);
    const end = extent.offset + extent.length;
    if (last !== undefined && extent.offset <= last.offset + last.length) {
      merged[merged.length - 1] = {
        offset: last.offset,
        length: Math.max(last.offset + last.length, end) - last.offset,
      };
    } else merged.push(extent);
  }
  return merged;
}

/**
 * What is wrong with a map received for [from, …), or undefined when it is sound: it must move on from
 * `from` (or be at the end), stay within the disk, and list its extents in order inside [from, until).
 */
export function mapProblem(map: DiskMap, from: number): string | undefined {
  if (map.until > map.lengthBytes) return `it ends at ${map.until}, past the disk's ${map.lengthBytes} bytes`;
  if (map.until <= from && from < map.lengthBytes) return `it does not move on from ${from}`;
  let position = from;
  for (const { offset, length } of map.extents) {
    if (offset < position) return `its extent at ${offset} is out of order or overlaps`;
    if (length <= 0 || offset + length > map.until)
      return `its extent at ${offset} leaves [${from}, ${map.until})`;
    position = offset + length;
  }
  return undefined;
}

/** A piece of a copy, in order: bytes to read from the source, or a hole the target leaves unwritten. */
export interface CopySegment extends Extent {
  readonly data: boolean;
}

/**
 * The segments of [from, until) under `map`: each stretch of data read in pieces that stay within one cell of
 * `chunkBytes` (so no more reads than chunks, and each fits one reply), the gaps between pieces in one cell
 * read along with them (a request costs more than a few zeros), the rest holes of any length.
 */
export function* copySegments(map: DiskMap, from: number, chunkBytes: number): Generator<CopySegment> {
  const { extents } = map;
  let position = from;
  let index = 0;
  while (index < extents.length) {
    const start = Math.max(extents[index]!.offset, position);
    if (start > position) yield { offset: position, length: start - position, data: false };
    const cellEnd = (Math.floor(start / chunkBytes) + 1) * chunkBytes;
    let end = start;
    // This extent and those after it that start in the same cell, up to the cell's end.
    while (index < extents.length && extents[index]!.offset < cellEnd) {
      const extentEnd = extents[index]!.offset + extents[index]!.length;
      end = Math.min(extentEnd, cellEnd);
      if (extentEnd > cellEnd) break;
      index++;
    }
    yield { offset: start, length: end - start, data: true };
    position = end;
  }
  if (map.until > position) yield { offset: position, length: map.until - position, data: false };
}
