import { describe, expect, it } from 'vitest';
import { corralOpcode, type MoveTarget } from '../../src/cluster/alloc-answers.js';

const nodes = new Set(['node1', 'node2']);
const instances = new Map<string, MoveTarget>([
  ['shared', { diskTemplate: 'sharedfile', hypervisor: 'fake' }],
  ['kvmfile', { diskTemplate: 'file', hypervisor: 'kvm' }],
  ['fakefile', { diskTemplate: 'file', hypervisor: 'fake' }],
]);
const migrate = (instance_name: string) =>
  ({ OP_ID: 'OP_INSTANCE_MIGRATE', instance_name, target_node: 'node2' }) as const;

describe('allocator moves as opcodes', () => {
  it('migrates what can move as it runs, and moves one-node disks only a stopped guest can leave with', () => {
    expect(corralOpcode(migrate('shared'), 'hail', instances, nodes)).toEqual({
      OP_ID: 'OP_INSTANCE_MIGRATE',
      instance_name: 'shared',
      target_node: 'node2',
      allow_failover: true,
    });
    // QEMU copies file disks during a live migration; a stopped instance falls back to a move.
    expect(corralOpcode(migrate('kvmfile'), 'hail', instances, nodes)).toMatchObject({
      OP_ID: 'OP_INSTANCE_MIGRATE',
      allow_failover: true,
    });
    expect(corralOpcode(migrate('fakefile'), 'hail', instances, nodes)).toEqual({
      OP_ID: 'OP_INSTANCE_MOVE',
      instance_name: 'fakefile',
      target_node: 'node2',
    });
  });

  it('refuses a move to a node outside the cluster, or of an instance it was not asked about', () => {
    expect(() =>
      corralOpcode({ ...migrate('shared'), target_node: 'node9' }, 'hail', instances, nodes),
    ).toThrow(/hail chose node node9, which is not in the cluster/);
    expect(() => corralOpcode(migrate('other'), 'hail', instances, nodes)).toThrow(/not asked to move/);
  });
});
