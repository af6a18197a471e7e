import { describe, expect, it } from 'vitest';
import { globPattern, listArguments, parseFilter } from '../../../src/cluster/query/index.js';

describe("the query language (the CLI's -F)", () => {
  it.each([
    ['offline', ['?', 'offline']],
    ['name == "node1"', ['==', 'name', 'node1']],
    ["name = 'web1'", ['==', 'name', 'web1']],
    ['pinst_cnt != 0', ['!=', 'pinst_cnt', 0]],
    ['pinst_cnt>=-1', ['>=', 'pinst_cnt', -1]],
    ['be/maxmem < 1024', ['<', 'be/maxmem', 1024]],
    ['be/maxmem <= +512', ['<=', 'be/maxmem', 512]],
    ['ctime > 1795501585', ['>', 'ctime', 1_795_501_585]],
    ['offline == true', ['==', 'offline', true]],
    ['drained == false', ['==', 'drained', false]],
    [
      'pnode == "node1" and admin_state == "up"',
      ['&', ['==', 'pnode', 'node1'], ['==', 'admin_state', 'up']],
    ],
    ['a and b and c', ['&', ['?', 'a'], ['?', 'b'], ['?', 'c']]],
    ['a or b and c', ['|', ['?', 'a'], ['&', ['?', 'b'], ['?', 'c']]]],
    ['not a and b', ['&', ['!', ['?', 'a']], ['?', 'b']]],
    ['not not a', ['!', ['!', ['?', 'a']]]],
    ['not (a or b)', ['!', ['|', ['?', 'a'], ['?', 'b']]]],
    [
      '(be/vcpus == 3 or be/vcpus == 6) and pnode.group =~ m/^rack/',
      ['&', ['|', ['==', 'be/vcpus', 3], ['==', 'be/vcpus', 6]], ['=~', 'pnode.group', '^rack']],
    ],
    ['name =~ /^web/i', ['=~', 'name', '(?i)^web']],
    ['name =~ m#a/b#si', ['=~', 'name', '(?is)a/b']],
    ['name =~ |x\\|y|', ['=~', 'name', 'x|y']],
    ['name =~ /^web\\d+$/', ['=~', 'name', '^web\\d+$']],
    ['name !~ /x/', ['!', ['=~', 'name', 'x']]],
    ['name =* "*.site1"', ['=~', 'name', '^[^.]*\\.site1(\\..*)?$']],
    ['name !* "web?"', ['!', ['=~', 'name', '^web[^.](\\..*)?$']]],
    ['"web" in tags', ['=[]', 'tags', 'web']],
    ["'web' not in tags", ['!', ['=[]', 'tags', 'web']]],
    ['1024 in disk.sizes', ['=[]', 'disk.sizes', 1024]],
    ['true in nic.ips', ['=[]', 'nic.ips', true]],
    ['"it\\"s" in tags', ['=[]', 'tags', 'it"s']],
    ['ipolicy/disk-templates', ['?', 'ipolicy/disk-templates']],
  ])('%s', (text, expected) => {
    expect(parseFilter(text)).toEqual(expected);
  });

  it.each([
    ['', 'at column 1: expected a condition (a field name, or a value before "in"), found the end'],
    [
      'name ==',
      'at column 8: expected a value after "==" (a number, a "quoted string", true or false), found the end',
    ],
    [
      'name == web1',
      'at column 9: expected a value after "==" (a number, a "quoted string", true or false), found "web1"',
    ],
    ['(name == "x"', 'at column 13: expected ")" to close the "(" at column 1, found the end'],
    ['name == "x', 'at column 9: the string that starts here has no closing "'],
    ['name == "x" xor y', 'at column 13: expected "and", "or" or the end, found "xor"'],
    ['5 tags', 'at column 3: a value starts a condition only as "VALUE in FIELD", found "tags" after it'],
    ['"web" in 5', 'at column 10: expected a field name after "in", found "5"'],
    ['name $ 3', 'at column 6: unexpected "$"'],
    ['name =~ web', 'at column 9: expected a regular expression after "=~", such as /^web/ or m#a/b#i'],
    ['name =~ /x', 'at column 9: the regular expression has no closing /'],
    ['name =~ /x/q', 'at column 12: unknown regular expression flags "q" (i and s are known)'],
    ['name =* web', 'at column 9: expected a "quoted glob" after "=*", found "web"'],
    ['and', 'at column 1: expected a condition (a field name, or a value before "in"), found "and"'],
  ])('refuses %j', (text, message) => {
    expect(() => parseFilter(text)).toThrow(`bad filter ${JSON.stringify(text)} ${message}`);
  });

  it('refuses a bad regular expression where it is written', () => {
    expect(() => parseFilter('name =~ /[/')).toThrow(/bad regular expression "\[" for field the filter: /);
  });

  it('throws CorralErrors a caller answers as bad requests', () => {
    try {
      parseFilter('name ==');
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ name: 'CorralError', code: 'bad_request' });
    }
  });
});

describe("list commands' arguments, as Ganeti reads them", () => {
  it('keeps plain names as names', () => {
    expect(listArguments(['web1', 'web2'], false)).toEqual({ names: ['web1', 'web2'] });
    expect(listArguments([], false)).toEqual({ names: [] });
  });

  it('reads a lone argument that looks like a filter as one, and any with -F', () => {
    expect(listArguments(['pinst_cnt != 0'], false)).toEqual({ filter: ['!=', 'pinst_cnt', 0] });
    expect(listArguments(['offline'], true)).toEqual({ filter: ['?', 'offline'] });
    expect(() => listArguments(['a', 'b'], true)).toThrow(
      '-F takes exactly one argument, the filter (quote it), not 2',
    );
  });

  it('turns globs into a filter on the name field, keeping plain names beside them', () => {
    expect(listArguments(['web*', 'db1'], false)).toEqual({
      filter: ['|', ['=~', 'name', globPattern('web*')], ['==', 'name', 'db1']],
    });
  });

  it('takes job IDs as numbers', () => {
    expect(listArguments(['3', '14'], false, { nameField: 'id', numeric: true })).toEqual({
      names: ['3', '14'],
    });
    expect(() => listArguments(['x1'], false, { numeric: true })).toThrow(
      'x1 is not a job ID (a whole number)',
    );
    expect(listArguments(['id > 3'], false, { nameField: 'id', numeric: true })).toEqual({
      filter: ['>', 'id', 3],
    });
  });

  it('matches DNS-name globs as Ganeti does: within one label, then any domain', () => {
    const glob = new RegExp(globPattern('web?.*'));
    expect(glob.test('web1.site1')).toBe(true);
    expect(glob.test('web1.site1.example.com')).toBe(true);
    expect(glob.test('web12.site1')).toBe(false);
    expect(new RegExp(globPattern('*')).test('anything.at.all')).toBe(true);
  });
});
