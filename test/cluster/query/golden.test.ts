import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  bulkFields,
  fieldDefinitions,
  fieldRecords,
  groupRows,
  instanceRows,
  jobItemFields,
  jobRows,
  nodeRows,
} from '../../../src/cluster/query/index.js';
import { config, jobs, live } from './fixture.js';

/**
 * RAPI's bulk dicts must carry exactly the keys a real Ganeti 3.0 gives, with the same JSON types: the golden
 * bodies under test/api/rapi/golden/ were captured from one.
 */

const goldenDir = new URL('../../api/rapi/golden/', import.meta.url);
const golden = (file: string) =>
  (JSON.parse(readFileSync(new URL(file, goldenDir), 'utf8')) as { body: unknown }).body;

/** A value's JSON type; for a list, the types its elements have (one level down). */
function jsonType(value: unknown): unknown {
  if (value === null) return 'null';
  if (Array.isArray(value))
    return [
      ...new Set(value.map((item) => (Array.isArray(item) ? 'array' : (jsonType(item) as string)))),
    ].sort();
  return typeof value;
}

const types = (record: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(record).map(([key, value]) => [key, jsonType(value)]));

/** Ours has the golden types, where an empty golden list (no tags, no disks) stands for any list. */
function expectSameTypes(ours: Record<string, unknown>, theirs: Record<string, unknown>): void {
  const expected = types(theirs);
  const got = types(ours);
  for (const [key, type] of Object.entries(expected))
    if (Array.isArray(type) && type.length === 0 && Array.isArray(got[key])) got[key] = [];
  expect(got).toEqual(expected);
}

describe('bulk field lists match the golden RAPI bodies', () => {
  it('instances: the keys, and per row the JSON type of every value', () => {
    const body = golden('2-instances-bulk.json') as Record<string, unknown>[];
    const records = fieldRecords('instance', instanceRows({ config, live }));
    expect(Object.keys(records[0]!).sort()).toEqual(Object.keys(body[0]!).sort());
    expect([...bulkFields.instance].sort()).toEqual(Object.keys(body[0]!).sort());
    // inst1 is up and runs diskless, inst2 is down with one file disk: as rapi-inst1 and rapi-inst2.
    expectSameTypes(records[0]!, body[0]!);
    expectSameTypes(records[1]!, body[1]!);
    expect(records[0]).toMatchObject({
      name: 'inst1',
      admin_state: 'up',
      status: 'running',
      oper_state: true,
      oper_ram: 128,
      oper_vcpus: 1,
      beparams: { always_failover: false, auto_balance: true, maxmem: 128, memory: 128, minmem: 128 },
      pnode: 'node1',
      'nic.bridges': ['gntbr0'],
      'nic.ips': [null],
      network_port: null,
      disk_usage: 0,
      tags: ['web'],
    });
    expect(records[1]).toMatchObject({
      status: 'ADMIN_down',
      oper_ram: null,
      oper_vcpus: null,
      'disk.sizes': [1024],
      'disk.spindles': [null],
      'disk.names': [null],
      custom_beparams: { maxmem: 256, minmem: 256, vcpus: 2 },
    });
  });

  it('nodes: the keys and types', () => {
    const body = golden('2-nodes-bulk.json') as Record<string, unknown>[];
    const [record] = fieldRecords('node', nodeRows({ config, live }));
    expect(Object.keys(record!).sort()).toEqual(Object.keys(body[0]!).sort());
    expectSameTypes(record!, body[0]!);
    expect(record).toMatchObject({
      name: 'node1',
      role: 'M',
      dtotal: 258019,
      dfree: 80461,
      mtotal: 24105,
      mfree: 23366,
      mnode: 24105 - 23366 - 256,
      ctotal: 2,
      cnos: 1,
      cnodes: 1,
      csockets: 1,
      pinst_cnt: 3,
      pinst_list: ['inst1', 'inst2', 'inst3'],
      sinst_list: [],
      'group.uuid': 'g-1',
      sptotal: null,
    });
    // The single node GET gives the same keys plus RAPI's secondary_ip alias of sip.
    const item = golden('2-nodes-NAME.json') as Record<string, unknown>;
    expect(
      Object.keys(item)
        .filter((key) => key !== 'secondary_ip')
        .sort(),
    ).toEqual(Object.keys(record!).sort());
  });

  it('groups: the keys and types', () => {
    const body = golden('2-groups-bulk.json') as Record<string, unknown>[];
    const [record] = fieldRecords('group', groupRows({ config }));
    expect(Object.keys(record!).sort()).toEqual(Object.keys(body[0]!).sort());
    expectSameTypes(record!, body[0]!);
    expect(record).toMatchObject({ name: 'default', node_cnt: 2, node_list: ['node1', 'node2'] });
  });

  it('jobs: the bulk keys and types, and the item keys with oplog and opresult', () => {
    const body = golden('2-jobs-bulk.json') as Record<string, unknown>[];
    const records = fieldRecords('job', jobRows(jobs));
    const finished = records.find((record) => record.id === 2)!;
    expect(Object.keys(finished).sort()).toEqual(Object.keys(body[0]!).sort());
    expectSameTypes(finished, body[0]!);
    const item = golden('2-jobs-ID.json') as Record<string, unknown>;
    const [detail] = fieldRecords('job', jobRows(jobs.filter((job) => job.id === 2)), jobItemFields);
    expect(Object.keys(detail!).sort()).toEqual(Object.keys(item).sort());
    // An opcode's result is whatever that opcode returns (a failover's is null, a create's a list of nodes).
    expectSameTypes({ ...detail!, opresult: 'per opcode' }, { ...item, opresult: 'per opcode' });
    expect(Array.isArray(detail!.opresult)).toBe(true);
    expect((detail!.oplog as unknown[][])[0]![0]).toEqual([
      1,
      [1_795_501_590, 634_334],
      'message',
      '* failing over...',
    ]);
    expect(records.find((record) => record.id === 3)).toMatchObject({ start_ts: null, end_ts: null });
  });
});

describe('field definitions match Ganeti', () => {
  it("every instance field of the golden /2/query/instance/fields (but the hypervisors' hv/*) has Ganeti's title, kind and doc", () => {
    const body = golden('2-query-instance-fields.json') as { fields: { name: string }[] };
    const wanted = body.fields.filter((field) => !field.name.startsWith('hv/'));
    expect(
      fieldDefinitions(
        'instance',
        wanted.map((field) => field.name),
      ),
    ).toEqual(wanted);
  });

  it('the golden /2/query/instance answer describes its fields as ours do', () => {
    const body = golden('2-query-instance.json') as { fields: { name: string }[] };
    expect(
      fieldDefinitions(
        'instance',
        body.fields.map((field) => field.name),
      ),
    ).toEqual(body.fields);
  });

  it('lists all fields sorted by name, as /2/query/R/fields does', () => {
    for (const resource of ['instance', 'node', 'group', 'job'] as const) {
      const names = fieldDefinitions(resource).map((field) => field.name);
      expect(names).toEqual([...names].sort());
      expect(new Set(names).size).toBe(names.length);
    }
  });
});
