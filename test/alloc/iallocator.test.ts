import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseIAllocRequest } from '../../src/alloc/iallocator/request.js';
import { answerRequest } from '../../src/alloc/iallocator/respond.js';

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

  it('refuses malformed requests naming the key at fault', () => {
    expect(() => parseIAllocRequest('{', 'r.json')).toThrow('r.json: not valid JSON');
    const broken = JSON.parse(request('hail-alloc-drbd'));
    broken.nodes.node1.total_memory = -1;
    expect(() => parseIAllocRequest(JSON.stringify(broken), 'r.json')).toThrow(
      'r.json: key nodes.node1.total_memory',
    );
    delete broken.nodes.node1.total_memory;
    expect(() => parseIAllocRequest(JSON.stringify(broken), 'r.json')).toThrow(
      'r.json: key nodes.node1.total_memory: required for a live node',
    );
    const unknown = JSON.parse(request('hail-reloc-drbd'));
    unknown.request.name = 'ghost';
    expect(() => parseIAllocRequest(JSON.stringify(unknown), 'r.json')).toThrow(
      'key request.name: unknown instance ghost',
    );
  });
});
