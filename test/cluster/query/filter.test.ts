import { describe, expect, it } from 'vitest';
import {
  instanceRows,
  jobRows,
  type QueryFilter,
  type QueryResource,
  runQuery,
} from '../../../src/cluster/query/index.js';
import { config, jobs, live } from './fixture.js';

const instances = instanceRows({ config, live });

/** The names of the instances a filter passes. */
const pass = (filter: QueryFilter) =>
  runQuery('instance', ['name'], filter, instances).data.map((row) => row[0]![1]);

const refusal = (filter: unknown, resource: QueryResource = 'instance') => {
  try {
    runQuery(resource, ['name'], filter, []);
  } catch (error) {
    expect(error).toMatchObject({ name: 'CorralError', code: 'bad_request' });
    return (error as Error).message;
  }
  return 'accepted';
};

describe('list-form filters: checked whole, refused in words', () => {
  it.each([
    [5, 'a query filter is a list such as ["==", "name", "web1"], not 5'],
    [[], 'a query filter cannot be an empty list; leave it out to match everything'],
    [['~~', 'name', 'x'], 'unknown filter operator "~~"; the operators are | & ! ? == = != < > <= >= =~ =[]'],
    [[7], 'unknown filter operator 7; the operators are | & ! ? == = != < > <= >= =~ =[]'],
    [
      ['==', 'nosuch', 'x'],
      'unknown instance field "nosuch" in the filter; list-fields shows the known ones',
    ],
    [['?', 'nosuch'], 'unknown instance field "nosuch" in the filter; list-fields shows the known ones'],
    [['==', 5, 'x'], 'the filter operator "==" needs a field name (a string), not 5'],
    [
      ['==', 'name'],
      'the filter operator "==" takes a field name and a value, as in ["==", "name", "web1"], not 1 operands',
    ],
    [
      ['<', 'name', 'a', 'b'],
      'the filter operator "<" takes a field name and a value, as in ["<", "name", "web1"], not 3 operands',
    ],
    [
      ['!', ['?', 'admin_up'], ['?', 'admin_up']],
      'the filter operator "!" takes one filter, as in ["!", ["?", "offline"]], not 2',
    ],
    [['?'], 'the filter operator "?" takes one field name, as in ["?", "offline"], not 0'],
    [
      ['&', ['==', 'name', 'x'], 'name'],
      'a query filter is a list such as ["==", "name", "web1"], not "name"',
    ],
    [
      ['==', 'disk.count', 'two'],
      'the filter compares number field disk.count with "two"; it takes a whole number',
    ],
    [
      ['==', 'be/maxmem', 1.5],
      'the filter compares unit field be/maxmem with 1.5; it takes a whole number (MiB)',
    ],
    [['==', 'name', 5], 'the filter compares text field name with 5; it takes a string'],
    [['==', 'admin_up', 'yes'], 'the filter compares bool field admin_up with "yes"; it takes true or false'],
    [['>', 'tags', ['a']], '">" compares with a number or a string, not ["a"]'],
    [['=~', 'name', 5], '"=~" matches field name against a regular expression (a string), not 5'],
    [['=~', 'name', '(web'], 'bad regular expression "(web" for field name: /(web/: Unterminated group'],
    [
      ['=~', 'name', '(?x)web'],
      'bad regular expression "(?x)web" for field name: flag x is not supported (i, s and m are)',
    ],
    [
      ['=[]', 'tags', ['a']],
      '"=[]" looks for one value (a string, number or boolean) in field tags, not ["a"]',
    ],
  ])('refuses %j', (filter, message) => {
    expect(refusal(filter)).toBe(message);
  });

  it('refuses filters nested deeper than Ganeti allows', () => {
    let filter: unknown = ['?', 'admin_up'];
    for (let depth = 0; depth < 10; depth++) filter = ['!', filter];
    expect(refusal(filter)).toBe('the filter nests deeper than 10 levels');
  });

  it('names the resource whose field is unknown', () => {
    expect(refusal(['?', 'pnode'], 'job')).toBe(
      'unknown job field "pnode" in the filter; list-fields shows the known ones',
    );
  });
});

