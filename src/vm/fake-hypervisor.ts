import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { nicModes } from '../cluster/model.js';
import type { Clock } from '../common/clock.js';
import { writeFileDurably } from '../common/durable-file.js';
import { CorralError } from '../common/errors.js';
import type {
  GuestDevices,
  Hypervisor,
  InstanceSpec,
  InstanceStatus,
  MigrationEndpoint,
  MigrationResult,
  NodeResources,
  RunState,
} from './hypervisor.js';
import { DEFAULT_PCI_RESERVATIONS, notPlugged, PCI_SLOTS, placeDevices, slotForPlug } from './pci-slots.js';

/**
 * Ganeti's fake hypervisor: no VM runs, but every instance has a state record, so that the cluster behaves as
 * with real guests (memory is accounted, a restarted daemon finds its instances, migration moves them). For
 * tests, demos and large simulations: the daemon keeps the records in files, the simulator in memory.
 */

export interface FakeHypervisorInit {
  /** Where the instances' state records live. */
  readonly states: FakeStates;
  /** The memory the node pretends to have, so that tests can run out of it. */
  readonly memoryTotalMiB: number;
  readonly cpus: number;
  readonly clock: Clock;
}

const pciSlot = z
  .number()
  .int()
  .min(0)
  .max(PCI_SLOTS - 1);
const stateSchema = z.object({
  name: z.string(),
  uuid: z.string(),
  state: z.enum(['running', 'paused', 'incoming']),
  memoryMiB: z.number(),
  vcpus: z.number(),
  startedMs: z.number(),
  /** The guest's devices on their PCI slots, placed as kvm places them, plugged in and out as on kvm. */
  disks: z.array(z.object({ uuid: z.string(), pciSlot })),
  nics: z.array(
    z.object({ uuid: z.string(), mac: z.string(), mode: z.enum(nicModes), link: z.string(), pciSlot }),
  ),
});
export type FakeState = z.infer<typeof stateSchema>;

/** The fake hypervisor's record of each instance it runs (or is receiving), by instance name. */
export interface FakeStates {
  read(name: string): Promise<FakeState | undefined>;
  write(state: FakeState): Promise<void>;
  remove(name: string): Promise<void>;
  all(): Promise<FakeState[]>;
}

