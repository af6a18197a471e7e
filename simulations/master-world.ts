import type { ConfigData } from '../src/cluster/config.js';
import type { JobRecord } from '../src/cluster/jobs.js';
import {
  DEFAULT_CANDIDATE_POOL_SIZE,
  type InstanceRecord,
  type JobId,
  type NodeUuid,
} from '../src/cluster/model.js';
import type { Opcode } from '../src/cluster/opcodes.js';
import type { Clock } from '../src/common/clock.js';
import { CorralError } from '../src/common/errors.js';
import { asNodeId, type NodeId } from '../src/common/ids.js';
import { silentLogger } from '../src/common/log.js';
import { type Rng, seededRng } from '../src/common/random.js';
import { DriftingClock, SimClock } from '../src/common/sim-clock.js';
import { MemoryStore } from '../src/consensus/memory-store.js';
import { nodeCallerCheck } from '../src/daemon/caller-check.js';
import { ClusterService, type NodeHooks } from '../src/daemon/cluster-service.js';
import { LeaseKeeper } from '../src/daemon/lease-keeper.js';
import { leaseRecordInMemory } from '../src/daemon/lease-record.js';
import type { MasterIpDevice } from '../src/daemon/master-ip.js';
import { copyRecordsInMemory } from '../src/daemon/mirror-records.js';
import { reportingToMaster } from '../src/daemon/mirror-reporter.js';
import { MirrorService } from '../src/daemon/mirror-service.js';
import { agentDiskRef, NodeAgent } from '../src/daemon/node-agent.js';
import { memoryReplicaLog } from '../src/daemon/replica-log.js';
import type { MasterRequest } from '../src/master/master-protocol.js';
import type { OobRunner } from '../src/master/oob-runner.js';
import { defaultControlTimings } from '../src/master/timings.js';
import { MemberStore } from '../src/membership/member-store.js';
import { Enrolment } from '../src/peer/enrolment.js';
import type { MemoryTransport } from '../src/peer/memory-transport.js';
import { MemoryHub, memoryAddress, type Packet } from '../src/peer/memory-transport.js';
import { type NetworkFaults, SimNetwork } from '../src/peer/sim-network.js';
import { createDisklessTemplate } from '../src/storage/diskless.js';
import { createMemoryExportStore, type ExportStore } from '../src/storage/export-store.js';
import { createMemoryTemplate, MemoryStorage, memoryBlockStore } from '../src/storage/memory-template.js';
import { createFakeHypervisor, type FakeState, fakeStatesInMemory } from '../src/vm/fake-hypervisor.js';
import { simOsCatalog } from './sim-os.js';

/** A simulated node's disk: every sync takes this long, so a crash can lose what was being written. */
const DISK_SYNC_MS = 2;
const MIB_PER_NODE = 4096;
const STORAGE_MIB_PER_NODE = 64 * 1024;
const FORM_LIMIT_MS = 60_000;
/** How long a simulated client waits before it asks again. */
const RETRY_PAUSE_MS = 200;

/** The restricted command every simulated host has (gnt-node restricted-command). */
export const SIM_RESTRICTED_COMMAND = 'health-check';

/** The out-of-band program every simulated host has (set as oob_program by the workload). */
export const SIM_OOB_PROGRAM = '/usr/lib/sim/oob';

/**
 * The simulated hosts' out-of-band management, behind the master's OobRunner seam: it prints what a real
 * program prints (Ganeti's JSON) and keeps each host's power state; any other program does not exist.
 */
function simOob(): OobRunner {
  const powered = new Map<string, boolean>();
  return {
    run: async (program, command, node) => {
      if (program !== SIM_OOB_PROGRAM)
        throw new CorralError('unavailable', `'${program} ${command} ${node}' failed: no such file`);
      if (command === 'health')
        return JSON.stringify([
          ['psu', 'OK'],
          ['fan', 'WARNING'],
        ]);
      if (command === 'power-status') return JSON.stringify({ powered: powered.get(node) ?? true });
      if (command !== 'power-cycle') powered.set(node, command === 'power-on');
      return '';
    },
  };
}

/** Hooks are Ganeti's scripts on each node; the simulated nodes have none. */
const noHooks: NodeHooks = {
  runLocal: async () => [],
  asMaster: () => ({ run: async () => [] }),
};

/**
 * One simulated machine. What a host keeps across a crash stays here (its Raft log as synced, its member
 * list, its enrolment code, its local disks and exports); what dies with it is its guests and its daemon.
 */
