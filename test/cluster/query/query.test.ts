import { describe, expect, it } from 'vitest';
import {
  fieldDefinitions,
  fieldRecords,
  groupRows,
  instanceRows,
  jobRows,
  neededData,
  needsLiveData,
  niceCompare,
  nodeRows,
  resultStatus,
  runQuery,
} from '../../../src/cluster/query/index.js';
import type { ConfigView } from '../../../src/cluster/views.js';
import { config, jobs, live, observed } from './fixture.js';

const { normal, unknown, noData, unavailable, offline } = resultStatus;

/** One column of a query, as [status, value] per row. */
const column = <R extends 'instance' | 'node' | 'group' | 'job'>(
  resource: R,
  field: string,
  rows: Parameters<typeof runQuery<R>>[3],
) => runQuery(resource, [field], null, rows).data.map((row) => row[0]);

describe("runQuery's answer", () => {
  it('describes the fields asked for, unknown ones with kind "unknown" and status 1 in every row', () => {
    const result = runQuery(
      'instance',
      ['name', 'nosuch', 'oper_state'],
      undefined,
      instanceRows({ config, live }),
    );
    expect(result.fields).toEqual([
      { name: 'name', title: 'Instance', kind: 'text', doc: 'Instance name' },
      { name: 'nosuch', title: 'nosuch', kind: 'unknown', doc: "Unknown field 'nosuch'" },
      { name: 'oper_state', title: 'Running', kind: 'bool', doc: 'Actual state of instance' },
    ]);
    expect(result.data).toEqual([
      [
        [normal, 'inst1'],
        [unknown, null],
        [normal, true],
      ],
      [
        [normal, 'inst2'],
        [unknown, null],
        [normal, false],
      ],
      [
        [normal, 'inst3'],
        [unknown, null],
        [normal, true],
      ],
    ]);
  });

  it('says "no data" (2) for live fields when nobody asked the nodes', () => {
    expect(column('instance', 'status', instanceRows({ config }))).toEqual([
      [noData, null],
      [noData, null],
      [noData, null],
    ]);
    expect(column('node', 'mfree', nodeRows({ config }))[0]).toEqual([noData, null]);
  });

  it('says "unavailable" (3) where the value does not apply, "offline" (4) for a node never asked', () => {
    const instances = instanceRows({ config, live });
    expect(column('instance', 'oper_ram', instances)).toEqual([
      [normal, 128],
      [unavailable, null],
      [normal, 128],
    ]);
    expect(column('instance', 'disk.size/0', instances)).toEqual([
      [unavailable, null],
      [normal, 1024],
      [unavailable, null],
    ]);
    expect(column('instance', 'nic.bridge/0', instances)[2]).toEqual([unavailable, null]);
    const nodes = nodeRows({ config, live });
    expect(nodes.map((row) => row.node.name)).toEqual(['node1', 'node2', 'node10']);
    expect(column('node', 'mtotal', nodes)).toEqual([
      [normal, 24105],
      [offline, null],
      [noData, null],
    ]);
    expect(column('node', 'sptotal', nodes)[0]).toEqual([unavailable, null]);
  });

  it("derives an instance's status from the live answers, and knows when its node cannot say", () => {
    const moved: ConfigView = {
      ...config,
      instances: config.instances.map((instance) =>
        instance.name === 'inst1'
          ? { ...instance, primaryNode: 'n-2' }
          : instance.name === 'inst2'
            ? { ...instance, primaryNode: 'n-10' }
            : instance,
      ),
    };
    const rows = instanceRows({ config: moved, live });
    expect(runQuery('instance', ['status', 'oper_state', 'oper_ram'], null, rows).data).toEqual([
      // inst1's primary is offline now; it runs on node1.
      [
        [normal, 'ERROR_nodeoffline'],
        [normal, true],
        [noData, null],
      ],
      // inst2's primary did not answer.
      [
        [normal, 'ERROR_nodedown'],
        [noData, null],
        [noData, null],
      ],
      [
        [normal, 'running'],
        [normal, true],
        [normal, 128],
      ],
    ]);
  });

  it('filters before it reads, and keeps the rows in Ganeti order', () => {
    const result = runQuery(
      'node',
      ['name', 'role', 'pinst_cnt'],
      ['!', ['?', 'offline']],
      nodeRows({ config }),
    );
    expect(result.data).toEqual([
      [
        [normal, 'node1'],
        [normal, 'M'],
        [normal, 3],
      ],
      [
        [normal, 'node10'],
        [normal, 'D'],
        [normal, 0],
      ],
    ]);
    expect(['node10', 'node2', 'node1', 'a'].sort(niceCompare)).toEqual(['a', 'node1', 'node2', 'node10']);
  });

  it('refuses a filter with an unknown field, though the field list may name one', () => {
    expect(() => runQuery('group', ['nosuch'], ['?', 'nosuch'], groupRows({ config }))).toThrow(
      'unknown group field "nosuch" in the filter',
    );
  });
});

