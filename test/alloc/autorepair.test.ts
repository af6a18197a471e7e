import { describe, expect, it } from 'vitest';
import {
  detectBroken,
  initialRepairState,
  parseRepairTag,
  repairPolicy,
  stateCounts,
  withTag,
} from '../../src/alloc/autorepair.js';
import { buildState, type ClusterState } from '../../src/alloc/state.js';
import { parseTextBackend } from '../../src/alloc/text-backend.js';

/** harep's decisions, checked against the rules of Ganeti's Program/Harep.hs and Loader.setArPolicy. */

const AR = 'ganeti:watcher:autorepair:';

function cluster(options: { groupTags?: string; clusterTags?: string[]; instances: string[] }): ClusterState {
  const text = [
    `default|uuid-1|preferred|${options.groupTags ?? ''}|`,
    '',
    'n1|65536|1024|60000|1048576|1000000|16|N|uuid-1',
    'n2|65536|1024|60000|1048576|1000000|16|N|uuid-1',
    'n3|65536|1024|60000|1048576|1000000|16|Y|uuid-1',
    '',
    ...options.instances,
    '',
    ...(options.clusterTags ?? []),
    '',
  ].join('\n');
  return buildState(parseTextBackend(text, 'test'));
}

const inst = (name: string, template: string, nodes: string, tags = '') =>
  `${name}|1024|2048|1|running|Y|${nodes}|${template}|${tags}`;

describe('auto-repair tags', () => {
  it('reads pending and result tags back as written, and ignores malformed ones', () => {
    const pending = withTag({
      type: 'failover',
      uuid: 'u1',
      timeS: 1700000000,
      jobs: [4, 5],
      result: undefined,
    });
    expect(pending.tag).toBe(`${AR}pending:failover:u1:1700000000:4+5`);
    expect(parseRepairTag(pending.tag)).toEqual(pending);
    const refused = withTag({ type: 'reinstall', uuid: 'u2', timeS: 1, jobs: [], result: 'enoperm' });
    expect(refused.tag).toBe(`${AR}result:reinstall:u2:1:enoperm:`);
    expect(parseRepairTag(refused.tag)).toEqual(refused);
    for (const bad of [
      `${AR}pending:explode:u:1:2`,
      `${AR}pending:failover:u:soon:2`,
      `${AR}result:migrate:u:1:2`,
      'other',
    ])
      expect(parseRepairTag(bad)).toBeUndefined();
  });

  it('takes the instance state from its tags: newest result, pending work, the earliest failure', () => {
    const state = cluster({
      instances: [
        inst('ok', 'drbd', 'n1|n2', `${AR}result:failover:a:10:success:1,${AR}result:migrate:b:20:success:2`),
        inst('busy', 'drbd', 'n1|n2', `${AR}result:failover:a:10:success:1,${AR}pending:migrate:b:20:3`),
        inst(
          'bad',
          'drbd',
          'n1|n2',
          `${AR}result:failover:a:10:failure:1,${AR}result:migrate:b:20:success:2`,
        ),
      ],
    });
    const [ok, busy, bad] = state.instances.map(initialRepairState);
    expect(ok?.status).toMatchObject({ kind: 'healthy', data: { uuid: 'b' } });
    expect(ok?.tagsToRemove).toEqual([`${AR}result:failover:a:10:success:1`]);
    expect(busy?.status).toMatchObject({ kind: 'pending', data: { uuid: 'b', jobs: [3] } });
    expect(bad?.status).toMatchObject({ kind: 'failed', data: { uuid: 'a' } });
    expect(stateCounts([ok!, busy!, bad!])).toEqual(['Failure: 1', 'Healthy: 1', 'Pending repair: 1']);
  });

  it('refuses two unfinished repairs of one instance', () => {
    const state = cluster({
      instances: [inst('x', 'drbd', 'n1|n2', `${AR}pending:failover:a:10:1,${AR}pending:migrate:b:20:2`)],
    });
    expect(() => initialRepairState(state.instances[0]!)).toThrow(
      /An unfinished repair was found in instance x/,
    );
  });
});

describe('auto-repair policy', () => {
  it('is the instance’s, else its group’s, else the cluster’s; the least destructive type wins; suspend overrides', () => {
    const state = cluster({
      groupTags: `${AR}migrate`,
      clusterTags: [`${AR}reinstall`],
      instances: [
        inst('own', 'drbd', 'n1|n2', `${AR}reinstall,${AR}failover`),
        inst('group', 'drbd', 'n1|n2'),
        inst('off', 'drbd', 'n1|n2', `${AR}suspend:`),
        inst('later', 'drbd', 'n1|n2', `${AR}suspend:2000,${AR}suspend:100`),
      ],
    });
    const policy = (k: number) => repairPolicy(state, state.instances[k]!, 1000);
    expect(policy(0)).toEqual({ kind: 'enabled', upTo: 'failover' });
    expect(policy(1)).toEqual({ kind: 'enabled', upTo: 'migrate' });
    expect(policy(2)).toEqual({ kind: 'suspended', untilS: 'forever' });
    expect(policy(3)).toEqual({ kind: 'suspended', untilS: 2000 });
    expect(repairPolicy(state, state.instances[3]!, 3000)).toEqual({ kind: 'enabled', upTo: 'migrate' });
    expect(
      repairPolicy(cluster({ instances: [inst('none', 'drbd', 'n1|n2')] }), state.instances[1]!, 0),
    ).toEqual({
      kind: 'not-enabled',
    });
  });
});

describe('what harep repairs', () => {
  it('fails drbd over off an offline primary, replaces an offline secondary, recreates plain disks elsewhere and reinstalls', () => {
    const state = cluster({
      instances: [
        inst('a', 'drbd', 'n3|n1'),
        inst('b', 'drbd', 'n1|n3'),
        inst('c', 'plain', 'n3|'),
        inst('d', 'drbd', 'n1|n2'),
        inst('e', 'sharedfile', 'n3|'),
      ],
    });
    const broken = state.instances.map((i) => detectBroken(state, i));
    expect(broken[0]).toEqual({
      type: 'failover',
      ops: [{ OP_ID: 'OP_INSTANCE_FAILOVER', instance_name: 'a', ignore_consistency: false }],
    });
    expect(broken[1]?.type).toBe('fix-storage');
    expect(broken[1]?.ops[0]).toMatchObject({ mode: 'replace_new_secondary', iallocator: 'hail' });
    expect(broken[2]?.ops.map((op) => op.OP_ID)).toEqual([
      'OP_INSTANCE_RECREATE_DISKS',
      'OP_INSTANCE_REINSTALL',
    ]);
    expect(broken[3]).toBeUndefined();
    expect(broken[4]).toBeUndefined();
  });
});
