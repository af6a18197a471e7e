import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseIAllocRequest } from '../../src/alloc/iallocator/request.js';
import { answerRequest } from '../../src/alloc/iallocator/respond.js';
import { htool } from '../cli/run-htool.js';

const request = (name: string): string =>
  readFileSync(new URL(`fixtures/${name}.request`, import.meta.url), 'utf8');
const answer = (name: string) => answerRequest(parseIAllocRequest(request(name), name));

const replace = (instance: string, node: string) => ({
  OP_ID: 'OP_INSTANCE_REPLACE_DISKS',
  instance_name: instance,
  mode: 'replace_new_secondary',
  remote_node: node,
  disks: [],
  early_release: false,
  ignore_ipolicy: false,
});
const migrate = (instance: string) => ({
  OP_ID: 'OP_INSTANCE_MIGRATE',
  instance_name: instance,
  cleanup: false,
  allow_failover: true,
  allow_runtime_changes: false,
  ignore_ipolicy: false,
  ignore_hvversions: true,
});

// The expected results are hail 3.0.2's answers to the same requests.
describe('iallocator answers', () => {
  it('allocates a DRBD instance where hail does', () => {
    const a = answer('hail-alloc-drbd');
    expect(a.success).toBe(true);
    expect(a.result).toEqual(['node2', 'node1']);
    expect(a.info).toContain('Group default (preferred): score: 11.75836082, successes 12, failures 0');
  });

  it('relocates a secondary', () => {
    expect(answer('hail-reloc-drbd')).toMatchObject({ success: true, result: ['node1'] });
  });

  it('multi-allocates on a dedicated (exclusive storage) cluster', () => {
    expect(answer('hail-multialloc-dedicated').result).toEqual([
      [
        ['instance-new-quarter-1', ['node2-quarter']],
        ['instance-new-quarter-2', ['node3-half']],
      ],
      [],
    ]);
  });

  it('places each instance of a multi-allocation on the cluster the earlier ones left, unlike hail', () => {
    const message = JSON.parse(request('hail-multialloc-dedicated'));
    message.request.group_name = 'default';
    const parsed = parseIAllocRequest(JSON.stringify(message), 'r.json');
    // hail 3.0.2 places both on node2-quarter: into a named group it forgets the first placement.
    expect(answerRequest(parsed, { hailQuirks: true }).result).toEqual([
      [
        ['instance-new-quarter-1', ['node2-quarter']],
        ['instance-new-quarter-2', ['node2-quarter']],
      ],
      [],
    ]);
    expect(answerRequest(parsed).result).toEqual([
      [
        ['instance-new-quarter-1', ['node2-quarter']],
        ['instance-new-quarter-2', ['node3-half']],
      ],
      [],
    ]);
  });

  it('evacuates a node and changes group with hail’s three-opcode job', () => {
    expect(answer('hail-node-evac').result).toEqual([
      [['instance2', 'default', ['node2', 'node1']]],
      [],
      [[replace('instance2', 'node2'), migrate('instance2'), replace('instance2', 'node1')]],
    ]);
    expect(answer('hail-change-group').result).toEqual([
      [['instance14', 'empty', ['node11', 'node10']]],
      [],
      [[replace('instance14', 'node11'), migrate('instance14'), replace('instance14', 'node10')]],
    ]);
  });

  // hail's own words (its stderr, after "Error: ").
  it('refuses malformed requests naming the key at fault, as hail does', () => {
    expect(() => parseIAllocRequest('{', 'r.json')).toThrow('Parsing input IAllocator message: Invalid JSON');
    expect(() => parseIAllocRequest('[]', 'r.json')).toThrow(
      'Parsing input IAllocator message: Unable to read JSObject',
    );
    expect(() => parseIAllocRequest('{}', 'r.json')).toThrow(
      "invalid iallocator message: key 'request' not found, object contains only []",
    );
    expect(() => parseIAllocRequest('{"request": 0}', 'r.json')).toThrow(
      "invalid iallocator message: key 'request': Unable to read JSObject",
    );
    const broken = JSON.parse(request('hail-alloc-drbd'));
    delete broken.nodes.node1.total_memory;
    expect(() => parseIAllocRequest(JSON.stringify(broken), 'r.json')).toThrow(
      "invalid data for node 'node1': key 'total_memory' not found",
    );
    const unknown = JSON.parse(request('hail-reloc-drbd'));
    unknown.request.name = 'ghost';
    expect(() => parseIAllocRequest(JSON.stringify(unknown), 'r.json')).toThrow("Unknown instance 'ghost'");
    unknown.request.name = 7;
    expect(() => parseIAllocRequest(JSON.stringify(unknown), 'r.json')).toThrow(
      "invalid request dict: key 'name': Unable to read String",
    );
  });
});

const hail = (...argv: string[]) => htool('hail', ...argv);

const shelltestData = (name: string): string =>
  new URL(`../ganeti-htools/data/${name}`, import.meta.url).pathname;

// What Debian's hail 3.0.2 printed and wrote for the same command lines.
describe('the hail tool', () => {
  it('needs exactly one request file and says why a request is unreadable', async () => {
    expect(await hail()).toEqual({ code: 1, out: '', err: 'Error: This program needs an input file.\n' });
    expect((await hail('a', 'b')).err).toBe('Error: Only one argument is accepted (the input file)\n');
    const empty = await hail('/dev/null');
    expect(empty.code).toBe(1);
    expect(empty.err).toMatch(/^Error: Parsing input IAllocator message: Invalid JSON/);
  });

  it('answers on stdout, warns on stderr and saves the cluster before and after (-S)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hail-'));
    const base = join(dir, 'run');
    const { code, out, err } = await hail('-S', base, shelltestData('hail-alloc-drbd.json'));
    expect(code).toBe(0);
    expect(out).toBe(
      '{"success":true,"info":"Request successful: Selected group: default, Group default (preferred): score: 11.75836082, successes 12, failures 0 () for node(s) node2/node1","result":["node2","node1"]}\n',
    );
    expect(err).toBe(
      `Warning: cluster has inconsistent data:\n  - node node4 is missing 8832 MB ram and 0 GB disk\n\nThe cluster state before iallocator run has been written to file '${base}.pre-ialloc'\nThe cluster state after iallocator run has been written to file '${base}.post-ialloc'\n`,
    );
    const before = readFileSync(`${base}.pre-ialloc`, 'utf8').split('\n');
    const after = readFileSync(`${base}.post-ialloc`, 'utf8').split('\n');
    expect(before.slice(2, 4)).toEqual([
      'node1|32763|1017|31389|1377280|1377280|4|N|uuid-group-1|1||N|12|1|1.0',
      'node2|32763|1017|31746|1377280|1376640|4|N|uuid-group-1|1||N|12|1|1.0',
    ]);
    // Free memory stays as reported; the new instance is filed first.
    expect(after.slice(2, 4)).toEqual([
      'node1|32763|1017|31389|1377280|1376256|4|N|uuid-group-1|1||N|0|1|1.0',
      'node2|32763|1017|31746|1377280|1375616|4|N|uuid-group-1|1||N|0|1|1.0',
    ]);
    expect(after[7]).toBe('instance1|1024|1024|1|running|Y|node2|node1|drbd||1|1|N');
    expect(after.filter((line) => !before.includes(line))).toHaveLength(3);
  });
});
