import type { ConfigData } from '../src/cluster/config.js';
import type { JobStatus } from '../src/cluster/jobs.js';
import type { InstanceRecord } from '../src/cluster/model.js';
import type { Opcode } from '../src/cluster/opcodes.js';
import type { NodeId } from '../src/common/ids.js';
import type { Rng } from '../src/common/random.js';
import type { MasterWorld } from './master-world.js';

/** What the simulations of the master's operations check, and how they drive the simulated network. */

/** How long a guest's write may wait for its acknowledgement (a partition holds it until the outdate lands). */
const WRITE_LIMIT_MS = 3_000;
/** How long a healed mirror of a running instance has to bring its secondary current again. */
const RESYNC_MS = 30_000;
/** How often a daemon's gossip pings each peer, and hangs up on one that does not answer (a few probe rounds). */
const PING_ROUND_MS = 3_000;

/**
 * The mirrored (drbd) instances' guarantees: no write a guest had acknowledged is lost (every copy the config
 * counts current holds it, whichever copies took it), and no guest starts on a node whose copy is not current,
 * unless the last failover of its instance asked for that (--ignore-consistency).
 */
export class MirrorWatch {
  /** Instances (by UUID) whose failover with --ignore-consistency may have landed at an unknown time. */
  private readonly exempt = new Set<string>();
  /** Forced failovers submitted and not yet ended: a start on a stale copy is what they ask for. */
  private readonly pending = new Set<string>();
  /**
   * Instances someone asked to remove: their data is meant to go, even when the removal stops half way
   * (a node it could not reach) and leaves the instance, with copies the config still counts, for a retry.
   * So is the data of instances whose disks a recreate that did not succeed may have emptied.
   */
  private readonly discarded = new Set<string>();
  /** Where a guest was seen running at the last instant: `node/instance name`. */
  private readonly running = new Set<string>();
  private offsets = 0;

  constructor(
    private readonly world: MasterWorld,
    private readonly violations: string[],
  ) {}

  /** Notes the forced failovers and the removals a job asks for, before it is submitted. */
  forcing(config: ConfigData, ops: readonly Opcode[]): void {
    for (const uuid of forcedIn(config, ops)) this.pending.add(uuid);
    for (const op of ops)
      if (op.OP_ID === 'OP_INSTANCE_REMOVE')
        for (const instance of config.instances.values())
          if (instance.name === op.instance_name) this.discarded.add(instance.uuid);
  }

  /**
   * Once the job ended: a forced failover that succeeded makes the new primary's copy the truth (what it
   * missed is lost, as the operator accepted), so the writes count from there; one whose end is unknown may
   * land at any time, and its instance is no longer checked.
   */
  forced(config: ConfigData, ops: readonly Opcode[], outcome: JobStatus | 'unknown'): void {
    for (const uuid of forcedIn(config, ops)) {
      this.pending.delete(uuid);
      if (outcome === 'success') this.world.acknowledged.delete(uuid);
      else if (outcome === 'unknown') this.exempt.add(uuid);
    }
    // Recreated disks are empty, as asked: the writes before count no more. A recreate that did not end
    // well may have emptied some copies, and its instance is no longer checked.
    for (const uuid of namedIn(config, ops, 'OP_INSTANCE_RECREATE_DISKS')) {
      if (outcome === 'success') this.world.acknowledged.delete(uuid);
      else this.discarded.add(uuid);
    }
  }

  /** A guest write (one or two) to a running mirrored instance, each at an offset never written before. */
  async write(rng: Rng): Promise<void> {
    const config = this.world.newestConfig();
    const names = [
      ...new Set(
        this.world
          .guests()
          .filter(({ guest }) => guest.state === 'running')
          .map(({ guest }) => guest.name),
      ),
    ].filter((name) => drbdNamed(config, name) !== undefined);
    if (names.length === 0) return;
    const name = rng.pick(names);
    for (let n = rng.pick([1, 2]); n > 0; n--) {
      // Fresh offsets: a write that was not acknowledged in time may still land later, and must not be
      // taken for a lost write at an offset an acknowledged one holds.
      const offset = (++this.offsets * 4099) % (1024 * 1024);
      await this.world.guestWrite(name, offset, 1 + rng.int(255), WRITE_LIMIT_MS);
    }
  }

  /** After every instant: a guest that began to run on a node whose copy the config does not count current. */
  observeStarts(): void {
    const now = new Set<string>();
    let config: ConfigData | undefined;
    for (const { node, guest } of this.world.guests()) {
      if (guest.state !== 'running' && guest.state !== 'paused') continue;
      const key = `${node}/${guest.name}`;
      now.add(key);
      if (this.running.has(key)) continue;
      config ??= this.world.newestConfig();
      const instance = drbdNamed(config, guest.name);
      if (instance === undefined || this.exempt.has(instance.uuid) || this.pending.has(instance.uuid))
        continue;
      const uuid = [...(config?.nodes.values() ?? [])].find((record) => record.id === node)?.uuid;
      if (uuid === undefined || !instance.mirror?.current.includes(uuid))
        this.violations.push(
          `t=${(this.world.clock.monotonicMs() / 1000).toFixed(1)}s ${guest.name} started on ${node}, whose copy is not current (current: ${instance.mirror?.current.join(', ') ?? 'none'})`,
        );
    }
    this.running.clear();
    for (const key of now) this.running.add(key);
  }

