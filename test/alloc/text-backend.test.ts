import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseTextBackend, serializeTextBackend } from '../../src/alloc/text-backend.js';

const fixture = (name: string): string => readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8');

const groups = 'default|uuid-1|preferred||\n';
const node = (name: string, extra = ''): string =>
  `${name}|65536|1024|60000|1048576|1000000|16|N|uuid-1${extra}\n`;

function file(nodes: string, instances: string): string {
  return `${groups}\n${nodes}\n${instances}\n\n`;
}

describe('htools text backend', () => {
  it('reads every example file the way hbal does', () => {
    const excl = parseTextBackend(fixture('hbal-excl-tags.data'), 'excl');
    expect(excl.nodes).toHaveLength(2);
    expect(excl.instances.map((i) => i.name)).toEqual(['dns1', 'dns2', 'ftp1', 'ftp2', 'admin']);
    expect(excl.clusterTags).toEqual(['htools:iextags:service-group']);
    const split = parseTextBackend(fixture('hbal-split-insts.data'), 'split');
    expect(split.groups.map((g) => g.policy.diskTemplates.length)).toEqual([7, 7]);
    expect(split.clusterPolicy.minMax[0]?.max.memoryMiB).toBe(32768);
  });

  it('fills the optional node and instance columns with htools defaults', () => {
    const cluster = parseTextBackend(file(node('n1'), 'i1|1024|2048|2|running|Y|n1||plain|a,b\n'), 'f');
    expect(cluster.nodes[0]).toMatchObject({
      spindles: 1,
      nodeCpus: 1,
      cpuSpeed: 1,
      exclusiveStorage: false,
    });
    expect(cluster.instances[0]).toMatchObject({
      spindleUse: 1,
      forthcoming: false,
      tags: ['a', 'b'],
      secondary: null,
    });
  });

  it('round-trips through its own serialisation', () => {
    const cluster = parseTextBackend(fixture('n1-failure.data'), 'n1');
    expect(parseTextBackend(serializeTextBackend(cluster), 'again')).toEqual(cluster);
  });

  it.each([
    ['a missing column', file('n1|65536|1024\n', ''), 'f:3: a node line needs at least 9 columns'],
    [
      'an unknown group',
      file('n1|65536|1024|60000|1048576|1000000|16|N|nope\n', ''),
      'f:3: node n1 names unknown group UUID nope',
    ],
    [
      'a negative size',
      file('n1|-5|1024|60000|1048576|1000000|16|N|uuid-1\n', ''),
      'f:3: total memory of node n1 must be a number of at least 0, got "-5"',
    ],
    ['a duplicate node', file(node('n1') + node('n1'), ''), 'f:4: node name n1 is already used on line 3'],
    [
      'an unknown node',
      file(node('n1'), 'i1|1024|2048|2|running|Y|n9||plain|\n'),
      "f:5: Unknown node 'n9' for instance i1",
    ],
    [
      'a duplicate instance',
      fixture('hroller-full.data'),
      'f:13: instance name inst-00 is already used on line 12',
    ],
    [
      'a bad status',
      file(node('n1'), 'i1|1024|2048|2|sleeping|Y|n1||plain|\n'),
      'f:5: status of instance i1 must be one of',
    ],
    ['too few sections', `${groups}\n${node('n1')}`, 'f: 2 sections instead of 4 or 5'],
  ])('refuses %s, naming the file and line', (_what, text, message) => {
    expect(() => parseTextBackend(text, 'f')).toThrow(message);
  });
});
