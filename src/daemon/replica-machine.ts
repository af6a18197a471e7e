import { Encoder } from 'cbor-x';
import type { ClusterOutcome, ClusterState } from '../cluster/cluster-state.js';
import type { KvOutcome, KvStore } from '../cluster/kv-store.js';
import type { NormalEntry, StateMachine } from '../consensus/state-machine.js';

/** The first byte of an entry says which machine it is for. */
const CLUSTER_TAG = 0x43;
const KV_TAG = 0x4b;

export type ReplicaOutcome = ClusterOutcome | KvOutcome | undefined;

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true });

/**
 * The daemon's replicated state: the cluster (configuration and jobs) and a small key-value space that
 * diagnostics and the Raft benchmark write to, sharing one log so that both see the same commit order.
 */
export class ReplicaMachine implements StateMachine<ReplicaOutcome> {
  constructor(
    readonly cluster: ClusterState,
    readonly kv: KvStore,
  ) {}

  static clusterEntry(data: Uint8Array): Uint8Array {
    return tagged(CLUSTER_TAG, data);
  }

  static kvEntry(data: Uint8Array): Uint8Array {
    return tagged(KV_TAG, data);
  }

  apply(entry: NormalEntry): ReplicaOutcome {
    const body = entry.data.subarray(1);
    switch (entry.data[0]) {
      case CLUSTER_TAG:
        return this.cluster.apply({ ...entry, data: body });
      case KV_TAG:
        return this.kv.apply({ ...entry, data: body });
      default:
        // The empty entry of a new leader, or a tag from a newer version: both machines still count the index.
        this.cluster.apply({ ...entry, data: new Uint8Array() });
        this.kv.apply({ ...entry, data: new Uint8Array() });
        return undefined;
    }
  }

  snapshot(): Uint8Array {
    return cbor.encode({ cluster: this.cluster.snapshot(), kv: this.kv.snapshot() });
  }

  restore(data: Uint8Array): void {
    if (data.byteLength === 0) {
      this.cluster.restore(data);
      this.kv.restore(data);
      return;
    }
    const saved = cbor.decode(data) as { cluster: Uint8Array; kv: Uint8Array };
    this.cluster.restore(saved.cluster);
    this.kv.restore(saved.kv);
  }
}

function tagged(tag: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.byteLength + 1);
  out[0] = tag;
  out.set(data, 1);
  return out;
}