describe('evaluation', () => {
  it('compares text, numbers and booleans, with == and its legacy =', () => {
    expect(pass(['==', 'name', 'inst2'])).toEqual(['inst2']);
    expect(pass(['=', 'admin_state', 'up'])).toEqual(['inst1', 'inst3']);
    expect(pass(['!=', 'admin_state', 'up'])).toEqual(['inst2']);
    expect(pass(['>', 'be/maxmem', 128])).toEqual(['inst2']);
    expect(pass(['<=', 'be/vcpus', 1])).toEqual(['inst1', 'inst3']);
    expect(pass(['>=', 'name', 'inst2'])).toEqual(['inst2', 'inst3']);
    expect(pass(['==', 'admin_up', false])).toEqual(['inst2']);
    expect(pass(['==', 'disk.sizes', [1024]])).toEqual(['inst2']);
  });

  it('combines with &, | and !, and tests truth with ?', () => {
    expect(pass(['&', ['==', 'admin_state', 'up'], ['!', ['==', 'name', 'inst1']]])).toEqual(['inst3']);
    expect(pass(['|', ['==', 'name', 'inst1'], ['==', 'name', 'inst2']])).toEqual(['inst1', 'inst2']);
    expect(pass(['?', 'tags'])).toEqual(['inst1']);
    expect(pass(['!', ['?', 'disks_active']])).toEqual(['inst2']);
    expect(pass(['&'])).toEqual(['inst1', 'inst2', 'inst3']);
    expect(pass(['|'])).toEqual([]);
  });

  it("matches regular expressions in Python's spelling, and looks in lists with =[]", () => {
    expect(pass(['=~', 'name', '^inst[12]$'])).toEqual(['inst1', 'inst2']);
    expect(pass(['=~', 'os', '(?i)^NOOP'])).toEqual(['inst1', 'inst2', 'inst3']);
    expect(pass(['=~', 'name', '(?P<n>inst)3'])).toEqual(['inst3']);
    expect(pass(['=[]', 'tags', 'web'])).toEqual(['inst1']);
    expect(pass(['=[]', 'disk.sizes', 1024])).toEqual(['inst2']);
    expect(pass(['=~', 'ip', '^192\\.'])).toEqual(['inst3']);
  });

  it('lets a condition pass when its field has no value, as Ganeti does', () => {
    // inst2 is stopped: its live memory is unavailable, so the comparison cannot rule it out.
    expect(pass(['>', 'oper_ram', 1000])).toEqual(['inst2']);
    // Without live data nothing can be ruled out on live fields.
    const offlineRows = instanceRows({ config });
    expect(runQuery('instance', ['name'], ['==', 'status', 'running'], offlineRows).data).toHaveLength(3);
    expect(pass(['==', 'status', 'running'])).toEqual(['inst1', 'inst3']);
  });

  it("refuses a condition that does not fit the field's values", () => {
    expect(() => pass(['=~', 'tags', 'web'])).toThrow(
      '"=~" matches text, but field tags holds a list; use "=[]" to look in a list',
    );
    expect(() => pass(['=[]', 'name', 'inst1'])).toThrow(
      '"=[]" looks in a list, but field name holds string "inst1"',
    );
    expect(() => pass(['<', 'beparams', 5])).toThrow(
      '"<" compares numbers or strings, but field beparams holds a dict and the filter gives 5',
    );
  });

  it("compares a job's [seconds, microseconds] timestamps as seconds", () => {
    const ids = (filter: QueryFilter) =>
      runQuery('job', ['id'], filter, jobRows(jobs)).data.map((row) => row[0]![1]);
    expect(ids(['>', 'received_ts', 1_795_501_590])).toEqual([2, 3]);
    expect(ids(['<', 'end_ts', 1_795_501_591.2])).toEqual([1, 2, 3]);
    // Jobs 1 and 3 have not ended: their end_ts has no value, so neither condition rules them out.
    expect(ids(['>', 'end_ts', 1_795_501_591.2])).toEqual([1, 3]);
    expect(ids(['>', 'end_ts', 1_795_501_591])).toEqual([1, 2, 3]);
    expect(ids(['==', 'status', 'running'])).toEqual([1]);
    expect(ids(['=[]', 'opstatus', 'running'])).toEqual([1]);
    expect(ids(['>=', 'id', 2])).toEqual([2, 3]);
  });
});