class SimMachine {
  readonly disk: MemoryStore;
  readonly members: MemberStore;
  readonly enrolment: Enrolment;
  readonly localDisks = new MemoryStorage(STORAGE_MIB_PER_NODE);
  readonly exports: ExportStore = createMemoryExportStore();
  /** What the mirror service records on the host's disk: its copies' states and its attachments. */
  readonly mirrorRecords = copyRecordsInMemory(new Map(), {}, new Map());
  /** Where the host keeps its fence time, as the daemon does in its data directory. */
  readonly leaseRecord = leaseRecordInMemory();
  /** How many times the master asked this host to powercycle. */
  powercycles = 0;
  /** The addresses on the host's network device: a crash of the daemon leaves them, as on a real host. */
  readonly addresses = new Set<string>();
  readonly masterIpDevice: MasterIpDevice = {
    start: async (spec) => {
      this.addresses.add(spec.address);
      return `added ${spec.address}`;
    },
    stop: async (spec) =>
      this.addresses.delete(spec.address) ? `removed ${spec.address}` : `${spec.address} was not here`,
  };
  guests = fakeStatesInMemory();
  mirror: MirrorService | undefined;
  lease: LeaseKeeper | undefined;
  transport: MemoryTransport | undefined;
  service: ClusterService | undefined;

  constructor(
    readonly id: NodeId,
    /** The host's own clock: its rate may be off, within the bound the cluster's leases assume. */
    readonly clock: Clock,
  ) {
    this.disk = new MemoryStore((callback) => clock.setTimer(DISK_SYNC_MS, callback));
    this.members = MemberStore.inMemory(id);
    this.enrolment = Enrolment.inMemory(id);
  }

  get up(): boolean {
    return this.service !== undefined;
  }
}

export interface MasterWorldOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly watcherIntervalMs?: number;
  /** How often the master reconciles the Raft group with the candidate pool; the default timings' unless given. */
  readonly reconcileIntervalMs?: number;
  /** Each host's clock runs off by a rate drawn within ± this bound (parts per million); 0 when absent. */
  readonly clockDriftPpm?: number;
}

/**
 * Corral's control plane on simulated nodes: each runs the daemon's own cluster service (Raft, the master role,
 * the job queue and every opcode) and node agent (the fake hypervisor, disk templates in memory) over the
 * in-memory transport, on one simulated network and clock. A seed decides everything; the same seed replays
 * the same run.
 */
export class MasterWorld {
  readonly clock = new SimClock();
  readonly rng: Rng;
  readonly network: SimNetwork<Packet>;
  readonly hub: MemoryHub;
  readonly machines: SimMachine[];
  /** Storage every node reaches, as sharedfile's directory is. */
  private readonly shared = new MemoryStorage(STORAGE_MIB_PER_NODE);
  private uuids = 0;
  /** The hosts' out-of-band management, whichever is the master. */
  private readonly oob = simOob();
  /**
   * Every write a simulated guest had acknowledged, per instance UUID (a rename keeps it): offset to byte, the
   * last one winning.
   */
  readonly acknowledged = new Map<string, Map<number, number>>();
  /** Called after every instant of simulated time, once its events and their promise callbacks have run. */
  afterInstant: () => void = () => undefined;

  constructor(private readonly options: MasterWorldOptions) {
    this.rng = seededRng(options.seed);
    this.network = new SimNetwork<Packet>(this.clock, this.rng.fork());
    this.machines = Array.from({ length: options.nodes }, (_, i) => {
      const bound = options.clockDriftPpm ?? 0;
      // Half the hosts sit at the bound itself, where the lease's arithmetic is tightest.
      const drift =
        bound === 0
          ? 0
          : this.rng.chance(0.5)
            ? (this.rng.chance(0.5) ? 1 : -1) * bound
            : Math.round((this.rng.next() * 2 - 1) * bound);
      return new SimMachine(asNodeId(`node${i + 1}`), new DriftingClock(this.clock, drift));
    });
    this.hub = new MemoryHub(this.network, silentLogger, (id) => {
      const machine = this.machine(id);
      return nodeCallerCheck({
        members: machine.members,
        enrolment: machine.enrolment,
        clock: machine.clock,
        replica: () => machine.service,
      });
    });
  }

  machine(id: NodeId | string): SimMachine {
    const found = this.machines.find((machine) => machine.id === id);
    if (found === undefined) throw new RangeError(`no node ${id}`);
    return found;
  }