  /**
   * Once healed: every running mirrored instance whose two nodes are up and online and hold a copy gets its
   * second copy current again (the watcher reattaches it, the resync runs) within a bounded time.
   */
  async checkResynced(members: readonly NodeId[]): Promise<void> {
    const lagging = () => {
      const config = this.world.newestConfig();
      return [...(config?.instances.values() ?? [])].filter((instance) => {
        if (instance.diskTemplate !== 'drbd' || instance.adminState !== 'up') return false;
        const nodes = [instance.primaryNode, ...instance.secondaryNodes].map((uuid) =>
          config?.nodes.get(uuid),
        );
        const online = nodes.every(
          (node) => node !== undefined && !node.offline && members.includes(node.id),
        );
        // A replace-disks that failed after recording its new secondary (it records that first) leaves
        // that node without a copy: no watcher makes one, an operator runs replace-disks again.
        const copied = nodes.every(
          (node) => node !== undefined && this.world.missing(node.id, instance) !== undefined,
        );
        return online && copied && (instance.mirror?.current.length ?? 0) < 2;
      });
    };
    await this.world
      .until(() => lagging().length === 0, RESYNC_MS, 'the mirrors to resync')
      .catch(() => undefined);
    for (const instance of lagging()) {
      this.violations.push(
        `${instance.name} still has one current copy ${RESYNC_MS / 1000}s after healing (current: ${instance.mirror?.current.join(', ') ?? 'none'})`,
      );
    }
  }

  /** Every copy the config counts current holds every write the guest had acknowledged. */
  checkCopies(): void {
    const config = this.world.newestConfig();
    for (const instance of config?.instances.values() ?? []) {
      if (
        instance.diskTemplate !== 'drbd' ||
        this.exempt.has(instance.uuid) ||
        this.discarded.has(instance.uuid)
      )
        continue;
      for (const uuid of instance.mirror?.current ?? []) {
        const node = config?.nodes.get(uuid);
        if (node === undefined) continue;
        const missing = this.world.missing(node.id, instance);
        const writes = this.world.acknowledged.get(instance.uuid)?.size ?? 0;
        if (writes > 0 && missing !== 0)
          this.violations.push(
            `${instance.name}: the current copy on ${node.id} ${missing === undefined ? 'does not exist' : `misses ${missing} of ${writes} acknowledged writes`}`,
          );
      }
    }
  }
}

/** The mirrored instance of that name, if there is one. */
function drbdNamed(config: ConfigData | undefined, name: string): InstanceRecord | undefined {
  const instance = [...(config?.instances.values() ?? [])].find((record) => record.name === name);
  return instance?.diskTemplate === 'drbd' ? instance : undefined;
}

/** The UUIDs of the instances the job's opcodes of this kind name. */
function namedIn(config: ConfigData, ops: readonly Opcode[], kind: Opcode['OP_ID']): string[] {
  return ops.flatMap((op) => {
    if (op.OP_ID !== kind || !('instance_name' in op)) return [];
    const instance = [...config.instances.values()].find((record) => record.name === op.instance_name);
    return instance === undefined ? [] : [instance.uuid];
  });
}

/** The UUIDs of the instances a job fails over with --ignore-consistency. */
function forcedIn(config: ConfigData, ops: readonly Opcode[]): string[] {
  return ops.flatMap((op) => {
    if (op.OP_ID !== 'OP_INSTANCE_FAILOVER' || op.ignore_consistency !== true) return [];
    const instance = [...config.instances.values()].find((record) => record.name === op.instance_name);
    return instance === undefined ? [] : [instance.uuid];
  });
}

/**
 * The daemon's gossip pings its peers and hangs up on one whose ping times out, which fails the calls in flight
 * to it; the simulated nodes have no gossip service, so this does it for every link a partition cuts. Without
 * it, a call lost in a partition holds its job (and the locks it holds) for the call's whole timeout.
 */
export function hangUpCutLinks(world: MasterWorld, ids: readonly NodeId[]): void {
  const round = () => {
    for (const at of ids)
      for (const peer of ids)
        if (at !== peer && !(world.network.canReach(at, peer) && world.network.canReach(peer, at)))
          world.hub.hangUp(at, peer);
    world.clock.setTimer(PING_ROUND_MS, round);
  };
  world.clock.setTimer(PING_ROUND_MS, round);
}

/** The first instance found running (or paused) on more than one node, described; undefined when none is. */
export function runningTwice(world: MasterWorld): string | undefined {
  const where = new Map<string, NodeId[]>();
  for (const { node, guest } of world.guests()) {
    if (guest.state === 'incoming') continue;
    where.set(guest.name, [...(where.get(guest.name) ?? []), node]);
  }
  for (const [name, nodes] of where)
    if (nodes.length > 1) return `instance ${name} runs on ${nodes.join(' and ')}`;
  return undefined;
}
