import { describe, expect, it } from 'vitest';
import { ClusterState } from '../../src/cluster/cluster-state.js';
import { findNode } from '../../src/cluster/config.js';
import type { Mutation } from '../../src/cluster/mutations.js';
import { applyCommand, foundedCluster } from '../helpers/cluster-state.js';

function founded(pool = 3): ClusterState {
  const state = foundedCluster({ pool });
  for (const n of [2, 3, 4]) {
    change(state, {
      type: 'node-add',
      uuid: `n-${n}`,
      name: `node${n}`,
      id: `peer${n}`,
      addrs: [`/ip4/127.0.0.${n + 1}/tcp/1`],
      primaryIp: `127.0.0.${n + 1}`,
      secondaryIp: `127.0.0.${n + 1}`,
      group: 'g-default',
      masterCandidate: n <= pool,
      masterCapable: true,
      vmCapable: true,
      drained: false,
      offline: false,
    });
  }
  return state;
}

function change(state: ClusterState, mutation: Mutation) {
  return applyCommand(state, { type: 'config', atMs: 2, mutation });
}

const node = (state: ClusterState, name: string) => findNode(state.config!, name)!;

describe('the replicated cluster configuration', () => {
  it('records the founder as master and candidate, and counts a serial per change', () => {
    const state = founded();
    expect(state.config?.master).toBe('peer1');
    expect(node(state, 'node1').masterCandidate).toBe(true);
    expect(state.config?.serial).toBe(4);
  });

  it('refuses a second init, a taken name or a taken peer ID, changing nothing', () => {
    const state = founded();
    const serial = state.config!.serial;
    expect(
      applyCommand(state, {
        type: 'init',
        atMs: 3,
        cluster: {
          name: 'x',
          uuid: 'y',
          candidatePoolSize: 1,
          enabledHypervisors: ['fake'],
          enabledDiskTemplates: ['diskless'],
        },
        group: { uuid: 'g', name: 'g' },
        node: { uuid: 'n', name: 'n', id: 'p', addrs: [], primaryIp: '1', secondaryIp: '1' },
      }),
    ).toMatchObject({ ok: false, code: 'conflict' });
    const again: Mutation = {
      type: 'node-add',
      uuid: 'n-9',
      name: 'node2',
      id: 'peer9',
      addrs: [],
      primaryIp: '1',
      secondaryIp: '1',
      group: 'g-default',
      masterCandidate: false,
      masterCapable: true,
      vmCapable: true,
      drained: false,
      offline: false,
    };
    expect(change(state, again)).toMatchObject({
      ok: false,
      message: expect.stringMatching(/node2 is already/),
    });
    expect(change(state, { ...again, name: 'node9', id: 'peer3' } as Mutation)).toMatchObject({
      ok: false,
      message: expect.stringMatching(/peer3 is already/),
    });
    expect(state.config!.serial).toBe(serial);
  });

  it('keeps the master an online candidate', () => {
    const state = founded();
    for (const changes of [
      { offline: true },
      { drained: true },
      { masterCandidate: false },
      { masterCapable: false },
    ]) {
      expect(change(state, { type: 'node-set', uuid: 'n-1', changes, autoPromote: true })).toMatchObject({
        ok: false,
        message: expect.stringMatching(/is the master/),
      });
    }
    expect(change(state, { type: 'node-remove', uuid: 'n-1' })).toMatchObject({ ok: false });
  });

  it('takes an offline node out of the pool and promotes another to keep its size', () => {
    const state = founded(3);
    expect(node(state, 'node4').masterCandidate).toBe(false);
    expect(
      change(state, { type: 'node-set', uuid: 'n-2', changes: { offline: true }, autoPromote: true }),
    ).toEqual({ ok: true });
    expect(node(state, 'node2')).toMatchObject({ offline: true, masterCandidate: false });
    expect(node(state, 'node4').masterCandidate).toBe(true);
  });

  it('allows one of candidate, drained and offline at a time, and no candidate that is not master capable', () => {
    const state = founded();
    expect(
      change(state, {
        type: 'node-set',
        uuid: 'n-2',
        changes: { drained: true, offline: true },
        autoPromote: false,
      }),
    ).toMatchObject({ ok: false, code: 'bad_request' });
    expect(
      change(state, {
        type: 'node-set',
        uuid: 'n-4',
        changes: { masterCandidate: true, masterCapable: false },
        autoPromote: false,
      }),
    ).toMatchObject({ ok: false });
    expect(
      change(state, { type: 'node-set', uuid: 'n-2', changes: { drained: true }, autoPromote: false }),
    ).toEqual({ ok: true });
    expect(node(state, 'node2')).toMatchObject({ drained: true, masterCandidate: false });
  });

  it('removes only empty groups, and never the last one', () => {
    const state = founded();
    expect(change(state, { type: 'group-remove', uuid: 'g-default' })).toMatchObject({
      ok: false,
      message: expect.stringMatching(/still holds/),
    });
    expect(
      change(state, { type: 'group-add', uuid: 'g-2', name: 'rack2', allocPolicy: 'preferred' }),
    ).toEqual({ ok: true });
    expect(
      change(state, { type: 'group-add', uuid: 'g-3', name: 'rack2', allocPolicy: 'preferred' }),
    ).toMatchObject({ ok: false });
    expect(change(state, { type: 'group-assign', uuid: 'g-2', nodes: ['n-4'] })).toEqual({ ok: true });
    expect(node(state, 'node4').group).toBe('g-2');
    expect(change(state, { type: 'group-remove', uuid: 'g-2' })).toMatchObject({ ok: false });
  });

  it('refuses to remove a tag that is not there', () => {
    const state = founded();
    expect(change(state, { type: 'tags', kind: 'cluster', add: ['a'], remove: [] })).toEqual({ ok: true });
    expect(change(state, { type: 'tags', kind: 'cluster', add: [], remove: ['b'] })).toMatchObject({
      ok: false,
      code: 'not_found',
    });
    expect(state.config!.cluster.tags).toEqual(['a']);
  });
});