  /** Boots a machine's daemon: its agent and its cluster service, which rejoins its cluster if it had one. */
  async boot(id: NodeId): Promise<void> {
    const machine = this.machine(id);
    if (machine.up) throw new RangeError(`${id} is already up`);
    const transport = this.hub.join(id);
    machine.transport = transport;
    const reporter = reportingToMaster((request) => {
      if (machine.service === undefined) throw new CorralError('unavailable', `${id} is not running`);
      return machine.service.forward(request);
    }, silentLogger);
    const mirror = new MirrorService({
      transport,
      openStore: async (instance, disk) => memoryBlockStore(machine.localDisks, agentDiskRef(instance, disk)),
      records: machine.mirrorRecords,
      reporter: () => (machine.service === undefined ? undefined : reporter),
      clock: machine.clock,
      log: silentLogger,
    });
    machine.mirror = mirror;
    const lease: LeaseKeeper = new LeaseKeeper({
      clock: machine.clock,
      log: silentLogger,
      record: machine.leaseRecord,
      leaseMs: () => machine.service?.localConfig()?.cluster.ha.leaseMs,
      renew: async (deadlineMs) => {
        if (machine.service === undefined) throw new CorralError('unavailable', `${id} is not running`);
        return machine.service.forward({ op: 'lease' }, { deadlineMs });
      },
      fence: () => agent.fenceGuests(),
    });
    machine.lease = lease;
    const agent = new NodeAgent({
      hypervisors: new Map([
        [
          'fake',
          createFakeHypervisor({
            states: machine.guests,
            memoryTotalMiB: MIB_PER_NODE,
            cpus: 4,
            clock: machine.clock,
          }),
        ],
      ]),
      templates: new Map([
        ['diskless', createDisklessTemplate()],
        ['file', createMemoryTemplate({ name: 'file', storage: machine.localDisks })],
        ['sharedfile', createMemoryTemplate({ name: 'sharedfile', storage: this.shared })],
        ['drbd', createMemoryTemplate({ name: 'drbd', storage: machine.localDisks })],
        // Never enabled for instances here; it lets repair-storage (lvm-vg) reach an agent.
        ['plain', createMemoryTemplate({ name: 'plain', storage: machine.localDisks })],
      ]),
      // A powercycle is recorded, not done: the simulation's own crash faults are its effect on the cluster.
      power: {
        powercycle: () => {
          machine.powercycles++;
          return 'Reboot scheduled in 5 seconds';
        },
      },
      // One command every simulated host has; any other name is missing there.
      restricted: {
        run: async (name) => {
          if (name !== SIM_RESTRICTED_COMMAND)
            throw new CorralError('not_found', `/memory/restricted-commands/${name} does not exist`);
          return { ok: true, output: `${id} is fine\n` };
        },
      },
      os: simOsCatalog(),
      exports: machine.exports,
      mirror,
      lease,
      transport,
      clock: machine.clock,
      log: silentLogger,
    });
    agent.register();
    machine.service = await this.settle(
      ClusterService.start({
        transport,
        members: machine.members,
        raftLog: memoryReplicaLog(machine.disk),
        name: id,
        hooks: noHooks,
        oob: this.oob,
        masterIpDevice: () => machine.masterIpDevice,
        agent,
        timings: {
          ...defaultControlTimings,
          watcherIntervalMs: this.options.watcherIntervalMs ?? 5_000,
          reconcileIntervalMs: this.options.reconcileIntervalMs ?? defaultControlTimings.reconcileIntervalMs,
        },
        clock: machine.clock,
        log: silentLogger,
        onFatal: () => this.crash(id),
        onEvicted: () => this.crash(id),
        observed: (peer) => this.observed(id, peer),
        enrolment: machine.enrolment,
        rng: this.rng.fork(),
        newUuid: () => `uuid-${this.options.seed}-${++this.uuids}`,
        // No key is drawn in simulated time: simulated nodes serve no RAPI.
        newRapiCertificate: async (name) => ({ cert: `certificate of ${name}`, key: `key of ${name}` }),
      }),
    );
    await this.settle(lease.start());
    await this.settle(agent.serveLocal(undefined));
  }

  /** The host loses power: its daemon and guests are gone, and its disk keeps only what was synced. */
  crash(id: NodeId): void {
    const machine = this.machine(id);
    if (!machine.up) return;
    this.hub.leave(id);
    void machine.service?.stop();
    void machine.transport?.stop();
    machine.lease?.stop();
    machine.lease = undefined;
    machine.service = undefined;
    machine.transport = undefined;
    machine.disk.crash();
    machine.mirror?.halt();
    machine.mirror = undefined;
    machine.guests = fakeStatesInMemory();
  }

