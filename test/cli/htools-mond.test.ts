import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildState } from '../../src/alloc/state.js';
import { parseTextBackend } from '../../src/alloc/text-backend.js';
import { withMonDLoads } from '../../src/cli/htools/mond.js';
import { defaultOptions } from '../../src/cli/htools/options.js';
import { HtoolsExit } from '../../src/cli/htools/tool.js';

/**
 * --mond as Ganeti's Backend/MonD.hs reads it: each node's measured CPU load (cpu-avg-load's cpu_total)
 * shared among its primaries by their vCPUs; a node without an answer leaves every load as it was.
 */
const snapshot = parseTextBackend(
  [
    'default|uuid-1|preferred||',
    '',
    'n1|65536|1024|60000|1048576|1000000|16|N|uuid-1|1|1',
    'n2|65536|1024|60000|1048576|1000000|16|N|uuid-1|1|1',
    '',
    'a|1024|2048|1|running|Y|n1||plain|',
    'b|1024|2048|3|running|Y|n1||plain|',
    'c|1024|2048|2|running|Y|n2||plain|',
    '',
    '',
  ].join('\n'),
  'mond',
);

function dataFile(reports: object): string {
  const path = join(mkdtempSync(join(tmpdir(), 'corral-mond-')), 'mond.json');
  writeFileSync(path, JSON.stringify(reports));
  return path;
}

const cpuReport = (total: number) => ({
  name: 'cpu-avg-load',
  data: { cpu_number: 16, cpus: [], cpu_total: total },
});

describe('--mond', () => {
  const quiet = { out: () => {}, err: () => {} };

  it("spreads each node's measured CPU load over its primaries by vCPU", async () => {
    const monDFile = dataFile([
      { node: 'n1', reports: [cpuReport(5)] },
      { node: 'n2', reports: [cpuReport(2)] },
    ]);
    const options = { ...defaultOptions(), monD: true, monDFile };
    const loads = await withMonDLoads(options, snapshot, {}, undefined, quiet);
    const state = buildState(snapshot, loads);
    // n1 runs 1 + 3 vCPUs beside its own CPU (uCpu 5): a gets 5/5 x 1, b 5/5 x 3.
    expect(state.instances.map((i) => [i.name, i.util.cpu])).toEqual([
      ['a', 1],
      ['b', 3],
      ['c', (2 / 3) * 2],
    ]);
    expect(state.instances.every((i) => i.util.mem === 1 && i.util.disk === 1)).toBe(true);
  });

  it('ignores the collector when a node did not answer, or stops with --exit-on-missing-mond-data', async () => {
    const monDFile = dataFile([{ node: 'n1', reports: [cpuReport(5)] }]);
    let err = '';
    const io = { out: () => {}, err: (text: string) => (err += text) };
    const options = { ...defaultOptions(), monD: true, monDFile };
    expect(await withMonDLoads(options, snapshot, {}, undefined, io)).toEqual({});
    expect(err).toBe(
      "Warning: Didn't receive an answer by all MonDs, cpu-avg-load's data will be ignored.\n",
    );
    await expect(
      withMonDLoads({ ...options, monDExitMissing: true }, snapshot, {}, undefined, quiet),
    ).rejects.toEqual(new HtoolsExit('Not all required data available'));
  });

  it('does nothing without --mond, or with --ignore-dynu', async () => {
    const monDFile = dataFile([]);
    expect(await withMonDLoads({ ...defaultOptions(), monDFile }, snapshot, {}, undefined, quiet)).toEqual(
      {},
    );
    const ignoring = { ...defaultOptions(), monD: true, ignoreDynu: true, monDFile };
    expect(await withMonDLoads(ignoring, snapshot, { ignoreDynUtil: true }, undefined, quiet)).toEqual({
      ignoreDynUtil: true,
    });
  });
});
