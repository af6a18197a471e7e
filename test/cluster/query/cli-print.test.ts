import { afterEach, describe, expect, it, vi } from 'vitest';
import { chosenFields, printQuery, splitTime } from '../../../src/cli/fields.js';
import { localTime } from '../../../src/cli/local-time.js';
import { groupRows, instanceRows, jobRows, nodeRows, runQuery } from '../../../src/cluster/query/index.js';
import { config, jobs, live } from './fixture.js';

/** The CLI prints the engine's typed values as Ganeti's list commands do. */

function printed(print: () => void): string {
  const chunks: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    chunks.push(String(chunk));
    return true;
  });
  try {
    print();
  } finally {
    spy.mockRestore();
  }
  return chunks.join('');
}

afterEach(() => vi.restoreAllMocks());

const table = { headers: true, json: false };

describe('list printing', () => {
  it("prints Ganeti's default instance columns with their titles", () => {
    const fields = chosenFields(
      'instance',
      ['name', 'hypervisor', 'os', 'pnode', 'status', 'oper_ram'],
      undefined,
    );
    const out = printed(() =>
      printQuery(runQuery('instance', fields, null, instanceRows({ config, live })), table),
    );
    expect(out).toBe(
      [
        'Instance Hypervisor OS   Primary_node Status     Memory',
        'inst1    fake       noop node1        running    128M',
        'inst2    fake       noop node1        ADMIN_down -',
        'inst3    fake       noop node1        running    128M',
        '',
      ].join('\n'),
    );
  });

  it('marks missing values ? (no data), - (unavailable or none), * (offline); Y/N; lists joined by commas', () => {
    const fields = ['name', 'mtotal', 'master_candidate', 'pinst_list', 'custom_ndparams', 'tags'];
    const out = printed(() =>
      printQuery(runQuery('node', fields, null, nodeRows({ config, live })), { ...table, separator: '|' }),
    );
    expect(out).toBe(
      [
        'Node|MTotal|MasterC|PriInstances|CustomNodeParameters|Tags',
        'node1|24105|Y|inst1,inst2,inst3|{}|',
        'node2|*|N||{}|',
        'node10|?|N||{}|',
        '',
      ].join('\n'),
    );
    const nics = ['name', 'ip', 'nic.ips', 'disk.sizes', 'disk.names', 'ctime'];
    const rows = printed(() =>
      printQuery(runQuery('instance', nics, null, instanceRows({ config })), {
        headers: false,
        json: false,
        separator: '|',
      }),
    );
    const ctime = localTime(config.instances[0]!.ctimeMs);
    expect(rows).toBe(`inst1|-||||${ctime}\ninst2|-||1024||${ctime}\ninst3|192.0.2.9|192.0.2.9|||${ctime}\n`);
  });

  it('prints group counts and job timestamps as local times', () => {
    const groups = printed(() =>
      printQuery(
        runQuery(
          'group',
          ['name', 'node_cnt', 'pinst_cnt', 'ipolicy/disk-templates'],
          null,
          groupRows({ config }),
        ),
        {
          headers: false,
          json: false,
          separator: ' ',
        },
      ),
    );
    expect(groups).toBe('default 2 3 file,diskless\nrack2 1 0 file\n');
    const formats = { received_ts: splitTime, end_ts: splitTime };
    const out = printed(() =>
      printQuery(
        runQuery('job', ['id', 'received_ts', 'end_ts'], ['==', 'id', 1], jobRows(jobs)),
        {
          headers: false,
          json: false,
          separator: '|',
        },
        formats,
      ),
    );
    expect(out).toBe(`1|${localTime(900)}|-\n`);
  });

  it('prints JSON objects with typed values and null for missing ones', () => {
    const out = printed(() =>
      printQuery(
        runQuery(
          'instance',
          ['name', 'be/maxmem', 'disk.sizes', 'oper_ram'],
          ['==', 'name', 'inst2'],
          instanceRows({ config }),
        ),
        {
          headers: true,
          json: true,
        },
      ),
    );
    expect(JSON.parse(out)).toEqual([
      { name: 'inst2', 'be/maxmem': 256, 'disk.sizes': [1024], oper_ram: null },
    ]);
  });

  it('refuses an unknown -o field, saying where the known ones are', () => {
    expect(() => chosenFields('node', ['name'], '+nosuch')).toThrow(
      'unknown node field nosuch; corral node list-fields shows the known ones',
    );
  });
});
