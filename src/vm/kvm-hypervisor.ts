import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { access, open, readFile, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { cpus } from 'node:os';
import { z } from 'zod';
import type { Clock } from '../common/clock.js';
import { asCorralError, CorralError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { waitFor } from '../common/wait.js';
import { accelVerdict } from './accel-probe.js';
import { hostCpuTopology } from './host-topology.js';
import type {
  GuestDevices,
  HotplugDevice,
  Hypervisor,
  InstanceSpec,
  InstanceStatus,
  MigrationEndpoint,
  MigrationResult,
  NodeResources,
  RunState,
} from './hypervisor.js';
import { qemuArgs, uriHost } from './kvm-command.js';
import {
  diskBackend,
  diskDevice,
  diskDeviceId,
  driveId,
  hotplugRefusal,
  nicBackend,
  nicDevice,
  nicDeviceId,
  type PlacedSpec,
  placedSpec,
} from './kvm-devices.js';
import { type Accel, type KvmParams, parseKvmParams } from './kvm-params.js';
import {
  checkSocketPaths,
  livePid,
  logSince,
  logSize,
  type RuntimePaths,
  type RuntimeRecord,
  readRecord,
  removeRuntime,
  runtimeNames,
  runtimePaths,
  writeRecord,
} from './kvm-runtime.js';
import { exportDisks, startMirrors, stopExports } from './kvm-storage-migration.js';
import { checkNics, createTap, createTaps, removeTap, removeTaps } from './kvm-taps.js';
import { notPlugged, slotForPlug } from './pci-slots.js';
import type { QmpClient } from './qmp.js';
import { createQmpSessions } from './qmp-sessions.js';

/**
 * The kvm hypervisor: one QEMU process per instance, driven over QMP. QEMU runs detached from the daemon
 * (its own session, output to a log in its runtime dir), so that the daemon can restart, or die, while
 * its instances go on; a new hypervisor object on the same run dir finds them by their pid files and
 * their QMP sockets. Guests run under KVM where a probe boot shows that KVM works, under TCG otherwise.
 */

export interface KvmHypervisorInit {
  /** Holds one runtime dir per instance and the cached acceleration verdict. */
  readonly runDir: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly qemuBinary?: string;
  /** The node's accelerator; by default a probe boot decides, once (accel-probe.ts). */
  readonly accel?: Accel;
  /** How long a guest may take to reboot itself before it is reset; Ganeti's shutdown timeout by default. */
  readonly softRebootTimeoutMs?: number;
  /** A migration that has not completed by then is cancelled. */
  readonly migrationTimeoutMs?: number;
}

const defaultQemuBinary = 'qemu-system-x86_64';
const defaultSoftRebootTimeoutMs = 120_000;
const defaultMigrationTimeoutMs = 30 * 60_000;
const qmpConnectTimeoutMs = 5_000;
/** From spawn to QMP answering: QEMU sets up the machine, not the guest, in that time. */
const qemuStartTimeoutMs = 30_000;
/** After `quit`, QEMU flushes its disks and exits; after SIGKILL the kernel tears it down. */
const quitTimeoutMs = 5_000;
const killTimeoutMs = 5_000;
const migrationPollMs = 100;
/** A guest releases an unplugged device through ACPI; one that has not by then may never (no OS running). */
const unplugTimeoutMs = 30_000;
/** The target may still be loading the last pages when the source reports the migration completed. */
const incomingSettleTimeoutMs = 30_000;
const mebibyte = 1024 * 1024;

const queryStatusSchema = z.object({ status: z.string() });
const migrateInfoSchema = z.object({
  status: z.string().optional(),
  'total-time': z.number().optional(),
  downtime: z.number().optional(),
  ram: z.object({ transferred: z.number() }).optional(),
  disk: z.object({ transferred: z.number() }).optional(),
  'error-desc': z.string().optional(),
  'socket-address': z.array(z.object({ type: z.string(), port: z.string().optional() })).optional(),
});

async function guestRuns(q: QmpClient): Promise<boolean> {
  return queryStatusSchema.parse(await q.execute('query-status')).status === 'running';
}

/** QEMU's run states, as the node agent sees them; every state in which the guest does not run is paused. */
function runState(qemuStatus: string): RunState {
  switch (qemuStatus) {
    case 'running':
      return 'running';
    case 'inmigrate':
      return 'incoming';
    case 'shutdown':
      return 'shutdown';
    default:
      return 'paused';
  }
}

export function createKvmHypervisor(init: KvmHypervisorInit): Hypervisor {
  const qemuBinary = init.qemuBinary ?? defaultQemuBinary;
  const log = init.log.child({ hypervisor: 'kvm' });
  const sessions = createQmpSessions(qmpConnectTimeoutMs);
  /** Names being started by this object: two starts of one name must not race for its sockets. */
  const launching = new Set<string>();
  let verdict: Promise<Accel> | undefined;

  const paths = (name: string) => runtimePaths(init.runDir, name);
  const qmp = <T>(p: RuntimePaths, use: (client: QmpClient) => Promise<T>) => sessions.with(p.qmp, use);

  function nodeAccel(): Promise<Accel> {
    if (init.accel !== undefined) return Promise.resolve(init.accel);
    verdict ??= accelVerdict({ runDir: init.runDir, qemuBinary, clock: init.clock, log }).then(
      (v) => v.accel,
      (error: unknown) => {
        verdict = undefined;
        throw error;
      },
    );
    return verdict;
  }

  async function queryRunState(p: RuntimePaths): Promise<RunState> {
    const answer = queryStatusSchema.parse(await qmp(p, (q) => q.execute('query-status')));
    return runState(answer.status);
  }

  /** Waits until the QEMU of this runtime dir has exited; false when it is still there at the deadline. */
  async function exitedWithin(p: RuntimePaths, timeoutMs: number): Promise<boolean> {
    try {
      await waitFor(() => (livePid(p) === undefined ? true : undefined), {
        timeoutMs,
        what: `QEMU of ${p.dir} to exit`,
      });
      return true;
    } catch {
      return false;
    }
  }

  /** Ends the QEMU of an instance and removes its runtime dir; cleanTimeoutMs 0 skips the clean attempt. */
  async function terminate(name: string, p: RuntimePaths, pid: number, cleanTimeoutMs: number) {
    const startMs = init.clock.monotonicMs();
    const how = await endQemu(name, p, pid, cleanTimeoutMs);
    await cleanUp(name, p);
    const elapsedMs = Math.round(init.clock.monotonicMs() - startMs);
    log.info({ instance: name, pid, how, elapsedMs }, 'stopped');
  }

  /** Removes what an instance whose QEMU has exited leaves on the host: its taps and its runtime dir. */
  async function cleanUp(name: string, p: RuntimePaths): Promise<void> {
    const record = await readRecord(p).catch(() => undefined);
    if (record !== undefined) await removeTaps(init.runDir, name, record.spec.nics);
    await removeRuntime(p);
  }

  async function endQemu(name: string, p: RuntimePaths, pid: number, cleanTimeoutMs: number) {
    if (cleanTimeoutMs > 0) {
      // The ACPI power button; only a running guest can hear it.
      const pressed = await qmp(p, async (q) => {
        const running = await guestRuns(q);
        if (running) await q.execute('system_powerdown');
        return running;
      }).catch(() => false);
      if (pressed && (await exitedWithin(p, cleanTimeoutMs))) return 'powered off';
    }
    // `quit` still lets QEMU flush its disk caches; only a QEMU that does not answer is killed.
    await qmp(p, (q) => q.execute('quit')).catch(() => {});
    if (await exitedWithin(p, quitTimeoutMs)) return 'quit';
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // It exited after all.
    }
    if (await exitedWithin(p, killTimeoutMs)) return 'killed';
    throw new CorralError(
      'internal',
      `QEMU of ${name} (pid ${pid}) survives SIGKILL; see the host's kernel log`,
    );
  }

  async function checkFilesExist(spec: InstanceSpec, params: KvmParams): Promise<void> {
    const files: { what: string; path: string | undefined }[] = [
      { what: 'kernel_path', path: params.kernelPath },
      { what: 'initrd_path', path: params.initrdPath },
      { what: 'cdrom_image_path', path: params.cdromImagePath },
      ...spec.disks.map((disk, index) => ({ what: `disk ${index}`, path: disk.path })),
    ];
    for (const { what, path } of files) {
      if (path === undefined) continue;
      try {
        await access(path);
      } catch {
        throw new CorralError('not_found', `${what} of ${spec.name} (${path}) does not exist on this node`);
      }
    }
  }

  /** Starts QEMU for the spec and resolves once it answers on QMP. */
  async function launch(
    spec: InstanceSpec,
    options: { paused: boolean; incoming: boolean },
  ): Promise<RuntimePaths> {
    const params = parseKvmParams(spec.hvParams);
    const p = paths(spec.name);
    checkSocketPaths(p);
    await checkNics(spec.name, spec.nics);
    if (launching.has(spec.name) || livePid(p) !== undefined) {
      throw new CorralError('conflict', `${spec.name} is already running on this node`);
    }
    launching.add(spec.name);
    try {
      await checkFilesExist(spec, params);
      const accel = params.accel ?? (await nodeAccel());
      const placed = placedSpec(spec, params);
      const args = qemuArgs({ spec: placed, params, paths: p, runDir: init.runDir, accel, ...options });
      // A runtime dir left by a QEMU that died keeps its log (appended to below) and loses the rest.
      await Promise.all([p.qmp, p.console, p.pid, p.record].map((f) => rm(f, { force: true })));
      await writeRecord(p, placed, { accel, startedMs: init.clock.wallMs() });
      await createTaps(init.runDir, spec.name, placed.nics).catch(async (error: unknown) => {
        await removeRuntime(p);
        throw error;
      });
      await spawnQemu(spec.name, p, args);
      log.info({ instance: spec.name, accel, incoming: options.incoming }, 'QEMU started');
      return p;
    } finally {
      launching.delete(spec.name);
    }
  }

  async function spawnQemu(name: string, p: RuntimePaths, args: string[]): Promise<void> {
    const logOffset = await logSize(p);
    const logFile = await open(p.log, 'a', 0o600);
    let exited: string | undefined;
    const stopWaiting = new AbortController();
    // Detached: QEMU gets its own session, so that neither the daemon's exit nor a signal to the daemon's
    // process group reaches it; unref: the daemon does not wait for it.
    const child = spawn(qemuBinary, args, { detached: true, stdio: ['ignore', logFile.fd, logFile.fd] });
    child.unref();
    child.once('error', (error) => {
      exited = `QEMU did not start: ${error.message}`;
      stopWaiting.abort();
    });
    child.once('exit', (code, signal) => {
      exited = `QEMU exited (${signal ?? `code ${code}`})`;
      stopWaiting.abort();
    });
    try {
      await waitFor(() => qmp(p, (q) => q.execute('query-status')), {
        timeoutMs: qemuStartTimeoutMs,
        what: `QEMU of ${name} to answer on QMP`,
        signal: stopWaiting.signal,
      });
    } catch (error) {
      if (exited === undefined) child.kill('SIGKILL');
      const why = `${exited ?? asCorralError(error).message}: ${await logSince(p, logOffset)}`;
      await cleanUp(name, p);
      throw new CorralError('unavailable', `QEMU for ${name} did not start: ${why}`, { cause: error });
    } finally {
      await logFile.close();
    }
  }

  /** The record of a running instance, which a running instance always has. */
  async function recordOf(name: string, p: RuntimePaths, pid: number): Promise<RuntimeRecord> {
    const record = await readRecord(p);
    if (record === undefined) {
      throw new CorralError(
        'internal',
        `QEMU of ${name} (pid ${pid}) runs, but its runtime record is missing`,
      );
    }
    return record;
  }

  /** What hot-plugging needs of a running instance: its record, its parameters, and a refusal if it cannot. */
  async function pluggable(name: string, kind: HotplugDevice['kind']) {
    const { p, pid } = requireRunning(name);
    const record = await recordOf(name, p, pid);
    const params = parseKvmParams(record.spec.hvParams);
    const refusal = hotplugRefusal(params, kind);
    if (refusal !== undefined)
      throw new CorralError('conflict', `cannot hot-plug a ${kind} into ${name}: ${refusal}`);
    return { p, record, params };
  }

  async function saveDevices(p: RuntimePaths, record: RuntimeRecord, spec: PlacedSpec): Promise<void> {
    await writeRecord(p, spec, { accel: record.accel, startedMs: record.startedMs });
  }

  async function hotAdd(name: string, device: HotplugDevice): Promise<number> {
    const { p, record, params } = await pluggable(name, device.kind);
    const spec = placedSpec(record.spec, params);
    const uuid = device.kind === 'disk' ? device.disk.uuid : device.nic.uuid;
    const pciSlot = slotForPlug([...spec.disks, ...spec.nics], device, params.pciReservations, name);
    const failed = (error: unknown) =>
      new CorralError(
        'conflict',
        `could not hot-plug ${device.kind} ${uuid} into ${name}: ${asCorralError(error).message}`,
        { cause: error },
      );
    if (device.kind === 'disk') {
      const disk = { ...device.disk, pciSlot };
      try {
        await access(disk.path);
      } catch {
        throw new CorralError(
          'not_found',
          `the new disk of ${name} (${disk.path}) does not exist on this node`,
        );
      }
      await qmp(p, async (q) => {
        await q.execute('blockdev-add', diskBackend(disk));
        try {
          await q.execute('device_add', diskDevice(disk, spec.disks.length, params));
        } catch (error) {
          await q.execute('blockdev-del', { 'node-name': driveId(disk.uuid) }).catch(() => {});
          throw error;
        }
      }).catch((error: unknown) => {
        throw failed(error);
      });
      await saveDevices(p, record, { ...spec, disks: [...spec.disks, disk] });
    } else {
      const nic = { ...device.nic, pciSlot };
      await checkNics(name, [nic]);
      const backend = nicBackend(nic, { runDir: init.runDir, instance: name });
      await createTap(init.runDir, name, nic);
      try {
        await qmp(p, async (q) => {
          if (backend !== undefined) await q.execute('netdev_add', backend);
          try {
            await q.execute('device_add', nicDevice(nic, params));
          } catch (error) {
            if (backend !== undefined) await q.execute('netdev_del', { id: backend.id }).catch(() => {});
            throw error;
          }
        });
      } catch (error) {
        await removeTap(init.runDir, name, nic);
        throw failed(error);
      }
      await saveDevices(p, record, { ...spec, nics: [...spec.nics, nic] });
    }
    log.info({ instance: name, kind: device.kind, uuid, pciSlot }, 'device plugged in');
    return pciSlot;
  }

  async function hotRemove(name: string, kind: HotplugDevice['kind'], uuid: string): Promise<void> {
    const { p, record, params } = await pluggable(name, kind);
    const spec = placedSpec(record.spec, params);
    const disk = kind === 'disk' ? spec.disks.find((d) => d.uuid === uuid) : undefined;
    const nic = kind === 'nic' ? spec.nics.find((n) => n.uuid === uuid) : undefined;
    if (disk === undefined && nic === undefined) throw notPlugged(name, kind, uuid);
    const id = kind === 'disk' ? diskDeviceId(uuid) : nicDeviceId(uuid);
    await qmp(p, async (q) => {
      // QEMU reports the device's end, and then its backend's, once the guest has let the device go.
      const deleted = q.nextEvent('DEVICE_DELETED', unplugTimeoutMs, (data) => data.device === id);
      deleted.catch(() => {});
      await q.execute('device_del', { id });
      try {
        await deleted;
      } catch (error) {
        throw new CorralError(
          'conflict',
          `${name} did not release ${kind} ${uuid} within ${unplugTimeoutMs / 1000} s (does its OS support PCI hot-plug?); it may still let it go, or it goes at the next restart`,
          { cause: error },
        );
      }
      if (disk !== undefined) await q.execute('blockdev-del', { 'node-name': driveId(uuid) });
      const backend = nic && nicBackend(nic, { runDir: init.runDir, instance: name });
      if (backend !== undefined) await q.execute('netdev_del', { id: backend.id });
    });
    if (nic !== undefined) await removeTap(init.runDir, name, nic);
    await saveDevices(p, record, {
      ...spec,
      disks: spec.disks.filter((d) => d.uuid !== uuid),
      nics: spec.nics.filter((n) => n.uuid !== uuid),
    });
    log.info({ instance: name, kind, uuid }, 'device unplugged');
  }

  async function statusOf(name: string): Promise<InstanceStatus | undefined> {
    const p = paths(name);
    const pid = livePid(p);
    if (pid === undefined) return undefined;
    const record = await recordOf(name, p, pid);
    let state: RunState;
    try {
      state = await queryRunState(p);
    } catch (error) {
      if (livePid(p) === undefined) return undefined;
      // Reporting such an instance as stopped could get it started on a second node: fail loudly instead.
      throw new CorralError(
        'unavailable',
        `QEMU of ${name} (pid ${pid}) runs but does not answer on QMP (${asCorralError(error).message}); stop it with force`,
        { cause: error },
      );
    }
    const { spec } = record;
    return {
      name,
      uuid: spec.uuid,
      state,
      memoryMiB: spec.memoryMiB,
      vcpus: spec.vcpus,
      startedMs: record.startedMs,
      pid,
    };
  }

  function requireRunning(name: string): { p: RuntimePaths; pid: number } {
    const p = paths(name);
    const pid = livePid(p);
    if (pid === undefined) throw new CorralError('conflict', `${name} is not running on this node`);
    return { p, pid };
  }

  async function softReboot(name: string, q: QmpClient): Promise<void> {
    const timeoutMs = init.softRebootTimeoutMs ?? defaultSoftRebootTimeoutMs;
    const reset = q.nextEvent('RESET', timeoutMs);
    reset.catch(() => {});
    await q.execute('send-key', {
      keys: ['ctrl', 'alt', 'delete'].map((key) => ({ type: 'qcode', data: key })),
    });
    try {
      await reset;
    } catch (error) {
      if (asCorralError(error).code !== 'timeout') throw error;
      log.warn({ instance: name, timeoutMs }, 'the guest did not reboot on ctrl-alt-delete; resetting it');
      await q.execute('system_reset');
    }
  }

  async function migrateOver(
    name: string,
    q: QmpClient,
    params: KvmParams,
    target: MigrationEndpoint,
    live: boolean,
  ): Promise<MigrationResult> {
    const bytesPerSecond = params.migrationBandwidthMiBps * mebibyte;
    const timeoutMs = init.migrationTimeoutMs ?? defaultMigrationTimeoutMs;
    const where = `${target.host}:${target.port}`;
    await q.execute('migrate-set-parameters', {
      'max-bandwidth': bytesPerSecond,
      'downtime-limit': params.migrationDowntimeMs,
    });
    const wasRunning = await guestRuns(q);
    const startedMs = init.clock.monotonicMs();
    const mirrors =
      target.storage &&
      (await startMirrors(q, { host: target.host, storage: target.storage, bytesPerSecond, timeoutMs }));
    let stoppedAtMs: number | undefined;
    try {
      await mirrors?.ready();
      // Non-live: the guest stops first, so that nothing changes while its memory is copied.
      if (!live && wasRunning) {
        stoppedAtMs = init.clock.monotonicMs();
        await q.execute('stop');
      }
      await q.execute('migrate', { uri: `tcp:${uriHost(target.host)}:${target.port}` });
      const info = await waitFor(
        async () => {
          const answer = migrateInfoSchema.parse(await q.execute('query-migrate'));
          return ['completed', 'failed', 'cancelled'].includes(answer.status ?? '') ? answer : undefined;
        },
        { timeoutMs, intervalMs: migrationPollMs, what: `the migration of ${name} to ${where}` },
      );
      if (info.status !== 'completed')
        throw new CorralError(
          'unavailable',
          `migration of ${name} to ${where} ${info.status}: ${info['error-desc'] ?? 'no reason given'}`,
        );
      // The guest is stopped here for good: what the mirrors still write is the last of its disk writes.
      const completingMs = init.clock.monotonicMs();
      const diskBytes = (await mirrors?.complete()) ?? 0;
      const mirrorEndMs = init.clock.monotonicMs() - completingMs;
      return {
        // QEMU's figure covers the memory only; a disk copy starts well before it.
        totalMs: mirrors ? Math.round(init.clock.monotonicMs() - startedMs) : (info['total-time'] ?? 0),
        // QEMU counts the downtime from when it stops the guest; a non-live migration stopped it before.
        downtimeMs:
          stoppedAtMs !== undefined
            ? Math.round(init.clock.monotonicMs() - stoppedAtMs)
            : (info.downtime ?? 0) + Math.round(mirrorEndMs),
        transferredBytes: (info.ram?.transferred ?? 0) + (info.disk?.transferred ?? 0) + diskBytes,
      };
    } catch (error) {
      await q.execute('migrate_cancel').catch(() => {});
      await mirrors?.abort().catch(() => {});
      // QEMU resumes a live guest after a failed migration by itself, but not a stopped one, nor one whose
      // migration completed before its disks failed: the guest is to go on here.
      const running = await guestRuns(q);
      if (wasRunning && !running) await q.execute('cont').catch(() => {});
      throw error;
    }
  }

  return {
    name: 'kvm',

    checkParams(hvParams) {
      parseKvmParams(hvParams);
    },

    async start(spec, options) {
      await launch(spec, { paused: options?.paused ?? false, incoming: false });
    },

    async stop(name, options) {
      const p = paths(name);
      const pid = livePid(p);
      if (pid === undefined) {
        await cleanUp(name, p);
        return;
      }
      await terminate(name, p, pid, options.force ? 0 : options.timeoutMs);
    },

    async reboot(name, kind) {
      const { p } = requireRunning(name);
      await qmp(p, async (q) => {
        if (kind === 'hard') {
          await q.execute('system_reset');
          return;
        }
        // Soft: ctrl-alt-delete, which every common guest turns into an orderly reboot (systemd's
        // ctrl-alt-del.target, sysvinit's and busybox's inittab), without an ACPI daemon and without
        // restarting QEMU (Ganeti stops and starts it, which drops console sessions). QEMU reports the
        // guest's reset as a RESET event; a guest that ignores the keys is reset after a time limit.
        if (!(await guestRuns(q))) {
          throw new CorralError(
            'conflict',
            `${name} is not running (paused?); only a hard reboot can reset it`,
          );
        }
        await softReboot(name, q);
      });
      log.info({ instance: name, kind }, 'rebooted');
    },

    async setMemory(name, memoryMiB) {
      const { p } = requireRunning(name);
      await qmp(p, async (q) => {
        // QEMU answers query-balloon with DeviceNotActive when the guest has no virtio-balloon device.
        try {
          await q.execute('query-balloon');
        } catch (error) {
          if (!(error instanceof Error) || !error.message.includes('(DeviceNotActive)')) throw error;
          throw new CorralError(
            'conflict',
            `${name} has no balloon device, so its memory cannot change while it runs; change it with -B memory=SIZE and restart it`,
          );
        }
        await q.execute('balloon', { value: memoryMiB * 1024 * 1024 });
      });
      log.info({ instance: name, memoryMiB }, 'ballooned');
    },

    async devices(name): Promise<GuestDevices> {
      const { p, pid } = requireRunning(name);
      const { spec } = await recordOf(name, p, pid);
      const params = parseKvmParams(spec.hvParams);
      const disk = hotplugRefusal(params, 'disk');
      const nic = hotplugRefusal(params, 'nic');
      return {
        disks: spec.disks.map(({ uuid, pciSlot }) => ({ uuid, ...(pciSlot !== undefined && { pciSlot }) })),
        nics: spec.nics,
        hotplugRefusals: { ...(disk !== undefined && { disk }), ...(nic !== undefined && { nic }) },
      };
    },

    hotAdd,
    hotRemove,

    status: statusOf,

    async list() {
      const statuses = await Promise.all((await runtimeNames(init.runDir)).map(statusOf));
      return statuses.filter((s): s is InstanceStatus => s !== undefined);
    },

    async resources(): Promise<NodeResources> {
      const meminfo = await readFile('/proc/meminfo', 'utf8');
      const kibibytes = (field: string) =>
        Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(meminfo)?.[1] ?? 0);
      let instancesMiB = 0;
      for (const name of await runtimeNames(init.runDir)) {
        const p = paths(name);
        if (livePid(p) === undefined) continue;
        instancesMiB += (await readRecord(p))?.spec.memoryMiB ?? 0;
      }
      return {
        memoryTotalMiB: Math.floor(kibibytes('MemTotal') / 1024),
        memoryFreeMiB: Math.floor(kibibytes('MemAvailable') / 1024),
        memoryInstancesMiB: instancesMiB,
        cpus: cpus().length,
        ...(await hostCpuTopology()),
      };
    },

    async acceptMigration(spec, bindHost, options) {
      if (isIP(bindHost) === 0) {
        throw new CorralError('bad_request', `migration bind host ${bindHost} is not an IP address`);
      }
      // With disks to receive, the guest must not resume before the source has finished writing them; a
      // mirrored disk's copy here must become the primary first.
      const p = await launch(spec, {
        paused: options.copyStorage || options.holdPaused === true,
        incoming: true,
      });
      try {
        // Port 0, read back from QEMU: no window in which another process could take a port picked here.
        const { info, storage } = await qmp(p, async (q) => {
          await q.execute('migrate-incoming', { uri: `tcp:${uriHost(bindHost)}:0` });
          return {
            info: migrateInfoSchema.parse(await q.execute('query-migrate')),
            storage: options.copyStorage
              ? await exportDisks(
                  q,
                  bindHost,
                  spec.disks.map((disk) => driveId(disk.uuid)),
                )
              : undefined,
          };
        });
        const port = Number(info['socket-address']?.find((a) => a.type === 'inet')?.port);
        if (!Number.isInteger(port) || port <= 0) {
          throw new CorralError('internal', `QEMU of ${spec.name} did not say which port it listens on`);
        }
        log.info({ instance: spec.name, host: bindHost, port, storage }, 'waiting for an incoming migration');
        return { host: bindHost, port, ...(storage !== undefined && { storage }) };
      } catch (error) {
        const pid = livePid(p);
        if (pid !== undefined) await terminate(spec.name, p, pid, 0);
        throw error;
      }
    },

    async migrate(name, target, options): Promise<MigrationResult> {
      const { p, pid } = requireRunning(name);
      const record = await readRecord(p);
      const params = parseKvmParams(record?.spec.hvParams ?? {});
      const result = await qmp(p, (q) => migrateOver(name, q, params, target, options.live));
      // The guest runs on the target now; the source QEMU only holds a stale copy.
      await terminate(name, p, pid, 0);
      log.info({ instance: name, target, live: options.live, ...result }, 'migrated');
      return result;
    },

    async finishMigration(name, succeeded) {
      const p = paths(name);
      const pid = livePid(p);
      if (pid === undefined) {
        await cleanUp(name, p);
        if (succeeded) throw new CorralError('conflict', `${name} was not being received on this node`);
        return;
      }
      if (!succeeded) {
        // Only a half-received copy is dropped; an instance that runs here stays.
        if ((await queryRunState(p)) === 'incoming') await terminate(name, p, pid, 0);
        return;
      }
      const state = await waitFor(
        async () => {
          const s = await queryRunState(p);
          return s === 'incoming' ? undefined : s;
        },
        { timeoutMs: incomingSettleTimeoutMs, what: `QEMU of ${name} to finish receiving it` },
      );
      await qmp(p, async (q) => {
        await stopExports(q);
        if (state === 'paused') await q.execute('cont');
      });
      const record = await readRecord(p);
      if (record !== undefined) {
        await writeRecord(p, record.spec, { accel: record.accel, startedMs: init.clock.wallMs() });
      }
    },

    consolePath(name) {
      let p: RuntimePaths;
      try {
        p = paths(name);
      } catch {
        return undefined;
      }
      return livePid(p) !== undefined && existsSync(p.console) ? p.console : undefined;
    },
  };
}
