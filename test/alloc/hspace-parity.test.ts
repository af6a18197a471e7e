import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseUnitMiB, simulateCluster } from '../../src/alloc/simulate.js';
import { htool } from '../cli/run-htool.js';

/**
 * hspace as Ganeti 3.0.2's: every expected figure below is what Debian's /usr/bin/hspace printed (or wrote
 * with -S) on the same input, from Ganeti's own test data (test/ganeti-htools/data).
 */

const data = (name: string): string => new URL(`../ganeti-htools/data/${name}`, import.meta.url).pathname;

const hspace = (...argv: string[]) => htool('hspace', ...argv);

/** The HTS_* variables of a machine-readable run. */
function hts(out: string): Map<string, string> {
  return new Map(
    out
      .split('\n')
      .filter((line) => line.startsWith('HTS_'))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

describe('the simulated cluster (--simulate)', () => {
  it('reads sizes with units and names groups last-given first, as Simu.hs', () => {
    expect(parseUnitMiB('8T')).toBe(7629394);
    expect(parseUnitMiB('64g')).toBe(65536);
    const cluster = simulateCluster(['p,1,1T,8g,4', 'u,2,100,1024,2,3,True']);
    expect(cluster.groups.map((g) => [g.name, g.uuid, g.allocPolicy])).toEqual([
      ['group-01', 'fake-uuid-01', 'preferred'],
      ['group-02', 'fake-uuid-02', 'unallocable'],
    ]);
    expect(cluster.nodes.map((n) => [n.name, n.master, n.spindles, n.exclusiveStorage])).toEqual([
      ['node-01-001', true, 1, false],
      ['node-02-001', false, 3, true],
      ['node-02-002', false, 3, true],
    ]);
  });

  it("refuses a spec of the wrong length with Ganeti's words", () => {
    expect(() => simulateCluster(['p,4'])).toThrow(/expected 6 comma-separated sections .* but got 2: 'p,4'/);
  });
});

describe('hspace', () => {
  it('prints what hspace prints on a simulated DRBD cluster, and saves the same files (-S)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hspace-'));
    const save = join(dir, 'simu');
    const { code, out, err } = await hspace(
      '--simu',
      'p,4,8T,64g,16',
      '--disk-template',
      'drbd',
      '-l',
      '8',
      '-S',
      save,
    );
    expect(code).toBe(0);
    // hspace --simu p,4,8T,64g,16 --disk-template drbd -l 8 -S FILE
    expect(out).toBe(
      [
        'The cluster has 4 nodes and the following resources:',
        '  MEM 262144, DSK 30517576, CPU 64, VCPU 256.',
        'There are no initial instances on the cluster.',
        'Tiered (initial size) instance spec is:',
        "  MEM 32768, DSK 1048576, CPU 8, using disk template 'drbd'.",
        'Tiered allocation results:',
        '  -   2 instances of spec MEM 32768, DSK 1048576, CPU 8',
        '  -   3 instances of spec MEM 32704, DSK 1048576, CPU 8',
        '  - most likely failure reason: FailMem',
        '  - initial cluster score: 0.00000000',
        '  -   final cluster score: 2.90737632',
        '  - memory usage efficiency: 62.43%',
        '  -   disk usage efficiency: 34.36%',
        '  -   vcpu usage efficiency: 17.19%',
        'Standard (fixed-size) instance spec is:',
        "  MEM 128, DSK 1024, CPU 1, using disk template 'drbd'.",
        'Normal (fixed-size) allocation results:',
        '  -   8 instances allocated',
        '  - most likely failure reason: FailMem',
        '  - initial cluster score: 0.00000000',
        '  -   final cluster score: 0.00195312',
        '  - memory usage efficiency:  0.39%',
        '  -   disk usage efficiency:  0.05%',
        '  -   vcpu usage efficiency:  4.69%',
        '',
      ].join('\n'),
    );
    expect(err).toBe(
      `The cluster state after tiered allocation has been written to file '${save}.tiered'\n` +
        `The cluster state after standard allocation has been written to file '${save}.standard'\n`,
    );
    expect(readFileSync(`${save}.standard`, 'utf8')).toBe(
      [
        'group-01|fake-uuid-01|preferred||',
        '',
        'node-01-001|65536|0|65536|7629394|7625298|16|M|fake-uuid-01|1||N|0|1|1.0',
        'node-01-002|65536|0|65536|7629394|7625298|16|N|fake-uuid-01|1||N|0|1|1.0',
        'node-01-003|65536|0|65536|7629394|7625298|16|N|fake-uuid-01|1||N|0|1|1.0',
        'node-01-004|65536|0|65536|7629394|7625298|16|N|fake-uuid-01|1||N|0|1|1.0',
        '',
        'new-0|128|1024|1|running|Y|node-01-004|node-01-003|drbd||1|1|N',
        'new-1|128|1024|1|running|Y|node-01-002|node-01-001|drbd||1|1|N',
        'new-2|128|1024|1|running|Y|node-01-003|node-01-001|drbd||1|1|N',
        'new-3|128|1024|1|running|Y|node-01-001|node-01-004|drbd||1|1|N',
        'new-4|128|1024|1|running|Y|node-01-004|node-01-002|drbd||1|1|N',
        'new-5|128|1024|1|running|Y|node-01-003|node-01-002|drbd||1|1|N',
        'new-6|128|1024|1|running|Y|node-01-002|node-01-004|drbd||1|1|N',
        'new-7|128|1024|1|running|Y|node-01-001|node-01-003|drbd||1|1|N',
        '',
        '',
        '|128,1,1024,1,1,1|128,1,1024,1,1,1;32768,8,1048576,16,8,12|diskless,file,sharedfile,plain,blockdev,drbd,rbd,ext,gluster|4.0|32.0',
        'group-01|128,1,1024,1,1,1|128,1,1024,1,1,1;32768,8,1048576,16,8,12|diskless,file,sharedfile,plain,blockdev,drbd,rbd,ext,gluster|4.0|32.0',
        '',
      ].join('\n'),
    );
    expect(readFileSync(`${save}.tiered`, 'utf8')).toBe(
      [
        'group-01|fake-uuid-01|preferred||',
        '',
        'node-01-001|65536|0|65536|7629394|4483666|16|M|fake-uuid-01|1||N|0|1|1.0',
        'node-01-002|65536|0|65536|7629394|5532242|16|N|fake-uuid-01|1||N|0|1|1.0',
        'node-01-003|65536|0|65536|7629394|5532242|16|N|fake-uuid-01|1||N|0|1|1.0',
        'node-01-004|65536|0|65536|7629394|4483666|16|N|fake-uuid-01|1||N|0|1|1.0',
        '',
        'new-0|32768|1048576|8|running|Y|node-01-004|node-01-003|drbd||1|12|N',
        'new-1|32768|1048576|8|running|Y|node-01-002|node-01-001|drbd||1|12|N',
        'new-2|32704|1048576|8|running|Y|node-01-003|node-01-001|drbd||1|12|N',
        'new-3|32704|1048576|8|running|Y|node-01-001|node-01-004|drbd||1|12|N',
        'new-4|32704|1048576|8|running|Y|node-01-002|node-01-004|drbd||1|12|N',
        '',
        '',
        '|128,1,1024,1,1,1|128,1,1024,1,1,1;32768,8,1048576,16,8,12|diskless,file,sharedfile,plain,blockdev,drbd,rbd,ext,gluster|4.0|32.0',
        'group-01|128,1,1024,1,1,1|128,1,1024,1,1,1;32768,8,1048576,16,8,12|diskless,file,sharedfile,plain,blockdev,drbd,rbd,ext,gluster|4.0|32.0',
        '',
      ].join('\n'),
    );
  });

  it("gives the same counts as JSON (--json, Corral's addition)", async () => {
    const { out } = await hspace('--simu', 'p,4,8T,64g,16', '--disk-template', 'drbd', '-l', '8', '--json');
    const report = JSON.parse(out) as {
      tiered: { instances: number; specs: { spec: { memoryMiB: number }; count: number }[] };
      standard: { instances: number };
    };
    // hspace: "2 instances of spec MEM 32768", "3 instances of spec MEM 32704", "8 instances allocated".
    expect(report.tiered.specs.map((t) => [t.spec.memoryMiB, t.count])).toEqual([
      [32768, 2],
      [32704, 3],
    ]);
    expect(report.standard.instances).toBe(8);
  });

  it('allocates tiered and standard as hspace on hspace-tiered.data', async () => {
    const { out } = await hspace(
      '--machine-readable',
      '-t',
      data('hspace-tiered.data'),
      '--no-capacity-checks',
    );
    const v = hts(out);
    expect(v.get('HTS_TSPEC')).toBe("'131072,1048576,4,12=4 129984,1048320,4,12=2'");
    expect(v.get('HTS_TRL_SCORE')).toBe('2.64044189');
    expect(v.get('HTS_KM_UNAV_NPU')).toBe('25.0');
    expect(v.get('HTS_FIN_SCORE')).toBe('2.63842773');
    expect(v.get('HTS_FIN_MNODE_MEM_AVAIL')).toBe('67584');
    expect(v.get('HTS_ALLOC_INSTANCES')).toBe('6');
    expect(v.get('HTS_ALLOC_FAILMEM_CNT')).toBe('4');
    expect([...v.keys()].slice(-11, -1)).toEqual([
      'HTS_ALLOC_FAIL_REASON',
      'HTS_ALLOC_FAILMEM_CNT',
      'HTS_ALLOC_FAILDISK_CNT',
      'HTS_ALLOC_FAILCPU_CNT',
      'HTS_ALLOC_FAILN1_CNT',
      'HTS_ALLOC_FAILTAGS_CNT',
      'HTS_ALLOC_FAILMIG_CNT',
      'HTS_ALLOC_FAILDISKCOUNT_CNT',
      'HTS_ALLOC_FAILSPINDLES_CNT',
      'HTS_ALLOC_FAILINTERNAL_CNT',
    ]);
    expect(out.endsWith('HTS_OK=1\n')).toBe(true);
  });

  it.each([
    [
      'hspace-tiered-dualspec.data',
      "'131072,1048576,4,12=4 129984,1048320,4,12=2 65472,524288,2,12=2'",
      '14',
      '0',
      '0',
    ],
    [
      'hspace-tiered-exclusive.data',
      "'131072,1048576,4,10=1 131072,1048576,4,9=1 131072,1048576,4,8=2'",
      '6',
      '0',
      '29',
    ],
    [
      'hspace-tiered-dualspec-exclusive.data',
      "'131072,1048576,4,4=4 129984,1048320,4,4=2 65472,524288,2,2=2'",
      '14',
      '7',
      '7',
    ],
    [
      'hspace-tiered-mixed.data',
      "'131072,1048576,4,12=2 131072,1048576,4,10=2 129984,1048320,4,10=2'",
      '6',
      '0',
      '18',
    ],
  ])('shrinks as hspace does on %s (dual specs, spindles)', async (file, tspec, allocs, trlSpn, finSpn) => {
    const v = hts((await hspace('--machine-readable', '-t', data(file), '--no-capacity-checks')).out);
    expect([
      v.get('HTS_TSPEC'),
      v.get('HTS_ALLOC_INSTANCES'),
      v.get('HTS_TRL_SPN_FREE'),
      v.get('HTS_FIN_SPN_FREE'),
    ]).toEqual([tspec, allocs, trlSpn, finSpn]);
  });

  it('searches thousands of sizes down on a full cluster without running out of stack (hbal-soft-errors.data)', async () => {
    const v = hts((await hspace('--machine-readable', '-t', data('hbal-soft-errors.data'))).out);
    expect([v.get('HTS_TRL_INST_CNT'), v.get('HTS_TSPEC'), v.get('HTS_ALLOC_INSTANCES')]).toEqual([
      '54',
      '',
      '0',
    ]);
    expect([v.get('HTS_ALLOC_FAIL_REASON'), v.get('HTS_ALLOC_FAILDISK_CNT'), v.get('HTS_FIN_SCORE')]).toEqual(
      ['FAILDISK', '6', '39.36461987'],
    );
  });

  it('shrinks the CPUs when they run out first, with capacity checks (hspace-tiered-vcpu.data)', async () => {
    const v = hts((await hspace('--machine-readable', '-t', data('hspace-tiered-vcpu.data'))).out);
    expect(v.get('HTS_TSPEC')).toBe("'32768,65536,4,12=4 32768,65536,2,12=2'");
    expect(v.get('HTS_ALLOC_INSTANCES')).toBe('10');
    expect(v.get('HTS_ALLOC_FAIL_REASON')).toBe('FAILCPU');
    expect(v.get('HTS_FIN_SCORE')).toBe('2.26677307');
  });

  it.each([
    ['hspace-groups-one.data', [], 0],
    ['hspace-groups-one.data', ['--independent-groups'], 0],
    ['hspace-groups-one.data', ['--accept-existing'], 2],
    ['hspace-groups-two.data', [], 0],
    ['hspace-groups-two.data', ['--independent-groups'], 2],
    ['hspace-bad-group.data', [], 0],
    ['hspace-bad-group.data', ['--accept-existing'], 0],
    ['hspace-bad-group.data', ['--independent-groups'], 124],
    ['hspace-existing.data', ['--accept-existing'], 124],
  ])('on %s with %j allocates what hspace does (%i)', async (file, extra, allocs) => {
    const { out } = await hspace('-t', data(file), ...extra);
    expect(out).toContain(`  - ${String(allocs).padStart(3)} instances allocated\n`);
  });

  it('names the groups it will not allocate in, at -v -v -v', async () => {
    const { err } = await hspace('-t', data('hspace-bad-group.data'), '-v', '-v', '-v');
    expect(err).toContain('Bad groups: ["group-bad"]\n');
  });

  it('stops as hspace when no node can take an instance', async () => {
    const { code, err } = await hspace('-t', data('hspace-existing.data'), '--independent-groups');
    expect(code).toBe(1);
    expect(err).toBe('Error: failure during allocation: No online nodes\n');
  });
});
