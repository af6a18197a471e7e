import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Clock } from '../common/clock.js';
import { writeFileDurably } from '../common/durable-file.js';
import { CorralError } from '../common/errors.js';
import type {
  Hypervisor,
  InstanceSpec,
  InstanceStatus,
  MigrationEndpoint,
  MigrationResult,
  NodeResources,
  RunState,
} from './hypervisor.js';

/**
 * Ganeti's fake hypervisor: no VM runs, but every instance has a state file, so that the cluster behaves as
 * with real guests (memory is accounted, a restarted daemon finds its instances, migration moves them). For
 * tests, demos and large simulations.
 */

export interface FakeHypervisorInit {
  /** Where the state files live; one file per instance. */
  readonly stateDir: string;
  /** The memory the node pretends to have, so that tests can run out of it. */
  readonly memoryTotalMiB: number;
  readonly cpus: number;
  readonly clock: Clock;
}

const stateSchema = z.object({
  name: z.string(),
  uuid: z.string(),
  state: z.enum(['running', 'paused', 'incoming']),
  memoryMiB: z.number(),
  vcpus: z.number(),
  startedMs: z.number(),
});
type FakeState = z.infer<typeof stateSchema>;

/** Fake takes no parameters of its own; it accepts Ganeti's common ones and ignores them. */
const acceptedParams = new Set(['boot_order', 'kernel_path', 'kernel_args', 'initrd_path', 'accel']);

export function createFakeHypervisor(init: FakeHypervisorInit): Hypervisor {
  const file = (name: string) => join(init.stateDir, `${name}.json`);

  async function read(name: string): Promise<FakeState | undefined> {
    try {
      return stateSchema.parse(JSON.parse(await readFile(file(name), 'utf8')));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new CorralError(
        'internal',
        `fake hypervisor state of ${name} is unreadable: ${(error as Error).message}`,
      );
    }
  }

  async function write(state: FakeState): Promise<void> {
    await mkdir(init.stateDir, { recursive: true });
    await writeFileDurably(file(state.name), new TextEncoder().encode(JSON.stringify(state)));
  }

  async function all(): Promise<FakeState[]> {
    let names: string[];
    try {
      names = await readdir(init.stateDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const states = await Promise.all(
      names.filter((n) => n.endsWith('.json')).map((n) => read(n.slice(0, -'.json'.length))),
    );
    return states.filter((s): s is FakeState => s !== undefined);
  }

  async function stateFor(spec: InstanceSpec, state: FakeState['state']): Promise<FakeState> {
    const running = await all();
    const used = running.reduce((sum, s) => sum + s.memoryMiB, 0);
    if (used + spec.memoryMiB > init.memoryTotalMiB) {
      throw new CorralError(
        'conflict',
        `not enough memory to start ${spec.name}: it needs ${spec.memoryMiB} MiB, ${init.memoryTotalMiB - used} MiB free`,
      );
    }
    return {
      name: spec.name,
      uuid: spec.uuid,
      state,
      memoryMiB: spec.memoryMiB,
      vcpus: spec.vcpus,
      startedMs: init.clock.wallMs(),
    };
  }

  function status(state: FakeState): InstanceStatus {
    return { ...state, state: state.state as RunState };
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
      const existing = await read(spec.name);
      if (existing !== undefined && existing.state !== 'incoming')
        throw new CorralError('conflict', `${spec.name} is already running on this node`);
      await write(await stateFor(spec, options?.paused ? 'paused' : 'running'));
    },
    async stop(name) {
      await rm(file(name), { force: true });
    },
    async reboot(name) {
      const state = await read(name);
      if (state === undefined) throw new CorralError('conflict', `${name} is not running on this node`);
      await write({ ...state, state: 'running', startedMs: init.clock.wallMs() });
    },
    async status(name) {
      const state = await read(name);
      return state === undefined ? undefined : status(state);
    },
    async list() {
      return (await all()).map(status);
    },
    async resources(): Promise<NodeResources> {
      const used = (await all()).reduce((sum, s) => sum + s.memoryMiB, 0);
      return {
        memoryTotalMiB: init.memoryTotalMiB,
        memoryFreeMiB: init.memoryTotalMiB - used,
        memoryInstancesMiB: used,
        cpus: init.cpus,
      };
    },
    async acceptMigration(spec, bindHost, options): Promise<MigrationEndpoint> {
      // No guest, so no disk I/O to follow: an honest copy would be an offline one, which is instance move.
      if (options.copyStorage)
        throw new CorralError(
          'conflict',
          `the fake hypervisor cannot copy disks during a migration; move ${spec.name} with instance move`,
        );
      if ((await read(spec.name))?.state === 'running')
        throw new CorralError('conflict', `${spec.name} is already running on the target node`);
      await write(await stateFor(spec, 'incoming'));
      return { host: bindHost, port: 0 };
    },
    async migrate(name): Promise<MigrationResult> {
      const state = await read(name);
      if (state === undefined) throw new CorralError('conflict', `${name} is not running on this node`);
      const startMs = init.clock.monotonicMs();
      await rm(file(name), { force: true });
      return { totalMs: init.clock.monotonicMs() - startMs, downtimeMs: 0, transferredBytes: 0 };
    },
    async finishMigration(name, succeeded) {
      const state = await read(name);
      if (state === undefined) {
        if (succeeded) throw new CorralError('conflict', `${name} was not being received on this node`);
        return;
      }
      if (succeeded) await write({ ...state, state: 'running' });
      else if (state.state === 'incoming') await rm(file(name), { force: true });
    },
    consolePath() {
      return undefined;
    },
  };
}
