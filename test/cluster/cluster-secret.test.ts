import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ClusterState } from '../../src/cluster/cluster-state.js';
import { decodeClusterCommand, encodeClusterCommand } from '../../src/cluster/commands.js';
import { toConfigView } from '../../src/cluster/views.js';
import { applyCommand, foundedCluster } from '../helpers/cluster-state.js';

const founded = () => foundedCluster();

/** Every form the secret could be shown in: bytes as hex, base64 (plain or URL-safe), or a list of numbers. */
function forms(secret: Uint8Array): string[] {
  const bytes = Buffer.from(secret);
  return [
    bytes.toString('hex'),
    bytes.toString('base64').replace(/=+$/, ''),
    bytes.toString('base64url'),
    [...bytes].join(','),
  ];
}

describe('the cluster secret in the replicated configuration', () => {
  it('is none until renewed; a renewal commits with its job and shows nowhere but in the configuration', () => {
    const state = founded();
    expect(state.config?.clusterSecret).toBeUndefined();
    const secret = randomBytes(32);
    const { job } = applyCommand(state, {
      type: 'submit',
      atMs: 2,
      key: 'renew-crypto-1',
      priority: 0,
      ops: [{ OP_ID: 'OP_CLUSTER_RENEW_CRYPTO' }],
    }) as { job: number };
    const serial = state.config!.serial;
    expect(
      applyCommand(state, {
        type: 'op-end',
        atMs: 3,
        job,
        op: 0,
        mutation: { type: 'cluster-secret', secret },
        outcome: { ok: true, result: { renewed: ['cluster secret'] } },
      }),
    ).toEqual({ ok: true });
    expect(Buffer.from(state.config!.clusterSecret!).equals(secret)).toBe(true);
    expect(state.config!.serial).toBe(serial + 1);
    const shown = JSON.stringify([toConfigView(state.config!), state.jobs()]);
    for (const form of forms(secret)) expect(shown).not.toContain(form);
    expect(shown).not.toMatch(/"(clusterSecret|secret)":/);
  });

  it('survives a snapshot, so that a learner restored from one has it too', () => {
    const state = founded();
    const secret = randomBytes(32);
    applyCommand(state, { type: 'config', atMs: 2, mutation: { type: 'cluster-secret', secret } });
    const restored = new ClusterState();
    const seen: Uint8Array[] = [];
    restored.onChange((change) => {
      if (change.type === 'config' && change.config.clusterSecret !== undefined)
        seen.push(change.config.clusterSecret);
    });
    restored.restore(state.snapshot());
    expect(Buffer.from(restored.config!.clusterSecret!).equals(secret)).toBe(true);
    expect(seen).toHaveLength(1);
  });

  it('takes only a secret of the right length', () => {
    const command = (secret: Uint8Array) =>
      decodeClusterCommand(
        encodeClusterCommand({ type: 'config', atMs: 2, mutation: { type: 'cluster-secret', secret } }),
      );
    expect(command(randomBytes(32))).toBeDefined();
    expect(command(randomBytes(16))).toBeUndefined();
  });
});
