import { Encoder } from 'cbor-x';
import { z } from 'zod';
import type { NormalEntry, StateMachine } from '../consensus/state-machine.js';
import { bytesSchema } from '../peer/codec.js';

/**
 * A replicated key-value map: the simplest machine the Raft group runs, used to prove the group on real
 * daemons and to measure it against etcd. Commands are CBOR; a command that does not decode is answered as
 * refused on every node alike, never thrown, so no entry can stop a node's apply loop.
 */
export const MAX_KEY_BYTES = 1024;
export const MAX_VALUE_BYTES = 256 * 1024;

export const kvCommandSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('put'), key: z.string().min(1).max(MAX_KEY_BYTES), value: bytesSchema }),
  z.object({ op: z.literal('delete'), key: z.string().min(1).max(MAX_KEY_BYTES) }),
]);
export type KvCommand = z.infer<typeof kvCommandSchema>;

export type KvOutcome =
  | { readonly ok: true; readonly revision: number }
  | { readonly ok: false; readonly reason: string };

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true });

export function encodeKvCommand(command: KvCommand): Uint8Array {
  if (command.op === 'put' && command.value.byteLength > MAX_VALUE_BYTES) {
    throw new RangeError(
      `value of ${command.value.byteLength} bytes is over the ${MAX_VALUE_BYTES}-byte limit`,
    );
  }
  return cbor.encode(command);
}

export class KvStore implements StateMachine<KvOutcome | undefined> {
  private values = new Map<string, Uint8Array>();
  /** The index of the last entry applied: etcd's revision, in spirit. */
  private revision = 0;

  apply(entry: NormalEntry): KvOutcome | undefined {
    this.revision = entry.index;
    if (entry.data.byteLength === 0) return undefined;
    let decoded: unknown;
    try {
      decoded = cbor.decode(entry.data);
    } catch {
      return { ok: false, reason: 'undecodable command' };
    }
    const parsed = kvCommandSchema.safeParse(decoded);
    if (!parsed.success) return { ok: false, reason: 'malformed command' };
    const command = parsed.data;
    if (command.op === 'put') this.values.set(command.key, command.value);
    else this.values.delete(command.key);
    return { ok: true, revision: entry.index };
  }

  get(key: string): Uint8Array | undefined {
    return this.values.get(key);
  }

  get size(): number {
    return this.values.size;
  }

  snapshot(): Uint8Array {
    const pairs = [...this.values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return cbor.encode({ revision: this.revision, pairs });
  }

  restore(data: Uint8Array): void {
    if (data.byteLength === 0) {
      this.values = new Map();
      this.revision = 0;
      return;
    }
    const { revision, pairs } = cbor.decode(data) as { revision: number; pairs: [string, Uint8Array][] };
    this.values = new Map(pairs);
    this.revision = revision;
  }
}