  /** Founds the cluster on the first node and adds the others, each with its enrolment code. */
  async form(): Promise<void> {
    for (const machine of this.machines) await this.boot(machine.id);
    const [first, ...others] = this.machines;
    await this.settle(
      first!.service!.init({
        name: 'sim.cluster',
        enabledHypervisors: ['fake'],
        enabledDiskTemplates: ['diskless', 'file', 'sharedfile', 'drbd'],
      }),
    );
    for (const [i, machine] of others.entries()) {
      const job = await this.submit(first!.id, [
        {
          OP_ID: 'OP_NODE_ADD',
          node_name: machine.id,
          address: memoryAddress(machine.id),
          // A memory address names no IP; the node record needs one, and nothing is ever sent to it.
          primary_ip: `127.0.1.${i + 2}`,
          enrol_code: machine.enrolment.code(),
        },
      ]);
      const ended = await this.waitJob(first!.id, job);
      if (ended.status !== 'success')
        throw new CorralError('internal', `adding ${machine.id} ended ${ended.status}: ${lastLog(ended)}`);
    }
    // Settled: every node holds the whole configuration and the candidates vote, as formLocalCluster waits.
    const voters = Math.min(this.machines.length, DEFAULT_CANDIDATE_POOL_SIZE);
    await this.until(
      () =>
        this.machines.every(
          (machine) => machine.service?.localConfig()?.nodes.size === this.machines.length,
        ) && first!.service!.raftStatus()?.membership.voters.length === voters,
      FORM_LIMIT_MS,
      `all ${this.machines.length} nodes to hold the configuration and ${voters} to vote`,
    );
  }

  /** Runs the clock until `holds()` is true, or fails after `limitMs` of simulated time. */
  async until(holds: () => boolean, limitMs: number, what: string): Promise<void> {
    await this.runUntil(this.clock.monotonicMs() + limitMs, holds);
    if (!holds()) throw new CorralError('timeout', `gave up after ${limitMs} ms waiting for ${what}`);
  }

  /** Submits a job through a node, as its CLI would; resolves with the job's ID once the master has it. */
  async submit(via: NodeId, ops: readonly Opcode[]): Promise<JobId> {
    const service = this.machine(via).service;
    if (service === undefined) throw new CorralError('unreachable', `${via} is down`);
    const request: Extract<MasterRequest, { op: 'submit' }> = {
      op: 'submit',
      key: `sim-submit-${this.options.seed}-${++this.uuids}`,
      priority: 0,
      ops: [...ops],
    };
    const { job } = await this.settle(service.forward(request));
    return job as JobId;
  }

  /** Follows a job from a node's replica until it ends, or until `limitMs` of simulated time have passed. */
  async waitJob(via: NodeId, id: JobId, limitMs = 120_000): Promise<JobRecord> {
    const deadlineMs = this.clock.monotonicMs() + limitMs;
    let version = -1;
    while (this.clock.monotonicMs() < deadlineMs) {
      const service = this.machine(via).service;
      if (service === undefined) throw new CorralError('unreachable', `${via} went down`);
      const job = await this.settle(service.waitJob(id, version, 1_000), limitMs).catch((error: unknown) => {
        // A node still catching up cannot say yet; a client asks again, as `job watch` does.
        if (error instanceof CorralError && error.code === 'unavailable') return undefined;
        throw error;
      });
      if (job === undefined) {
        await this.runFor(RETRY_PAUSE_MS);
        continue;
      }
      if (job.status === 'success' || job.status === 'error' || job.status === 'canceled') return job;
      version = job.version;
    }
    throw new CorralError('timeout', `job ${id} did not end within ${limitMs} ms of simulated time`);
  }

  /**
   * Writes one byte through the node that serves the instance's mirrored disk, as its guest would, with
   * FUA; says where, and whether the write was acknowledged within `limitMs` of simulated time.
   */
  async guestWrite(instance: string, offset: number, value: number, limitMs = 10_000): Promise<string> {
    const record = [...(this.newestConfig()?.instances.values() ?? [])].find((i) => i.name === instance);
    const disk = record?.disks[0];
    if (record === undefined || disk === undefined) return `${instance} has no disk`;
    const primaries = this.machines.filter((machine) =>
      machine.mirror?.status(record.uuid).some((entry) => entry.role === 'primary'),
    );
    // Only a node that runs the guest writes as the guest would: a node back from a crash may still hold
    // the disk as primary until the watcher drops it, with no guest on it.
    const serving =
      primaries.find((machine) =>
        [...machine.guests.records.values()].some(
          (guest) => guest.name === instance && guest.state === 'running',
        ),
      ) ?? primaries[0];
    const target = serving?.mirror?.diskExport(disk.uuid);
    if (serving === undefined || target === undefined) return `no node serves ${instance}`;
    const outcome = await this.settle(
      target.write(offset, new Uint8Array([value]), true).then(
        () => 'acknowledged',
        (error: Error) => `failed: ${error.message}`,
      ),
      limitMs,
    ).catch(() => 'not acknowledged yet');
    if (outcome === 'acknowledged') {
      const writes = this.acknowledged.get(record.uuid) ?? new Map<number, number>();
      writes.set(offset, value);
      this.acknowledged.set(record.uuid, writes);
    }
    return `${outcome} by ${serving.id}`;
  }