/** One file per instance in `stateDir`, written durably, so that a restarted daemon finds its instances. */
export function fakeStatesInDir(stateDir: string): FakeStates {
  const file = (name: string) => join(stateDir, `${name}.json`);
  const states: FakeStates = {
    async read(name) {
      try {
        return stateSchema.parse(JSON.parse(await readFile(file(name), 'utf8')));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new CorralError(
          'internal',
          `fake hypervisor state of ${name} is unreadable: ${(error as Error).message}`,
        );
      }
    },
    async write(state) {
      await mkdir(stateDir, { recursive: true });
      await writeFileDurably(file(state.name), new TextEncoder().encode(JSON.stringify(state)));
    },
    async remove(name) {
      await rm(file(name), { force: true });
    },
    async all() {
      let names: string[];
      try {
        names = await readdir(stateDir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      }
      const found = await Promise.all(
        names.filter((n) => n.endsWith('.json')).map((n) => states.read(n.slice(0, -'.json'.length))),
      );
      return found.filter((state): state is FakeState => state !== undefined);
    },
  };
  return states;
}

/** Records in a map: the simulator's, where a node's instances are lost with its process as a host's are. */
export function fakeStatesInMemory(): FakeStates & { readonly records: ReadonlyMap<string, FakeState> } {
  const records = new Map<string, FakeState>();
  return {
    records,
    async read(name) {
      return records.get(name);
    },
    async write(state) {
      records.set(state.name, { ...state });
    },
    async remove(name) {
      records.delete(name);
    },
    async all() {
      return [...records.values()];
    },
  };
}

/** Fake takes no parameters of its own; it accepts Ganeti's common ones and ignores them. */
const acceptedParams = new Set(['boot_order', 'kernel_path', 'kernel_args', 'initrd_path', 'accel']);

export function createFakeHypervisor(init: FakeHypervisorInit): Hypervisor {
  const { states } = init;

  async function stateFor(spec: InstanceSpec, state: FakeState['state']): Promise<FakeState> {
    const running = await states.all();
    const used = running.reduce((sum, s) => sum + s.memoryMiB, 0);
    if (used + spec.memoryMiB > init.memoryTotalMiB) {
      throw new CorralError(
        'conflict',
        `not enough memory to start ${spec.name}: it needs ${spec.memoryMiB} MiB, ${init.memoryTotalMiB - used} MiB free`,
      );
    }
    const slots = placeDevices([...spec.disks, ...spec.nics], DEFAULT_PCI_RESERVATIONS, spec.name).map(
      (device) => device.pciSlot,
    );
    const slotOf = (index: number) => slots[index] ?? 0;
    return {
      name: spec.name,
      uuid: spec.uuid,
      state,
      memoryMiB: spec.memoryMiB,
      vcpus: spec.vcpus,
      startedMs: init.clock.wallMs(),
      disks: spec.disks.map(({ uuid }, index) => ({ uuid, pciSlot: slotOf(index) })),
      nics: spec.nics.map(({ uuid, mac, mode, link }, index) => ({
        uuid,
        mac,
        mode,
        link,
        pciSlot: slotOf(spec.disks.length + index),
      })),
    };
  }

  function status({ disks: _disks, nics: _nics, ...state }: FakeState): InstanceStatus {
    return { ...state, state: state.state as RunState };
  }

  async function running(name: string): Promise<FakeState> {
    const state = await states.read(name);
    if (state === undefined || state.state === 'incoming')
      throw new CorralError('conflict', `${name} is not running on this node`);
    return state;
  }

  return {
    name: 'fake',
    checkParams(hvParams) {
      for (const key of Object.keys(hvParams)) {
        if (!acceptedParams.has(key))
          throw new CorralError('bad_request', `unknown hypervisor parameter ${key} for fake`);
      }
    },
    async start(spec, options) {
      const existing = await states.read(spec.name);
      if (existing !== undefined && existing.state !== 'incoming')
        throw new CorralError('conflict', `${spec.name} is already running on this node`);
      await states.write(await stateFor(spec, options?.paused ? 'paused' : 'running'));
    },
    async stop(name) {
      await states.remove(name);
    },
    async reboot(name) {
      const state = await states.read(name);
      if (state === undefined) throw new CorralError('conflict', `${name} is not running on this node`);
      await states.write({ ...state, state: 'running', startedMs: init.clock.wallMs() });
    },
    async setMemory(name, memoryMiB) {
      const state = await states.read(name);
      if (state === undefined) throw new CorralError('conflict', `${name} is not running on this node`);
      const used = (await states.all()).reduce((sum, s) => sum + s.memoryMiB, 0);
      const free = init.memoryTotalMiB - used;
      if (memoryMiB - state.memoryMiB > free)
        throw new CorralError(
          'conflict',
          `not enough memory to balloon ${name} to ${memoryMiB} MiB: ${free} MiB free on this node`,
        );
      await states.write({ ...state, memoryMiB });
    },
    async devices(name): Promise<GuestDevices> {
      const { disks, nics } = await running(name);
      return { disks, nics, hotplugRefusals: {} };
    },
    async hotAdd(name, device) {
      const state = await running(name);
      const pciSlot = slotForPlug([...state.disks, ...state.nics], device, DEFAULT_PCI_RESERVATIONS, name);
      if (device.kind === 'disk')
        await states.write({ ...state, disks: [...state.disks, { uuid: device.disk.uuid, pciSlot }] });
      else {
        const { uuid, mac, mode, link } = device.nic;
        await states.write({ ...state, nics: [...state.nics, { uuid, mac, mode, link, pciSlot }] });
      }
      return pciSlot;
    },
    async hotRemove(name, kind, uuid) {
      const state = await running(name);
      if (![...state.disks, ...state.nics].some((d) => d.uuid === uuid)) throw notPlugged(name, kind, uuid);
      await states.write({
        ...state,
        disks: state.disks.filter((d) => d.uuid !== uuid),
        nics: state.nics.filter((n) => n.uuid !== uuid),
      });
    },
    async status(name) {
      const state = await states.read(name);
      return state === undefined ? undefined : status(state);
    },
    async list() {
      return (await states.all()).map(status);
    },
    async resources(): Promise<NodeResources> {
      const used = (await states.all()).reduce((sum, s) => sum + s.memoryMiB, 0);
      return {
        memoryTotalMiB: init.memoryTotalMiB,
        memoryFreeMiB: init.memoryTotalMiB - used,
        memoryInstancesMiB: used,
        cpus: init.cpus,
        // A pretend node has one socket and one NUMA node, as Ganeti's fake hypervisor says.
        cpuSockets: 1,
        numaNodes: 1,
      };
    },
    async acceptMigration(spec, bindHost, options): Promise<MigrationEndpoint> {
      // No guest, so no disk I/O to follow: an honest copy would be an offline one, which is instance move.
      if (options.copyStorage)
        throw new CorralError(
          'conflict',
          `the fake hypervisor cannot copy disks during a migration; move ${spec.name} with instance move`,
        );
      if ((await states.read(spec.name))?.state === 'running')
        throw new CorralError('conflict', `${spec.name} is already running on the target node`);
      await states.write(await stateFor(spec, 'incoming'));
      return { host: bindHost, port: 0 };
    },
    async migrate(name): Promise<MigrationResult> {
      const state = await states.read(name);
      if (state === undefined) throw new CorralError('conflict', `${name} is not running on this node`);
      const startMs = init.clock.monotonicMs();
      await states.remove(name);
      return { totalMs: init.clock.monotonicMs() - startMs, downtimeMs: 0, transferredBytes: 0 };
    },
    async finishMigration(name, succeeded) {
      const state = await states.read(name);
      if (state === undefined) {
        if (succeeded) throw new CorralError('conflict', `${name} was not being received on this node`);
        return;
      }
      if (succeeded) await states.write({ ...state, state: 'running' });
      else if (state.state === 'incoming') await states.remove(name);
    },
    consolePath() {
      return undefined;
    },
  };
}
