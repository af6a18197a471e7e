import { runHtool } from '../../src/cli/htools/main.js';
import type { HtoolsName } from '../../src/cli/htools/names.js';

/** Runs one of the htools in this process, under its Ganeti name: its exit code and what it printed. */
export async function htool(
  name: HtoolsName,
  ...argv: string[]
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runHtool(name, name, argv, {
    out: (text) => {
      out += text;
    },
    err: (text) => {
      err += text;
    },
  });
  return { code, out, err };
}