  /** For each node holding a copy of the instance's first disk: whether it holds every acknowledged write. */
  copies(instance: string): string[] {
    const config = this.newestConfig();
    const record = [...(config?.instances.values() ?? [])].find((i) => i.name === instance);
    const disk = record?.disks[0];
    if (record === undefined || disk === undefined) return [`${instance} has no disk`];
    return this.machines.flatMap((machine) => {
      const missing = this.missing(machine.id, record);
      if (missing === undefined) return [];
      const uuid = nodeUuidOf(config, machine.id);
      const current = uuid !== undefined && record.mirror?.current.includes(uuid) === true;
      return [
        `${machine.id}: ${current ? 'current' : 'stale'}, ${missing === 0 ? 'holds every acknowledged write' : `misses ${missing}`}`,
      ];
    });
  }

  /**
   * How many of the writes acknowledged to the instance's guest the node's copy of its first disk lacks;
   * undefined when the node holds no copy.
   */
  missing(id: NodeId, record: InstanceRecord): number | undefined {
    const disk = record.disks[0];
    if (disk === undefined) return undefined;
    const copy = this.machine(id).localDisks.disks.get(`${record.uuid}/${disk.uuid}`);
    if (copy === undefined) return undefined;
    const writes = this.acknowledged.get(record.uuid) ?? new Map<number, number>();
    return [...writes].filter(([offset, value]) => (copy.data[offset] ?? 0) !== value).length;
  }

  /** The newest configuration a running node holds (the highest serial). */
  newestConfig(): ConfigData | undefined {
    let newest: ConfigData | undefined;
    for (const machine of this.machines) {
      const config = machine.service?.localConfig();
      if (config !== undefined && (newest === undefined || config.serial > newest.serial)) newest = config;
    }
    return newest;
  }

  /** Every guest the simulated hypervisors run, by node. */
  guests(): { readonly node: NodeId; readonly guest: FakeState }[] {
    return this.machines.flatMap((machine) =>
      [...machine.guests.records.values()].map((guest) => ({ node: machine.id, guest })),
    );
  }

  setFaults(faults: NetworkFaults): void {
    this.network.setFaults(faults);
  }

  /**
   * Drives the clock until `work` settles, or fails after `limitMs` of simulated time. Between instants,
   * promise callbacks run before time moves on, as they would on a real event loop.
   */
  async settle<T>(work: Promise<T>, limitMs = 60_000): Promise<T> {
    let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
    work.then(
      (value) => {
        outcome = { ok: true, value };
      },
      (error: unknown) => {
        outcome = { ok: false, error };
      },
    );
    await this.runUntil(this.clock.monotonicMs() + limitMs, () => outcome !== undefined);
    if (outcome === undefined)
      throw new CorralError('timeout', `gave up after ${limitMs} ms of simulated time`);
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  async runFor(durationMs: number): Promise<void> {
    await this.runUntil(this.clock.monotonicMs() + durationMs);
  }

  private async runUntil(untilMs: number, stop: () => boolean = () => false): Promise<void> {
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.afterInstant();
      if (stop()) return;
      const dueMs = this.clock.nextDueMs();
      if (dueMs === undefined || dueMs > untilMs) break;
      while (this.clock.nextDueMs() === dueMs) this.clock.step();
    }
    this.clock.advanceTo(untilMs);
  }

  /**
   * What gossip would say of `peer` as seen from `from`: alive while both are up and can reach each other.
   * An oracle, not the gossip service (the membership simulation tests that); its age is always zero, so the
   * master never replaces a candidate here.
   */
  private observed(from: NodeId, peer: NodeId) {
    const alive =
      this.machine(peer).up && this.network.canReach(from, peer) && this.network.canReach(peer, from);
    return { state: alive ? ('alive' as const) : ('dead' as const), stateAgeMs: 0 };
  }
}

function lastLog(job: JobRecord): string {
  return job.log.at(-1)?.message ?? 'no log';
}

/** The config's UUID of the node with this peer ID. */
function nodeUuidOf(config: ConfigData | undefined, id: NodeId): NodeUuid | undefined {
  return [...(config?.nodes.values() ?? [])].find((node) => node.id === id)?.uuid;
}
