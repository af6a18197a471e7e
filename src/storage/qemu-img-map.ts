import { z } from 'zod';
import { allData, type DiskMap, mapFromQemuImg } from './extents.js';
import { runTool, type ToolOptions } from './run-tool.js';

/**
 * The data extents of a file, as `qemu-img map` finds them (SEEK_DATA and SEEK_HOLE, which Node's fs does not
 * offer). One window at a time: a map of a huge, fragmented file stays within the tool's output cap.
 */

/**
 * How much of a file one map covers. 8 GiB of 4 KiB extents between holes would overflow the output cap, but
 * then nearly every chunk holds data, and reading all of the window costs little more.
 */
const MAP_WINDOW_BYTES = 8 * 1024 ** 3;

const entries = z.array(
  z.object({ start: z.number().nonnegative(), length: z.number().nonnegative(), zero: z.boolean() }),
);

/**
 * The map of `path` (a file of `lengthBytes`) from `from`. Whatever goes wrong (no qemu-img, an old one
 * without --start-offset, a filesystem it cannot ask, output past the cap) makes the window all data: the
 * copy is slower, never wrong.
 */
export async function mapFile(
  path: string,
  from: number,
  lengthBytes: number,
  tool: ToolOptions,
): Promise<DiskMap> {
  const end = Math.min(lengthBytes, from + MAP_WINDOW_BYTES);
  if (end <= from) return allData(from, from, lengthBytes);
  try {
    // -f raw: the file's own allocation, whatever format the guest sees (a qcow2 image is copied as a file).
    const out = await runTool(
      'qemu-img',
      ['map', '--output=json', '-f', 'raw', `--start-offset=${from}`, `--max-length=${end - from}`, path],
      tool,
    );
    return mapFromQemuImg(entries.parse(JSON.parse(out)), from, end, lengthBytes);
  } catch {
    return allData(from, end, lengthBytes);
  }
}
