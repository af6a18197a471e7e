import { ClusterState } from '../../src/cluster/cluster-state.js';
import { type ClusterCommand, encodeClusterCommand } from '../../src/cluster/commands.js';
import type { CorralDiskTemplate } from '../../src/cluster/disk-templates.js';

let index = 0;

/** Applies a command as the Raft log would hand it to the state machine, at the next index. */
export function applyCommand(state: ClusterState, command: ClusterCommand) {
  return state.apply({ type: 'normal', index: ++index, term: 1, data: encodeClusterCommand(command) });
}

/** A cluster founded on node1 (peer1, uuid n-1) in group g-default, with the fake hypervisor. */
export function foundedCluster(
  options: { readonly pool?: number; readonly templates?: readonly CorralDiskTemplate[] } = {},
): ClusterState {
  const state = new ClusterState();
  applyCommand(state, {
    type: 'init',
    atMs: 1,
    cluster: {
      name: 'c1',
      uuid: 'u-c',
      candidatePoolSize: options.pool ?? 3,
      enabledHypervisors: ['fake'],
      enabledDiskTemplates: [...(options.templates ?? ['diskless'])],
    },
    group: { uuid: 'g-default', name: 'default' },
    node: {
      uuid: 'n-1',
      name: 'node1',
      id: 'peer1',
      addrs: ['/ip4/127.0.0.2/tcp/1'],
      primaryIp: '127.0.0.2',
      secondaryIp: '127.0.0.2',
    },
  });
  return state;
}
