import { describe, expect, it } from 'vitest';
import { agentProtocols } from '../../src/cluster/agent-protocols.js';
import { encodeFrame } from '../../src/peer/codec.js';
import {
  allData,
  copySegments,
  type DiskMap,
  MAX_MAP_EXTENTS,
  mapFromQemuImg,
  mapProblem,
} from '../../src/storage/extents.js';

const hole = (start: number, length: number) => ({ start, length, zero: true });
const data = (start: number, length: number) => ({ start, length, zero: false });
const segments = (map: DiskMap, from: number, chunkBytes: number) => [...copySegments(map, from, chunkBytes)];

describe('a disk map from qemu-img', () => {
  it('keeps what is not zero as data, and nothing past the end of the file', () => {
    // qemu-img rounds a 1000-byte file up to a 1024-byte image; the tail it invents is a hole anyway.
    const entries = [data(0, 100), hole(100, 300), data(400, 600), hole(1000, 24)];
    expect(mapFromQemuImg(entries, 0, 1000, 1000)).toEqual({
      lengthBytes: 1000,
      extents: [
        { offset: 0, length: 100 },
        { offset: 400, length: 600 },
      ],
      until: 1000,
    });
  });

  it('counts what qemu-img does not mention as data: a short answer costs bytes, never loses them', () => {
    expect(mapFromQemuImg([hole(0, 100)], 0, 1000, 1000).extents).toEqual([{ offset: 100, length: 900 }]);
    expect(mapFromQemuImg([], 0, 1000, 1000).extents).toEqual([{ offset: 0, length: 1000 }]);
  });

  it('maps a window from an offset, clipping what qemu-img says outside it', () => {
    const entries = [hole(0, 500), data(500, 100), hole(600, 400)];
    expect(mapFromQemuImg(entries, 550, 800, 1000)).toEqual({
      lengthBytes: 1000,
      extents: [{ offset: 550, length: 50 }],
      until: 800,
    });
  });

  it('joins touching holes, and maps an empty file as nothing', () => {
    expect(mapFromQemuImg([hole(0, 10), hole(10, 10), data(20, 5)], 0, 25, 25).extents).toEqual([
      { offset: 20, length: 5 },
    ]);
    expect(mapFromQemuImg([hole(0, 0)], 0, 0, 0)).toEqual({ lengthBytes: 0, extents: [], until: 0 });
  });

  it('stops at the most extents a map may list; the next map starts at the first left out', () => {
    const entries = Array.from({ length: 10 }, (_, n) => [data(n * 20, 10), hole(n * 20 + 10, 10)]).flat();
    const map = mapFromQemuImg(entries, 0, 200, 200, 3);
    expect(map.extents).toHaveLength(3);
    expect(map.until).toBe(60);
    expect(mapProblem(map, 0)).toBeUndefined();
  });

  it('all data, for a template that cannot tell', () => {
    expect(allData(10, 30, 30)).toEqual({
      lengthBytes: 30,
      extents: [{ offset: 10, length: 20 }],
      until: 30,
    });
    expect(allData(30, 30, 30).extents).toEqual([]);
  });
});

