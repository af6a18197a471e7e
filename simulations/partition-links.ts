/**
 * The pure side of the real-daemon partition simulations: which packets are dropped (directed links between
 * node indexes), who can still reach whom, the history of partitions, and the judgement of a dead verdict
 * against that history. No I/O and no clock: times are passed in.
 */

/** Packets from node `from` to node `to` are dropped. */
export interface Link {
  readonly from: number;
  readonly to: number;
}

export function linkKey(link: Link): string {
  return `${link.from}>${link.to}`;
}

/** Every link between the two groups, both ways. */
export function cutBetween(left: readonly number[], right: readonly number[]): Link[] {
  return left.flatMap((a) =>
    right.flatMap((b) => [
      { from: a, to: b },
      { from: b, to: a },
    ]),
  );
}

/** Cuts one node off from all the others. */
export function isolate(node: number, nodes: number): Link[] {
  return cutBetween(
    [node],
    range(nodes).filter((other) => other !== node),
  );
}

export function range(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i);
}

/** Both directions open between a and b: a TCP connection (and so a probe) can work. */
function direct(blocked: ReadonlySet<string>, a: number, b: number): boolean {
  return !blocked.has(linkKey({ from: a, to: b })) && !blocked.has(linkKey({ from: b, to: a }));
}

/**
 * Whether `observer` can learn that `subject` lives: directly, or through one helper that reaches both, as
 * SWIM's indirect probes do. A node that can reach another this way must never declare it dead.
 */
export function canReach(links: readonly Link[], nodes: number, observer: number, subject: number): boolean {
  const blocked = new Set(links.map(linkKey));
  if (direct(blocked, observer, subject)) return true;
  return range(nodes).some(
    (helper) =>
      helper !== observer &&
      helper !== subject &&
      direct(blocked, observer, helper) &&
      direct(blocked, helper, subject),
  );
}

/** For each node, the nodes it has a link cut with in either direction (what the connection gater blocks). */
export function blockedPeers(links: readonly Link[], nodes: number): number[][] {
  const peers = range(nodes).map(() => new Set<number>());
  for (const { from, to } of links) {
    peers[from]?.add(to);
    peers[to]?.add(from);
  }
  return peers.map((set) => [...set].sort((a, b) => a - b));
}

interface Epoch {
  /** When the harness began to put these links in place, and when it had finished (ms, harness clock). */
  readonly startMs: number;
  readonly appliedMs: number;
  readonly links: readonly Link[];
}

/** The partitions over time. An epoch may be in force from when its change began until the next one ended. */
export class LinkTimeline {
  private readonly epochs: Epoch[] = [];

  constructor(
    private readonly nodes: number,
    startMs: number,
  ) {
    this.epochs.push({ startMs, appliedMs: startMs, links: [] });
  }

  record(startMs: number, appliedMs: number, links: readonly Link[]): void {
    this.epochs.push({ startMs, appliedMs, links: [...links] });
  }

  get current(): readonly Link[] {
    return this.epochs.at(-1)!.links;
  }

  /** The link sets that may have been in force at some moment of [fromMs, toMs]. */
  private during(fromMs: number, toMs: number): (readonly Link[])[] {
    return this.epochs
      .filter((epoch, i) => {
        const endMs = this.epochs[i + 1]?.appliedMs ?? Number.POSITIVE_INFINITY;
        return epoch.startMs <= toMs && endMs >= fromMs;
      })
      .map((epoch) => epoch.links);
  }

  /** True when the observer could reach the subject (see canReach) throughout [fromMs, toMs]. */
  reachableThroughout(observer: number, subject: number, fromMs: number, toMs: number): boolean {
    return this.during(fromMs, toMs).every((links) => canReach(links, this.nodes, observer, subject));
  }
}

/** A dead verdict as a sample shows it: `observer` has held `subject` dead since `deadSinceMs`. */
export interface DeadVerdict {
  readonly observer: number;
  readonly subject: number;
  readonly deadSinceMs: number;
}

/**
 * A dead verdict is wrong when the subject, alive all along, was reachable from the observer for the whole
 * `windowMs` before it: the least a suspicion lasts before it ends in death, so the subject had that long to
 * refute and a probe could not have failed in it.
 */
export function wrongVerdict(timeline: LinkTimeline, verdict: DeadVerdict, windowMs: number): boolean {
  return timeline.reachableThroughout(
    verdict.observer,
    verdict.subject,
    verdict.deadSinceMs - windowMs,
    verdict.deadSinceMs,
  );
}
