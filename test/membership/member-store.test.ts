import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { asNodeId } from '../../src/common/ids.js';
import { MemberStore } from '../../src/membership/member-store.js';

const self = asNodeId('node-self');
const member = (id: string) => ({ id: asNodeId(id), addrs: [`/ip4/127.0.0.1/tcp/${id.length}`] });

describe('member store', () => {
  it('follows newer configurations only, and remembers which across a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'corral-members-'));
    try {
      const store = await MemberStore.open(dir, self);
      // Admitted with the member list of configuration 7.
      await store.join({ name: 'c', uuid: 'u' }, new Uint8Array(32), [member('a'), member('b')], 7);
      // Replaying the log passes through configuration 3, which had only `a`: `b` must stay a member.
      expect(await store.replace([member('a')], 3)).toBe(false);
      expect(store.isMember(asNodeId('b'))).toBe(true);
      // Configuration 8 removed `b`.
      expect(await store.replace([member('a')], 8)).toBe(true);
      expect(store.isMember(asNodeId('b'))).toBe(false);
      const reopened = await MemberStore.open(dir, self);
      expect(reopened.configSerial).toBe(8);
      expect(await reopened.replace([member('a'), member('b')], 5)).toBe(false);
      expect(reopened.isMember(asNodeId('b'))).toBe(false);
      // Leaving the cluster starts over.
      await reopened.leave();
      expect(reopened.configSerial).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