describe('the segments of a copy', () => {
  it('reads data within one chunk per read, and leaves the rest as holes', () => {
    // Data at the start, across a chunk boundary in the middle, and at the very end (length 95, chunks of 10).
    const map: DiskMap = {
      lengthBytes: 95,
      extents: [
        { offset: 0, length: 3 },
        { offset: 37, length: 8 },
        { offset: 93, length: 2 },
      ],
      until: 95,
    };
    expect(segments(map, 0, 10)).toEqual([
      { offset: 0, length: 3, data: true },
      { offset: 3, length: 34, data: false },
      { offset: 37, length: 3, data: true },
      { offset: 40, length: 5, data: true },
      { offset: 45, length: 48, data: false },
      { offset: 93, length: 2, data: true },
    ]);
  });

  it('reads extents that share a chunk in one piece, gap included', () => {
    const map: DiskMap = {
      lengthBytes: 30,
      extents: [
        { offset: 1, length: 2 },
        { offset: 5, length: 2 },
        { offset: 8, length: 6 },
      ],
      until: 30,
    };
    expect(segments(map, 0, 10)).toEqual([
      { offset: 0, length: 1, data: false },
      { offset: 1, length: 9, data: true },
      { offset: 10, length: 4, data: true },
      { offset: 14, length: 16, data: false },
    ]);
  });

  it('covers exactly [from, until): an empty disk is nothing, a disk of data is all reads', () => {
    expect(segments({ lengthBytes: 0, extents: [], until: 0 }, 0, 10)).toEqual([]);
    expect(segments({ lengthBytes: 100, extents: [], until: 50 }, 20, 10)).toEqual([
      { offset: 20, length: 30, data: false },
    ]);
    const full = segments(allData(0, 25, 25), 0, 10);
    expect(full).toEqual([
      { offset: 0, length: 10, data: true },
      { offset: 10, length: 10, data: true },
      { offset: 20, length: 5, data: true },
    ]);
  });
});

describe('a received disk map', () => {
  const map = (extents: [number, number][], until = 100, lengthBytes = 100): DiskMap => ({
    lengthBytes,
    extents: extents.map(([offset, length]) => ({ offset, length })),
    until,
  });

  it('is sound in order and within [from, until), and refused otherwise', () => {
    expect(
      mapProblem(
        map([
          [10, 5],
          [20, 5],
        ]),
        0,
      ),
    ).toBeUndefined();
    expect(mapProblem(map([], 100), 100)).toBeUndefined();
    expect(
      mapProblem(
        map([
          [20, 5],
          [10, 5],
        ]),
        0,
      ),
    ).toMatch(/out of order/);
    expect(
      mapProblem(
        map([
          [10, 15],
          [20, 5],
        ]),
        0,
      ),
    ).toMatch(/out of order or overlaps/);
    expect(mapProblem(map([[5, 5]]), 10)).toMatch(/out of order/);
    expect(mapProblem(map([[90, 20]]), 0)).toMatch(/leaves/);
    expect(mapProblem(map([[10, 0]]), 0)).toMatch(/leaves/);
    expect(mapProblem(map([], 200), 0)).toMatch(/past the disk/);
    expect(mapProblem(map([], 50), 50)).toMatch(/does not move on/);
  });

  it('is refused on the wire when unsound or too long', () => {
    const parse = (value: unknown) => agentProtocols.mapDisk.response.safeParse(value).success;
    expect(parse({ map: map([[10, 5]]) })).toBe(true);
    expect(parse({})).toBe(true);
    expect(
      parse({
        map: map([
          [20, 5],
          [10, 5],
        ]),
      }),
    ).toBe(false);
    expect(parse({ map: { ...map([]), until: -1 } })).toBe(false);
    expect(parse({ map: { ...map([]), lengthBytes: 2 ** 60 } })).toBe(false);
    const many = Array.from({ length: MAX_MAP_EXTENTS + 1 }, (_, n): [number, number] => [n * 2, 1]);
    expect(parse({ map: map(many, 2 * many.length, 2 * many.length) })).toBe(false);
    expect(parse({ map: map(many.slice(1), 2 * many.length, 2 * many.length) })).toBe(true);
  });

  it('fits one frame at its longest, with offsets of a disk of petabytes', () => {
    const extents = Array.from({ length: MAX_MAP_EXTENTS }, (_, n) => ({
      offset: 2 ** 50 + n * 2 ** 20,
      length: 2 ** 19 + 12_345,
    }));
    const longest = { map: { lengthBytes: 2 ** 52, extents, until: 2 ** 51 } };
    expect(agentProtocols.mapDisk.response.safeParse(longest).success).toBe(true);
    expect(() => encodeFrame(longest, agentProtocols.mapDisk.maxFrameBytes)).not.toThrow();
  });
});
