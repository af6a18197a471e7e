import { describe, expect, it } from 'vitest';
import { hookEnvironment, postEnvironment } from '../../src/master/hook-env.js';

describe('hook environments', () => {
  const base = {
    hpath: 'instance-start',
    opCode: 'OP_INSTANCE_STARTUP',
    objectType: 'INSTANCE',
    cluster: 'cluster.example.com',
    master: 'node1.example.com',
    dataDir: '/var/lib/corral',
    target: 'inst1.example.com',
  } as const;

  it('sets the common variables and renders the operation ones as Ganeti does', () => {
    expect(
      hookEnvironment({
        ...base,
        phase: 'pre',
        extra: { FORCE: false, IGNORE: true, TIMEOUT: 120, INSTANCE_SECONDARIES: ['node2', 'node3'] },
      }),
    ).toEqual({
      GANETI_HOOKS_VERSION: '2',
      GANETI_HOOKS_PHASE: 'pre',
      GANETI_HOOKS_PATH: 'instance-start',
      GANETI_OP_CODE: 'OP_INSTANCE_STARTUP',
      GANETI_OBJECT_TYPE: 'INSTANCE',
      GANETI_CLUSTER: 'cluster.example.com',
      GANETI_MASTER: 'node1.example.com',
      GANETI_DATA_DIR: '/var/lib/corral',
      GANETI_OP_TARGET: 'inst1.example.com',
      GANETI_FORCE: 'False',
      GANETI_IGNORE: 'True',
      GANETI_TIMEOUT: '120',
      GANETI_INSTANCE_SECONDARIES: 'node2 node3',
    });
  });

  it('refuses operation variables given with a prefix or not in capitals', () => {
    for (const name of ['GANETI_FORCE', 'POST_FORCE', 'force', ''])
      expect(() => hookEnvironment({ ...base, phase: 'pre', extra: { [name]: 'x' } })).toThrow(
        expect.objectContaining({ code: 'bad_request' }),
      );
  });

  it('keeps the pre environment for post hooks and adds the recomputed variables under GANETI_POST_', () => {
    const pre = hookEnvironment({
      ...base,
      phase: 'pre',
      extra: { INSTANCE_NAME: 'inst1', INSTANCE_STATUS: 'down' },
    });
    const post = hookEnvironment({
      ...base,
      phase: 'post',
      target: 'inst2.example.com',
      extra: { INSTANCE_NAME: 'inst2', INSTANCE_STATUS: 'up' },
    });
    expect(postEnvironment(pre, post)).toEqual({
      ...pre,
      GANETI_HOOKS_PHASE: 'post',
      GANETI_POST_OP_TARGET: 'inst2.example.com',
      GANETI_POST_INSTANCE_NAME: 'inst2',
      GANETI_POST_INSTANCE_STATUS: 'up',
    });
  });
});
