import type { NodeId } from '../src/common/ids.js';
import type { Rng } from '../src/common/random.js';
import type { SimClock } from '../src/common/sim-clock.js';
import type { Entry } from '../src/consensus/types.js';
import { encodeRequest, type KvResult } from './kv-machine.js';
import type { KvInput, KvOutput, Operation } from './linearizability.js';
import type { SimNode } from './sim-node.js';

interface Recorded {
  client: number;
  input: KvInput;
  output: KvOutput | undefined;
  callAt: number;
  returnAt: number;
  /** Definitely did not happen (refused, overwritten, or a read that failed or timed out): left out of the history. */
  dropped: boolean;
}

type Pending =
  | {
      readonly kind: 'write';
      readonly op: Recorded;
      readonly node: NodeId;
      readonly index: number;
      readonly term: number;
    }
  | { readonly kind: 'read'; readonly op: Recorded; readonly node: NodeId; readonly requestId: number };

export interface WorkloadOptions {
  readonly clients: number;
  readonly keys: number;
  readonly clientTimeoutMs: number;
  readonly thinkMaxMs: number;
}

/**
 * Clients that put, get (by ReadIndex) and compare-and-set against whichever node they believe leads, one
 * operation at a time each. Every call and return gets a logical timestamp, so the recorded history orders
 * operations exactly as they happened in the simulation.
 */
export class Workload {
  private readonly history: Recorded[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly hints = new Map<number, NodeId>();
  private readonly successes = new Map<number, number>();
  private logicalTime = 0;
  private nextRequestId = 1;
  private running = false;
  private epoch = 0;

  constructor(
    private readonly clock: SimClock,
    private readonly rng: Rng,
    private readonly nodes: () => readonly SimNode[],
    private readonly options: WorkloadOptions,
  ) {}

  start(): void {
    this.running = true;
    for (let client = 0; client < this.options.clients; client++)
      this.schedule(client, this.rng.between(0, 20));
  }

  /** Operations completed by `client` so far. */
  completed(client: number): number {
    return this.successes.get(client) ?? 0;
  }

  operations(): Operation[] {
    return this.history.filter((op) => !op.dropped);
  }

  counts(): { total: number; ok: number; unknown: number } {
    const ops = this.operations();
    const unknown = ops.filter((op) => op.returnAt === Number.POSITIVE_INFINITY).length;
    return { total: ops.length, ok: ops.length - unknown, unknown };
  }

  stop(): void {
    this.running = false;
    this.epoch++;
  }

  onApply(node: SimNode, entry: Entry, result: KvResult): void {
    for (const [client, p] of this.pending) {
      if (p.kind !== 'write' || p.node !== node.id || p.index !== entry.index) continue;
      if (entry.term === p.term) {
        const output: KvOutput =
          p.op.input.op === 'cas' ? { op: 'cas', ok: result?.ok === true } : { op: 'put' };
        this.complete(client, node.id, output);
      } else {
        // Another leader's entry took this index: ours can never commit.
        this.fail(client);
      }
    }
  }

  onRead(node: SimNode, requestId: number): void {
    for (const [client, p] of this.pending) {
      if (p.kind === 'read' && p.node === node.id && p.requestId === requestId) {
        this.complete(client, node.id, { op: 'get', value: node.kv.get(p.op.input.key) });
      }
    }
  }

  onReadFailed(node: SimNode, requestId: number): void {
    for (const [client, p] of this.pending) {
      if (p.kind === 'read' && p.node === node.id && p.requestId === requestId) this.fail(client);
    }
  }

  /** A node crashed: what was pending there is now of unknown outcome, as the clients will find at their timeout. */
  onCrash(node: NodeId): void {
    for (const [client, p] of this.pending) if (p.node === node) this.pending.delete(client);
  }

  private schedule(client: number, delayMs: number): void {
    const epoch = this.epoch;
    this.clock.setTimer(delayMs, () => {
      if (this.running && this.epoch === epoch) this.issue(client);
    });
  }

  private issue(client: number): void {
    const up = this.nodes().filter((node) => node.up);
    const hinted = up.find((node) => node.id === this.hints.get(client));
    const node = hinted ?? (up.length > 0 ? this.rng.pick(up) : undefined);
    if (node === undefined) {
      this.schedule(client, 50);
      return;
    }
    const key = `k${this.rng.int(this.options.keys)}`;
    const value = `c${client}.${this.logicalTime}`;
    const roll = this.rng.next();
    const input: KvInput =
      roll < 0.4
        ? { op: 'put', key, value }
        : roll < 0.75
          ? { op: 'get', key }
          : { op: 'cas', key, expected: this.rng.chance(0.5) ? undefined : this.guess(key), value };
    const op: Recorded = {
      client,
      input,
      output: undefined,
      callAt: ++this.logicalTime,
      returnAt: Number.POSITIVE_INFINITY,
      dropped: false,
    };
    this.history.push(op);
    if (input.op === 'get') {
      const requestId = this.nextRequestId++;
      this.pending.set(client, { kind: 'read', op, node: node.id, requestId });
      node.raft.readIndex(requestId);
    } else {
      const result = node.raft.propose(encodeRequest({ client, seq: op.callAt, command: input }));
      if (!result.ok) {
        op.dropped = true;
        if (result.leader !== undefined && result.leader !== node.id) this.hints.set(client, result.leader);
        else this.hints.delete(client);
        this.schedule(client, this.rng.between(5, 30));
        return;
      }
      this.pending.set(client, { kind: 'write', op, node: node.id, index: result.index, term: result.term });
    }
    node.pump();
    const epoch = this.epoch;
    this.clock.setTimer(this.options.clientTimeoutMs, () => {
      if (this.epoch !== epoch || op.returnAt !== Number.POSITIVE_INFINITY || op.dropped) return;
      // The client gives up: a write may still happen (its outcome stays unknown); a read had no effect.
      if (input.op === 'get') op.dropped = true;
      if (this.pending.get(client)?.op === op) this.pending.delete(client);
      this.hints.delete(client);
      if (this.running) this.issue(client);
    });
  }

  /** A value some client wrote to the key, so that compare-and-set sometimes succeeds. */
  private guess(key: string): string | undefined {
    for (let i = this.history.length - 1; i >= 0; i--) {
      const op = this.history[i]!;
      if (op.input.key === key && op.input.op !== 'get') return op.input.value;
    }
    return undefined;
  }

  private complete(client: number, node: NodeId, output: KvOutput): void {
    const p = this.pending.get(client)!;
    this.pending.delete(client);
    p.op.output = output;
    p.op.returnAt = ++this.logicalTime;
    this.hints.set(client, node);
    this.successes.set(client, this.completed(client) + 1);
    this.schedule(client, this.rng.between(0, this.options.thinkMaxMs));
  }

  private fail(client: number): void {
    const p = this.pending.get(client)!;
    this.pending.delete(client);
    p.op.dropped = true;
    this.hints.delete(client);
    this.schedule(client, this.rng.between(5, 30));
  }
}
