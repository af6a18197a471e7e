import type { NodeId } from '../src/common/ids.js';
import type { RaftNode } from '../src/consensus/raft.js';
import type { Entry } from '../src/consensus/types.js';

const decoder = new TextDecoder();
const fingerprints = new WeakMap<Entry, string>();

/** What makes two entries the same entry: term, kind and payload. */
export function fingerprint(entry: Entry): string {
  let print = fingerprints.get(entry);
  if (print === undefined) {
    const body = entry.type === 'normal' ? decoder.decode(entry.data) : JSON.stringify(entry.change);
    print = `${entry.term}/${entry.type}/${body}`;
    fingerprints.set(entry, print);
  }
  return print;
}

/**
 * Raft's safety properties (Figure 3), checked against every node as the simulation runs. The ledger of
 * committed entries outlives crashes, so an entry that was once committed and later differs or disappears is
 * caught wherever it shows up.
 */
export class InvariantChecker {
  readonly violations: string[] = [];
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** Committed entries by index, as first seen committed anywhere. */
  private readonly ledger = new Map<number, string>();
  private ledgerEnd = 0;
  /** Every entry ever written to any log, by index and term: one entry per (index, term). */
  private readonly written = new Map<string, string>();
  private readonly checkedCommit = new Map<NodeId, number>();
  private readonly lastApplied = new Map<NodeId, number>();
  private readonly wasLeader = new Map<NodeId, number>();

  /** Election safety, leader completeness and the ledger; cheap enough to run after every simulated event. */
  afterStep(nodes: readonly RaftNode[], now: number): void {
    for (const node of nodes) {
      const status = node.status();
      if (status.role === 'leader') {
        const known = this.leaderOfTerm.get(status.term);
        if (known === undefined) this.leaderOfTerm.set(status.term, node.id);
        else if (known !== node.id)
          this.fail(now, `two leaders in term ${status.term}: ${known} and ${node.id}`);
        if (this.wasLeader.get(node.id) !== status.term) {
          this.wasLeader.set(node.id, status.term);
          this.checkLeaderCompleteness(node, now);
        }
      }
      this.checkCommitted(node, now);
    }
  }

  /** A node wrote entries to its log: no other entry may ever have had the same index and term. */
  onWrite(node: RaftNode, entries: readonly Entry[], now: number): void {
    for (const entry of entries) {
      const key = `${entry.index}/${entry.term}`;
      const print = fingerprint(entry);
      const known = this.written.get(key);
      if (known === undefined) this.written.set(key, print);
      else if (known !== print)
        this.fail(now, `${node.id} wrote a second entry at index ${entry.index} term ${entry.term}`);
    }
  }

  /** State machine safety: a node applies the committed entries in order, each exactly as committed. */
  onApply(raft: RaftNode, entry: Entry, now: number): void {
    // An entry can be applied in the same event that committed it: take the node's commits into the ledger first.
    this.checkCommitted(raft, now);
    const node = raft.id;
    const last = this.lastApplied.get(node) ?? 0;
    if (entry.index !== last + 1) this.fail(now, `${node} applied index ${entry.index} after ${last}`);
    this.lastApplied.set(node, entry.index);
    const committed = this.ledger.get(entry.index);
    if (committed === undefined)
      this.fail(now, `${node} applied index ${entry.index}, which was never committed`);
    else if (committed !== fingerprint(entry))
      this.fail(now, `${node} applied a different entry at ${entry.index}`);
  }

  /** The state machine was replaced by a snapshot (on restore, or on restart). */
  onRestore(node: NodeId, index: number, term: number, now: number): void {
    this.lastApplied.set(node, index);
    const committed = this.ledger.get(index);
    if (index > 0 && committed !== undefined && !committed.startsWith(`${term}/`)) {
      this.fail(
        now,
        `${node} restored a snapshot at ${index} of term ${term} that contradicts the committed entry`,
      );
    }
  }

  /** Log matching (§5.3): logs that agree on an entry's term agree on every entry before it. Quadratic; run it now and then. */
  checkLogMatching(nodes: readonly RaftNode[], now: number): void {
    for (let a = 0; a < nodes.length; a++) {
      for (let b = a + 1; b < nodes.length; b++) this.checkPair(nodes[a]!, nodes[b]!, now);
    }
  }

  private checkPair(x: RaftNode, y: RaftNode, now: number): void {
    const sx = x.status();
    const sy = y.status();
    const low = Math.max(sx.firstIndex, sy.firstIndex);
    let i = Math.min(sx.lastIndex, sy.lastIndex);
    while (i >= low && x.termAt(i) !== y.termAt(i)) i--;
    for (; i >= low; i--) {
      if (fingerprint(x.entryAt(i)!) !== fingerprint(y.entryAt(i)!)) {
        this.fail(now, `log matching: ${x.id} and ${y.id} differ at index ${i} below a shared entry`);
        return;
      }
    }
  }

  private checkCommitted(node: RaftNode, now: number): void {
    const { commit, firstIndex } = node.status();
    const from = Math.max((this.checkedCommit.get(node.id) ?? 0) + 1, firstIndex);
    for (let index = from; index <= commit; index++) {
      const entry = node.entryAt(index);
      if (entry === undefined) continue;
      const print = fingerprint(entry);
      const known = this.ledger.get(index);
      if (known === undefined) {
        this.ledger.set(index, print);
        this.ledgerEnd = Math.max(this.ledgerEnd, index);
      } else if (known !== print) {
        this.fail(now, `committed entry ${index} changed on ${node.id}: was ${known}, now ${print}`);
      }
    }
    this.checkedCommit.set(node.id, commit);
  }

  /** Leader completeness (§5.4): a new leader holds every entry committed before its term. */
  private checkLeaderCompleteness(leader: RaftNode, now: number): void {
    const { firstIndex } = leader.status();
    for (let index = firstIndex; index <= this.ledgerEnd; index++) {
      const committed = this.ledger.get(index);
      if (committed === undefined) continue;
      const entry = leader.entryAt(index);
      if (entry === undefined || fingerprint(entry) !== committed) {
        this.fail(now, `leader ${leader.id} of term ${leader.status().term} lacks committed entry ${index}`);
        return;
      }
    }
  }

  /** A restarted node forgets what it had checked: its commit index may be lower now. */
  onRestart(node: NodeId): void {
    this.checkedCommit.delete(node);
  }

  /** Records a violation found outside these checks (liveness, runaway runs). */
  report(now: number, message: string): void {
    this.fail(now, message);
  }

  private fail(now: number, message: string): void {
    if (this.violations.length < 20) this.violations.push(`t=${now}ms ${message}`);
  }
}
