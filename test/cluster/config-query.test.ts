import { describe, expect, it } from 'vitest';
import { parseConfigQuery } from '../../src/cli/commands/config.js';
import { answerConfigQuery, type ConfigAnswer, freshestAnswer } from '../../src/cluster/config-query.js';
import type { InstanceRecord } from '../../src/cluster/model.js';
import { configOf, nodeRecord } from '../helpers/config.js';

const config = configOf({
  nodes: [
    nodeRecord(1),
    nodeRecord(2, { masterCandidate: false }),
    nodeRecord(3, { masterCandidate: false, drained: true }),
    nodeRecord(4, { masterCandidate: false, offline: true }),
  ],
  instances: [
    { uuid: 'i-1', name: 'web1', nics: [{ ip: '198.51.100.7' }, {}] } as unknown as InstanceRecord,
    { uuid: 'i-2', name: 'db1', nics: [{ ip: '198.51.100.9' }] } as unknown as InstanceRecord,
  ],
  master: nodeRecord(1).id,
  serial: 42,
});

describe("config queries (Ganeti's confd)", () => {
  it('answers each question from one replica, with its serial', () => {
    expect(answerConfigQuery(config, { type: 'cluster-master' })).toEqual({ serial: 42, value: 'node1' });
    const role = (node: string) => answerConfigQuery(config, { type: 'node-role', node }).value;
    expect(['node1', 'node2', 'node3', 'node4', 'node9'].map(role)).toEqual([
      'master',
      'regular',
      'drained',
      'offline',
      null,
    ]);
    expect(answerConfigQuery(config, { type: 'node-pip-list' }).value).toEqual([
      '192.0.2.1',
      '192.0.2.2',
      '192.0.2.3',
      '192.0.2.4',
    ]);
    expect(answerConfigQuery(config, { type: 'mc-pip-list' }).value).toEqual(['192.0.2.1']);
    expect(answerConfigQuery(config, { type: 'instances-ips-list' }).value).toEqual([
      '198.51.100.9',
      '198.51.100.7',
    ]);
    expect(answerConfigQuery({ ...config, master: undefined }, { type: 'cluster-master' }).value).toBeNull();
  });

  it('keeps the reply with the highest serial, whoever gave it first', () => {
    const replies: { node: string; answer?: ConfigAnswer; error?: string }[] = [
      { node: 'a', answer: { serial: 7, value: 'old' } },
      { node: 'b', error: 'timeout' },
      { node: 'c', answer: { serial: 9, value: 'new' } },
      { node: 'd', answer: { serial: 9, value: 'same' } },
    ];
    expect(freshestAnswer(replies)).toEqual({ node: 'c', answer: { serial: 9, value: 'new' } });
    expect(freshestAnswer(replies.filter((reply) => reply.answer === undefined))).toBeUndefined();
  });

  it('reads the CLI key and refuses what does not fit, in one line', () => {
    expect(parseConfigQuery('node-role', 'node2')).toEqual({ type: 'node-role', node: 'node2' });
    expect(parseConfigQuery('cluster-master', undefined)).toEqual({ type: 'cluster-master' });
    expect(() => parseConfigQuery('node-role', undefined)).toThrow(/needs a node name/);
    expect(() => parseConfigQuery('mc-pip-list', 'x')).toThrow(/takes no argument/);
    expect(() => parseConfigQuery('master', undefined)).toThrow(
      /^unknown key master; known: cluster-master, node-role/,
    );
  });
});
