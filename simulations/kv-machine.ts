import type { NormalEntry, StateMachine } from '../src/consensus/state-machine.js';

/** A write a client asks the cluster to commit. Reads go through ReadIndex and never enter the log. */
export type KvCommand =
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | {
      readonly op: 'cas';
      readonly key: string;
      readonly expected: string | undefined;
      readonly value: string;
    };

/** Every command carries its client and sequence number, so two proposals are never the same bytes. */
export interface KvRequest {
  readonly client: number;
  readonly seq: number;
  readonly command: KvCommand;
}

/** put always succeeds; cas succeeds when the key held `expected` (undefined: absent). */
export type KvResult = { readonly ok: boolean } | undefined;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeRequest(request: KvRequest): Uint8Array {
  return encoder.encode(JSON.stringify(request));
}

export function decodeRequest(data: Uint8Array): KvRequest {
  return JSON.parse(decoder.decode(data)) as KvRequest;
}

/** The key-value state machine the simulator replicates. */
export class KvMachine implements StateMachine<KvResult> {
  private values = new Map<string, string>();

  apply(entry: NormalEntry): KvResult {
    if (entry.data.byteLength === 0) return undefined;
    const { command } = decodeRequest(entry.data);
    if (command.op === 'put') {
      this.values.set(command.key, command.value);
      return { ok: true };
    }
    if (this.values.get(command.key) !== command.expected) return { ok: false };
    this.values.set(command.key, command.value);
    return { ok: true };
  }

  get(key: string): string | undefined {
    return this.values.get(key);
  }

  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify([...this.values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
  }

  restore(data: Uint8Array): void {
    this.values =
      data.byteLength === 0 ? new Map() : new Map(JSON.parse(decoder.decode(data)) as [string, string][]);
  }
}