describe('rows and fields beyond the configuration', () => {
  it("gives a node's role, group, instances, and what gossip observes", () => {
    const rows = nodeRows({ config, live, observed });
    const result = runQuery(
      'node',
      ['name', 'role', 'master', 'group', 'pinst_list', 'status', 'observed', 'last_heard'],
      null,
      rows,
    );
    expect(
      result.data.map((row) => row.map(([status, value]) => (status === normal ? value : status))),
    ).toEqual([
      [
        'node1',
        'M',
        true,
        'default',
        ['inst1', 'inst2', 'inst3'],
        'online/alive',
        'alive',
        { ageMs: 200, stale: false },
      ],
      ['node2', 'O', false, 'default', [], 'offline/?', noData, noData],
      ['node10', 'D', false, 'rack2', [], 'drained/suspect', 'suspect', { ageMs: 9000, stale: true }],
    ]);
    // A master the caller knows better than the configuration wins.
    expect(column('node', 'role', nodeRows({ config, masterName: 'node10' }))[2]).toEqual([normal, 'M']);
  });

  it("counts a group's nodes and primary instances", () => {
    expect(
      fieldRecords('group', groupRows({ config }), [
        'name',
        'node_cnt',
        'pinst_cnt',
        'pinst_list',
        'ipolicy',
        'custom_ipolicy',
      ]),
    ).toEqual([
      {
        name: 'default',
        node_cnt: 2,
        pinst_cnt: 3,
        pinst_list: ['inst1', 'inst2', 'inst3'],
        ipolicy: { 'disk-templates': ['file', 'diskless'] },
        custom_ipolicy: {},
      },
      {
        name: 'rack2',
        node_cnt: 1,
        pinst_cnt: 0,
        pinst_list: [],
        ipolicy: { 'disk-templates': ['file'] },
        custom_ipolicy: { 'disk-templates': ['file'] },
      },
    ]);
  });

  it("finds an instance's last move in the job records, and says no data without them", () => {
    const withJobs = instanceRows({ config, jobs });
    expect(column('instance', 'last_move', withJobs)).toEqual([
      [
        normal,
        {
          job: 2,
          time: 1_795_501_591.102908,
          how: 'failed over',
          why: 'gnt:corral:auto-failover: node3 is held dead',
        },
      ],
      [noData, null],
      [noData, null],
    ]);
    expect(column('instance', 'last_move', instanceRows({ config }))[0]).toEqual([noData, null]);
  });

  it("gives a job's opcodes, summaries, log per opcode and timestamps", () => {
    const [first] = fieldRecords('job', jobRows(jobs), [
      'id',
      'summary',
      'opstatus',
      'oplog',
      'opexec',
      'start_ts',
      'end_ts',
      'priority',
    ]);
    expect(first).toEqual({
      id: 1,
      summary: ['CLUSTER_VERIFY', 'INSTANCE_STARTUP(inst2)'],
      opstatus: ['success', 'running'],
      oplog: [[[1, [1, 500_000], 'message', 'verifying']], [[2, [2, 600_000], 'message', 'starting inst2']]],
      opexec: [
        [1, 0],
        [2, 500_000],
      ],
      start_ts: [1, 0],
      end_ts: null,
      priority: 0,
    });
  });

  it('refuses unknown fields when building records', () => {
    expect(() => fieldRecords('node', nodeRows({ config }), ['name', 'nosuch'])).toThrow(
      'unknown node field nosuch; list-fields shows the known ones',
    );
  });
});

describe('what a query needs fetched', () => {
  it('asks the nodes only for live fields, in the field list or the filter', () => {
    expect(needsLiveData('instance', ['name', 'os'])).toBe(false);
    expect(needsLiveData('instance', ['name', 'oper_ram'])).toBe(true);
    expect(needsLiveData('instance', ['name'], ['==', 'status', 'running'])).toBe(true);
    expect(needsLiveData('node', ['name', 'nosuch'])).toBe(false);
    expect(neededData('node', ['name', 'status'])).toEqual({ live: false, observed: true, jobs: false });
    expect(neededData('instance', ['last_move'], ['?', 'oper_state'])).toEqual({
      live: true,
      observed: false,
      jobs: true,
    });
    expect(neededData('group', ['name'])).toEqual({ live: false, observed: false, jobs: false });
  });

  it('refuses a bad filter before anything is fetched', () => {
    expect(() => neededData('instance', ['name'], ['==', 'nosuch', 1])).toThrow(
      'unknown instance field "nosuch" in the filter',
    );
  });
});

describe('field definitions', () => {
  it('describes named fields in the order asked, unknown ones as Ganeti does', () => {
    expect(fieldDefinitions('node', ['role', 'zzz'])).toEqual([
      {
        name: 'role',
        title: 'Role',
        kind: 'text',
        doc: 'Node role; "M" for master, "C" for master candidate, "R" for regular, "D" for drained, "O" for offline',
      },
      { name: 'zzz', title: 'zzz', kind: 'unknown', doc: "Unknown field 'zzz'" },
    ]);
  });
});