describe('the replicated job table', () => {
  const submit = (state: ClusterState, key: string) =>
    applyCommand(state, {
      type: 'submit',
      atMs: 5,
      key,
      priority: 0,
      ops: [
        { OP_ID: 'OP_TEST_DELAY', duration: 0 },
        { OP_ID: 'OP_TEST_DELAY', duration: 0 },
      ],
    });

  it('numbers jobs in order and finds a retried submission by its key', () => {
    const state = founded();
    expect(submit(state, 'key-0001')).toEqual({ ok: true, job: 1 });
    expect(submit(state, 'key-0002')).toEqual({ ok: true, job: 2 });
    expect(submit(state, 'key-0001')).toEqual({ ok: true, job: 1 });
    expect(state.jobs()).toHaveLength(2);
  });

  it('commits a change with the opcode that made it, or fails the job and changes nothing', () => {
    const state = founded();
    const job = 1;
    submit(state, 'key-0001');
    applyCommand(state, { type: 'op-status', atMs: 6, job, op: 0, status: 'running' });
    const serial = state.config!.serial;
    const refused = applyCommand(state, {
      type: 'op-end',
      atMs: 7,
      job,
      op: 0,
      mutation: { type: 'node-remove', uuid: 'n-1' },
      outcome: { ok: true, result: null },
    });
    expect(refused).toMatchObject({ ok: false, message: expect.stringMatching(/is the master/) });
    expect(state.config!.serial).toBe(serial);
    expect(state.job(1 as never)).toMatchObject({
      status: 'error',
      ops: [{ status: 'error' }, { status: 'error' }],
    });
  });

  it('cancels only queued or waiting jobs', () => {
    const state = founded();
    submit(state, 'key-0001');
    submit(state, 'key-0002');
    applyCommand(state, { type: 'op-status', atMs: 6, job: 2, op: 0, status: 'running' });
    expect(applyCommand(state, { type: 'cancel', atMs: 7, job: 1 })).toEqual({ ok: true });
    expect(applyCommand(state, { type: 'cancel', atMs: 7, job: 2 })).toMatchObject({
      ok: false,
      code: 'conflict',
    });
    expect(
      applyCommand(state, { type: 'op-status', atMs: 8, job: 1, op: 0, status: 'running' }),
    ).toMatchObject({
      ok: false,
    });
  });

  it('survives a snapshot and restore', () => {
    const state = founded();
    submit(state, 'key-0001');
    const copy = new ClusterState();
    copy.restore(state.snapshot());
    expect(copy.config?.serial).toBe(state.config?.serial);
    expect([...copy.config!.nodes.values()]).toEqual([...state.config!.nodes.values()]);
    expect(copy.jobByKey('key-0001')?.id).toBe(1);
    expect(
      applyCommand(copy, {
        type: 'submit',
        atMs: 9,
        key: 'key-0003',
        priority: 0,
        ops: [{ OP_ID: 'OP_TEST_DELAY', duration: 0 }],
      }),
    ).toEqual({ ok: true, job: 2 });
  });

  it('answers a malformed command as refused, without throwing', () => {
    const state = founded();
    expect(
      state.apply({ type: 'normal', index: 99, term: 1, data: new Uint8Array([1, 2, 3]) }),
    ).toMatchObject({ ok: false });
  });
});
