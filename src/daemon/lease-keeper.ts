import { fenceAtMs, type LeaseGrant, renewIntervalMs } from '../cluster/lease.js';
import type { Clock, Timer } from '../common/clock.js';
import { asCorralError, CorralError } from '../common/errors.js';
import type { Logger } from '../common/log.js';

/** Where a node keeps its fence time across a restart of its daemon, by the clock it was given. */
export interface LeaseRecord {
  /** The fence time saved last, or undefined when none was (or it was saved before the host rebooted). */
  load(): Promise<number | undefined>;
  save(fenceAtMs: number): Promise<void>;
}

export interface LeaseKeeperDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly record: LeaseRecord;
  /**
   * How long a lease lasts in this node's copy of the configuration; undefined while the node is in no
   * cluster, when it asks for none.
   */
  leaseMs(): number | undefined;
  /** Asks the master for a lease; rejects when no master grants one within `deadlineMs`. */
  renew(deadlineMs: number): Promise<LeaseGrant>;
  /** Kills every guest on this node at once; resolves with the names of those it killed. */
  fence(): Promise<readonly string[]>;
  /** Makes sure the fence outlives a hung daemon before a guest starts (the daemon's watchdog process). */
  guard?(): void;
}

/** A failed renewal is tried again this often, until the lease runs out. */
const RETRY_MS = 250;
/** While the node is in no cluster, it looks again this often. */
const IDLE_MS = 1_000;

/**
 * A node's side of its lease (notes/leases.md): it renews it with the master, and when it could not in
 * time, kills its guests before the master may start them elsewhere. While it holds none, no guest starts.
 * The fence time is saved before a guest may start under it, so that a daemon that restarts finds its guests
 * fenced if the lease ran out while it was down.
 */
export class LeaseKeeper {
  /** By deps.clock: from when on this node's guests must be dead. */
  private fenceAt = Number.NEGATIVE_INFINITY;
  private renewTimer: Timer | undefined;
  private fenceTimer: Timer | undefined;
  private renewal: Promise<void> | undefined;
  private stopped = false;
  /** Whether the guests were killed since the last lease; a node says so once. */
  private fenced = false;
  /** How many times the fence ran: a start that saw it run refuses. */
  private fences = 0;

  constructor(private readonly deps: LeaseKeeperDeps) {}

  /** Picks up the fence time a previous daemon saved (fencing at once if it has passed), then renews. */
  async start(): Promise<void> {
    const saved = await this.deps.record.load();
    this.fenceAt = saved ?? Number.NEGATIVE_INFINITY;
    this.armFence();
    this.scheduleRenewal(0);
  }

  stop(): void {
    this.stopped = true;
    this.renewTimer?.cancel();
    this.fenceTimer?.cancel();
  }

  holds(): boolean {
    return this.deps.clock.monotonicMs() < this.fenceAt;
  }

  /** Resolves while this node holds a lease, asking for one now if it holds none; refuses when it cannot get one. */
  async acquire(): Promise<void> {
    if (this.holds()) return;
    await this.renewNow();
    if (!this.holds())
      throw new CorralError(
        'unavailable',
        'this node holds no lease from the master (it cannot reach it, or it is declared offline), so it starts no instance',
      );
  }

  /**
   * Runs what makes a guest run here (a start, the end of an incoming migration) under a lease; if the lease
   * ran out meanwhile, the fence that fired may have missed this guest, so it fences again and refuses.
   */
  async underLease<T>(start: () => Promise<T>): Promise<T> {
    await this.acquire();
    this.deps.guard?.();
    const fencesBefore = this.fences;
    const result = await start();
    // A fence that ran meanwhile may have looked before this guest existed, even if a lease came back since.
    if (!this.holds() || this.fences !== fencesBefore) {
      await this.fenceGuests();
      throw new CorralError(
        'unavailable',
        'the node lease ran out while the instance started; it was killed',
      );
    }
    return result;
  }

  private scheduleRenewal(delayMs: number): void {
    if (this.stopped) return;
    this.renewTimer?.cancel();
    this.renewTimer = this.deps.clock.setTimer(delayMs, () => {
      void this.renewNow();
    });
  }

  /** One renewal at a time; a caller that comes while one runs waits for it. */
  private renewNow(): Promise<void> {
    this.renewal ??= this.renewOnce().finally(() => {
      this.renewal = undefined;
    });
    return this.renewal;
  }

  private async renewOnce(): Promise<void> {
    const { deps } = this;
    const leaseMs = deps.leaseMs();
    if (leaseMs === undefined) return this.scheduleRenewal(IDLE_MS);
    const interval = renewIntervalMs(leaseMs);
    // The lease counts from before the request left: the master's grant comes later still.
    const askedAt = deps.clock.monotonicMs();
    let grant: LeaseGrant;
    try {
      grant = await deps.renew(interval);
    } catch (error) {
      if (this.holds() || !this.fenced)
        deps.log.debug({ err: asCorralError(error) }, 'could not renew the node lease; retrying');
      return this.scheduleRenewal(RETRY_MS);
    }
    if (this.stopped) return;
    const fenceAt = fenceAtMs(askedAt, grant);
    if (fenceAt > this.fenceAt) {
      try {
        await deps.record.save(fenceAt);
      } catch (error) {
        // A lease a restarted daemon could not find must not be used: go on without it, and ask again.
        deps.log.error({ err: asCorralError(error) }, 'could not save the node lease; not using it');
        return this.scheduleRenewal(RETRY_MS);
      }
      this.fenceAt = Math.max(this.fenceAt, fenceAt);
      if (this.fenced) deps.log.info({}, 'holding a node lease again: instances may start here');
      this.fenced = false;
      this.armFence();
    }
    this.scheduleRenewal(renewIntervalMs(grant.leaseMs));
  }

  private armFence(): void {
    if (this.stopped) return;
    this.fenceTimer?.cancel();
    const delay = this.fenceAt - this.deps.clock.monotonicMs();
    // A timer may fire a hair early on a clock finer than its own; within a millisecond, fence now.
    if (delay >= 1) {
      this.fenceTimer = this.deps.clock.setTimer(delay, () => this.armFence());
      return;
    }
    void this.fenceGuests();
  }

  private async fenceGuests(): Promise<void> {
    const { deps } = this;
    this.fences++;
    try {
      const killed = await deps.fence();
      if (killed.length > 0)
        deps.log.warn(
          { instances: killed },
          'the node lease ran out: killed the instances here, as the master may start them elsewhere',
        );
      else if (!this.fenced) deps.log.info({}, 'the node lease ran out; no instance runs here');
      this.fenced = true;
    } catch (error) {
      // Nothing may outlive the lease: try again at once, and let the operator know.
      deps.log.error(
        { err: asCorralError(error) },
        'could not kill the instances after the node lease ran out',
      );
      this.fenceTimer = deps.clock.setTimer(RETRY_MS, () => this.armFence());
    }
  }
}
