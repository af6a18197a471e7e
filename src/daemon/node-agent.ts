import type {
  AgentCall,
  AgentDisk,
  AgentGuestDevices,
  AgentRequest,
  AgentResponse,
  AgentScriptRun,
  OsRun,
  RuntimeSpec,
} from '../cluster/agent-protocols.js';
import { agentProtocol, agentProtocols, DISK_CHUNK_BYTES } from '../cluster/agent-protocols.js';
import type { CorralDiskTemplate } from '../cluster/disk-templates.js';
import type { HypervisorName } from '../cluster/hypervisors.js';
import type { Clock } from '../common/clock.js';
import { asCorralError, CorralError } from '../common/errors.js';
import { asNodeId, type NodeId } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import type { RequestHandler, Transport } from '../peer/transport.js';
import type { Availability, DiskRef, DiskTemplate } from '../storage/disk-template.js';
import type { ExportStore } from '../storage/export-store.js';
import type { AttachedDisk, HotplugDevice, Hypervisor, InstanceSpec } from '../vm/hypervisor.js';
import { forwardConsole, serveConsoles } from './console-bridge.js';
import { chunkedWriter, compactChunk, mappedChunks, pulledChunks } from './dump-transfer.js';
import type { HostPower } from './host-power.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { MirrorService } from './mirror-service.js';
import type { RestrictedCommands } from './restricted-commands.js';

/** The node's OS definitions as the agent uses them; the daemon adapts the OS-interface modules to this. */
export interface OsCatalog {
  diagnose(): Promise<AgentResponse<'osDiagnose'>['oses']>;
  run(
    script: OsScriptName,
    request: OsRun,
    diskPaths: readonly (string | undefined)[],
    signal: AbortSignal,
    dump?: OsDump,
  ): Promise<AgentScriptRun>;
}

export type OsScriptName = AgentRequest<'os'>['script'] | 'import' | 'export';

/** The disk dump an import script reads or an export script writes. */
export interface OsDump {
  readonly stdin?: AsyncIterable<Uint8Array>;
  readonly stdout?: (chunk: Uint8Array) => Promise<void> | undefined;
}

/** What the agent asks of the transport: serving its calls, calling other agents, and consoles' streams. */
export type AgentTransport = Pick<Transport, 'self' | 'request' | 'handle' | 'openStream' | 'handleStream'>;

export interface NodeAgentDeps {
  /** The node's hypervisors; the first one's view of memory is the node's. */
  readonly hypervisors: ReadonlyMap<HypervisorName, Hypervisor>;
  readonly templates: ReadonlyMap<CorralDiskTemplate, DiskTemplate>;
  readonly os: OsCatalog;
  readonly exports: ExportStore;
  /** The mirrored (drbd) disks attached on this node. */
  readonly mirror: MirrorService;
  /** The node's lease: no guest starts here without one (notes/leases.md). */
  readonly lease: Pick<LeaseKeeper, 'underLease'>;
  /** The executables the master may run here by name (gnt-node restricted-command). */
  readonly restricted: RestrictedCommands;
  /** The machine's power (gnt-node powercycle). */
  readonly power: HostPower;
  readonly transport: AgentTransport;
  readonly clock: Clock;
  readonly log: Logger;
}

type Handlers = {
  readonly [K in AgentCall]: (request: AgentRequest<K>, signal: AbortSignal) => Promise<AgentResponse<K>>;
};

/**
 * What a node does for the master (Ganeti's noded): disks, OS scripts and the hypervisor, each request
 * self-contained. It keeps no cluster state, so any master can drive it and a restarted daemon answers alike.
 */
/** A template's availability is checked with tools (qemu-img, lvm); it rarely changes, so answers are kept this long. */
const AVAILABILITY_TTL_MS = 10_000;

export class NodeAgent {
  private readonly handlers: Handlers;
  private readonly availability = new Map<
    CorralDiskTemplate,
    { readonly atMs: number; readonly value: Availability }
  >();

  constructor(private readonly deps: NodeAgentDeps) {
    this.handlers = this.makeHandlers();
  }

  /** Serves the agent protocols to the other nodes of the cluster (the connection gate admits only them). */
  register(): void {
    for (const kind of Object.keys(agentProtocols) as AgentCall[]) this.registerOne(kind);
    this.deps.mirror.register();
    serveConsoles(this.deps.transport, {
      consolePath: (open) => this.consolePath(open.instance, open.hypervisor),
      log: this.deps.log,
    });
  }

  /** Serves this node's mirrored disks to its hypervisors over NBD, on a unix socket at `nbdSocket`. */
  async serveLocal(nbdSocket: string | undefined): Promise<void> {
    await this.deps.mirror.start(nbdSocket);
  }

  /** Kills every guest of every hypervisor here, without a clean shutdown: the fence of an expired lease. */
  async fenceGuests(): Promise<string[]> {
    const killed: string[] = [];
    for (const hypervisor of this.deps.hypervisors.values()) {
      for (const guest of await hypervisor.list()) {
        await hypervisor.stop(guest.name, { timeoutMs: 0, force: true });
        killed.push(guest.name);
      }
    }
    return killed;
  }

  /** Detaches the mirrored disks (flushing them to their peers) and closes the NBD socket. */
  async stop(): Promise<void> {
    await this.deps.mirror.stop();
  }

  private registerOne<K extends AgentCall>(kind: K): void {
    const handler: RequestHandler<AgentRequest<K>, AgentResponse<K>> = async (request, context) =>
      this.serve(kind, request, context.signal);
    this.deps.transport.handle(agentProtocol(kind), handler);
  }

  /** Runs one request here: for the master's calls to its own node, and for the protocol handlers. */
  serve<K extends AgentCall>(
    kind: K,
    request: AgentRequest<K>,
    signal: AbortSignal,
  ): Promise<AgentResponse<K>> {
    const handler = this.handlers[kind] as (r: AgentRequest<K>, s: AbortSignal) => Promise<AgentResponse<K>>;
    return handler(request, signal);
  }

  /** The serial console socket of an instance running here, for `instance console` on this node. */
  consolePath(name: string, hypervisor: HypervisorName): string {
    const path = this.hypervisor(hypervisor).consolePath(name);
    if (path === undefined)
      throw new CorralError(
        'not_found',
        `${name} has no console on this node (it is not running here, or ${hypervisor} has none)`,
      );
    return path;
  }

  /**
   * The console of an instance running on another node (`where` names it), through a one-time socket in `dir`
   * joined to it over libp2p; that node has `timeoutMs` to say it runs the instance.
   */
  async remoteConsole(
    peer: NodeId,
    where: string,
    open: { readonly instance: string; readonly hypervisor: HypervisorName },
    dir: string,
    timeoutMs: number,
  ): Promise<string> {
    const { transport } = this.deps;
    const status = await transport.request(peer, agentProtocols.status, {}, { timeoutMs });
    if (!status.instances.some((i) => i.name === open.instance && i.state !== 'incoming'))
      throw new CorralError('conflict', `${open.instance} is not running on ${where}, so it has no console`);
    return forwardConsole({ transport, peer, open, dir, log: this.deps.log });
  }

  private hypervisor(name: HypervisorName): Hypervisor {
    const hv = this.deps.hypervisors.get(name);
    if (hv === undefined)
      throw new CorralError('unavailable', `hypervisor ${name} is not set up on this node`);
    return hv;
  }

  private template(name: CorralDiskTemplate): DiskTemplate {
    const template = this.deps.templates.get(name);
    if (template === undefined)
      throw new CorralError('unavailable', `disk template ${name} is not available on this node`);
    return template;
  }

  private async availabilityOf(name: CorralDiskTemplate, template: DiskTemplate): Promise<Availability> {
    const nowMs = this.deps.clock.monotonicMs();
    const known = this.availability.get(name);
    if (known !== undefined && nowMs - known.atMs < AVAILABILITY_TTL_MS) return known.value;
    const value = await template.availability();
    this.availability.set(name, { atMs: nowMs, value });
    return value;
  }

  private async usableTemplate(name: CorralDiskTemplate): Promise<DiskTemplate> {
    const template = this.template(name);
    const availability = await this.availabilityOf(name, template);
    if (!availability.available)
      throw new CorralError(
        'unavailable',
        `disk template ${name} is not available on this node: ${availability.reason}`,
      );
    return template;
  }

  /**
   * The hypervisor's view of an instance: its disks as paths on this node. Given the devices of the guest as
   * it runs elsewhere (a migration), the spec has exactly those, on their slots, rather than the config's.
   */
  private instanceSpec(spec: RuntimeSpec, devices?: AgentGuestDevices): InstanceSpec {
    const disks = devices
      ? devices.disks.map(({ uuid, pciSlot }) => {
          const disk = spec.disks.find((d) => d.uuid === uuid);
          if (disk === undefined)
            throw new CorralError(
              'conflict',
              `disk ${uuid} of ${spec.name} runs in the guest but is no longer in the config; restart the instance before moving it`,
            );
          return { ...this.attachedDisk(spec, disk), ...(pciSlot !== undefined && { pciSlot }) };
        })
      : spec.disks.map((disk) => this.attachedDisk(spec, disk));
    return {
      name: spec.name,
      uuid: spec.uuid,
      memoryMiB: spec.memoryMiB,
      vcpus: spec.vcpus,
      disks,
      nics: devices
        ? devices.nics
        : spec.nics.map(({ uuid, mac, mode, link }) => ({ uuid, mac, mode, link })),
      hvParams: spec.hvParams,
    };
  }

  private attachedDisk(spec: RuntimeSpec, disk: AgentDisk): AttachedDisk {
    const readOnly = disk.mode === 'ro';
    if (this.template(spec.diskTemplate).name === 'drbd')
      return { uuid: disk.uuid, ...this.mirroredDisk(spec, disk), format: disk.format, readOnly };
    const path = this.template(spec.diskTemplate).path(agentDiskRef(spec, disk));
    if (path === undefined)
      throw new CorralError('internal', `disk ${disk.index} of ${spec.name} has no path`);
    return { uuid: disk.uuid, path, format: disk.format, readOnly };
  }

  /** Ganeti's hotplug_device, for the device of `spec` with this UUID. */
  private async hotplug(request: AgentRequest<'hotplug'>): Promise<{ pciSlot?: number }> {
    if (request.action === 'remove') {
      await this.hypervisor(request.hypervisor).hotRemove(request.name, request.kind, request.uuid);
      return {};
    }
    const { spec, uuid, pciSlot } = request;
    const slot = pciSlot !== undefined && { pciSlot };
    let device: HotplugDevice;
    if (request.kind === 'disk') {
      const disk = spec.disks.find((d) => d.uuid === uuid);
      if (disk === undefined) throw new CorralError('bad_request', `${spec.name} has no disk ${uuid}`);
      device = { kind: 'disk', disk: { ...this.attachedDisk(spec, disk), ...slot } };
    } else {
      const nic = spec.nics.find((n) => n.uuid === uuid);
      if (nic === undefined) throw new CorralError('bad_request', `${spec.name} has no NIC ${uuid}`);
      device = { kind: 'nic', nic: { uuid, mac: nic.mac, mode: nic.mode, link: nic.link, ...slot } };
    }
    return { pciSlot: await this.hypervisor(spec.hypervisor).hotAdd(spec.name, device) };
  }

  /** Where the hypervisor reaches a mirrored disk: the engine attached here, over NBD. */
  private mirroredDisk(spec: RuntimeSpec, disk: AgentDisk): { path: string; nbdExport: string } {
    if (!this.deps.mirror.isAttached(disk.uuid))
      throw new CorralError(
        'conflict',
        `disk ${disk.index} of ${spec.name} is not attached on this node; its mirror must be attached first`,
      );
    return { path: this.deps.mirror.nbdSocket, nbdExport: disk.uuid };
  }

  /**
   * The instance's disks as paths on this node (undefined for a template whose disks have none), for the OS
   * scripts, which write the image itself: a mirrored disk must not be attached, or its peer would miss it.
   */
  private diskPaths(spec: RuntimeSpec): (string | undefined)[] {
    const template = this.template(spec.diskTemplate);
    const attached = spec.disks.find((disk) => this.deps.mirror.isAttached(disk.uuid));
    if (attached !== undefined)
      throw new CorralError(
        'conflict',
        `disk ${attached.index} of ${spec.name} is attached to its mirror; stop the instance or deactivate its disks first`,
      );
    return spec.disks.map((disk) => template.path(agentDiskRef(spec, disk)));
  }

  /** The path of the disk an import or export script works on; refuses a disk that is not there. */
  private dumpedDisk(spec: RuntimeSpec, paths: readonly (string | undefined)[], index: number): string {
    const path = paths[index];
    if (path === undefined)
      throw new CorralError(
        'bad_request',
        `${spec.name} has no disk ${index} with data on this node (${spec.diskTemplate})`,
      );
    return path;
  }

  private storageStatus() {
    return Promise.all(
      [...this.deps.templates].map(async ([name, template]) => {
        const availability = await this.availabilityOf(name, template);
        if (!availability.available) return { template: name, available: false, reason: availability.reason };
        const space = await template.space();
        return {
          template: name,
          available: true,
          totalMiB: space.totalMiB,
          freeMiB: space.freeMiB,
          ...(space.location !== undefined && { location: space.location }),
        };
      }),
    );
  }

  private makeHandlers(): Handlers {
    return {
      status: async (request) => {
        const [first] = this.deps.hypervisors.values();
        if (first === undefined) throw new CorralError('unavailable', 'this node has no hypervisor');
        const resources = await first.resources();
        const instances = [];
        for (const [name, hv] of this.deps.hypervisors)
          for (const status of await hv.list())
            instances.push({
              name: status.name,
              uuid: status.uuid,
              hypervisor: name,
              state: status.state,
              memoryMiB: status.memoryMiB,
              vcpus: status.vcpus,
              startedMs: status.startedMs,
            });
        const storage = request.storage ? await this.storageStatus() : [];
        const mirrors = this.deps.mirror.status();
        return { instances, mirrors, ...resources, storage };
      },
      powercycle: async () => {
        this.deps.log.warn({}, 'the master asked for a powercycle of this machine');
        return { scheduled: this.deps.power.powercycle() };
      },
      restrictedCommand: async (request, signal) => {
        const result = await this.deps.restricted.run(request.command, signal);
        this.deps.log.info({ command: request.command, ok: result.ok }, 'ran a restricted command');
        return result;
      },
      checkParams: async (request) => {
        this.hypervisor(request.hypervisor).checkParams(request.hvParams);
        return {};
      },
      disks: async (request) => {
        const template = await this.usableTemplate(request.template);
        const refs = request.disks.map((disk) => agentDiskRef(request.instance, disk));
        if (request.action === 'sizes') {
          const sizesMiB: (number | null)[] = [];
          for (const ref of refs) sizesMiB.push((await template.sizeMiB(ref)) ?? null);
          const { location } = refs.length === 0 ? { location: undefined } : await template.space();
          const paths = refs.map((ref) => template.path(ref) ?? '');
          return { paths, sizesMiB, ...(location !== undefined && { location }) };
        }
        if (request.action === 'remove' && template.name === 'drbd') {
          // Only these disks: the instance's others may be serving its running guest (a disk unplugged).
          await this.deps.mirror.detach(
            request.instance.uuid,
            refs.map((ref) => ref.diskUuid),
          );
          for (const ref of refs) await this.deps.mirror.forget(ref.diskUuid);
        }
        for (const ref of refs) {
          if (request.action === 'create') await template.create(ref);
          else if (request.action === 'remove') await template.remove(ref);
          else if (!(await template.exists(ref)))
            throw new CorralError(
              'not_found',
              `disk ${ref.index} of ${ref.instanceName} is missing on this node (recreate it, or restore it)`,
            );
        }
        return { paths: request.action === 'remove' ? [] : refs.map((ref) => template.path(ref) ?? '') };
      },
      repairStorage: async (request) => {
        const template = await this.usableTemplate(request.template);
        if (template.repair === undefined)
          throw new CorralError('bad_request', `${request.template} storage has nothing to repair`);
        const { location } = await template.space();
        if (location !== undefined && location !== request.name)
          throw new CorralError(
            'not_found',
            `this node keeps ${request.template} disks in ${location}, not ${request.name}`,
          );
        return { output: (await template.repair()).slice(0, 64 * 1024) };
      },
      growDisk: async (request) => {
        const template = await this.usableTemplate(request.template);
        await template.grow(agentDiskRef(request.instance, request.disk), request.newSizeMiB);
        return {};
      },
      os: async (request, signal) =>
        this.deps.os.run(request.script, request, this.diskPaths(request.spec), signal),
      exportDisk: async (request, signal) => {
        const paths = this.diskPaths(request.spec);
        const path = this.dumpedDisk(request.spec, paths, request.disk);
        const { exports, transport } = this.deps;
        const to = asNodeId(request.to);
        const write = (offset: number, data: Uint8Array) => {
          // Zeros (a sparse disk's holes, dumped by the script) cross as their count and stay holes.
          const { zeros } = compactChunk(data, false);
          if (to === transport.self)
            return exports.writeDump(request.name, request.file, offset, zeros ? { zeros } : { data });
          const chunk = zeros ? { data: new Uint8Array(0), zeros } : { data };
          return transport
            .request(
              to,
              agentProtocols.exportWrite,
              { name: request.name, file: request.file, offset, ...chunk },
              { signal },
            )
            .then(() => undefined);
        };
        const writer = chunkedWriter(write, DISK_CHUNK_BYTES);
        const env = { EXPORT_INDEX: String(request.disk), EXPORT_DISK_PATH: path, EXPORT_DEVICE: path };
        const run = await this.deps.os.run(
          'export',
          { ...request, extraEnv: { ...request.extraEnv, ...env } },
          paths,
          signal,
          { stdout: writer.push },
        );
        // A failed script's dump is not worth sending the rest of; the caller drops the export.
        const bytes = run.exitCode === 0 ? await writer.end() : 0;
        return { run, bytes };
      },
      exportWrite: async (request) => {
        const { zeros } = request;
        const piece = zeros === undefined ? { data: request.data } : { zeros };
        await this.deps.exports.writeDump(request.name, request.file, request.offset, piece);
        return {};
      },
      exports: async (request) => {
        const { exports } = this.deps;
        switch (request.action) {
          case 'list':
            return { exports: await exports.list(request.name) };
          case 'finalize':
            await exports.finalize(request.name, request.info);
            break;
          case 'abort':
            await exports.abort(request.name);
            break;
          case 'remove':
            if (!(await exports.remove(request.name)))
              throw new CorralError('not_found', `there is no export of ${request.name} on this node`);
        }
        return { exports: [] };
      },
      readExport: async (request) => {
        const chunk = await this.deps.exports.readDump(
          request.name,
          request.file,
          request.offset,
          DISK_CHUNK_BYTES,
        );
        return compactChunk(chunk.data, chunk.eof);
      },
      importDisk: async (request, signal) => {
        const paths = this.diskPaths(request.spec);
        const path = this.dumpedDisk(request.spec, paths, request.disk);
        const { exports, transport } = this.deps;
        const from = asNodeId(request.from);
        const read = (offset: number) =>
          from === transport.self
            ? exports.readDump(request.name, request.file, offset, DISK_CHUNK_BYTES)
            : transport.request(
                from,
                agentProtocols.readExport,
                { name: request.name, file: request.file, offset },
                { signal },
              );
        const tally = { bytes: 0 };
        const env = { IMPORT_INDEX: String(request.disk), IMPORT_DISK_PATH: path, IMPORT_DEVICE: path };
        const run = await this.deps.os.run(
          'import',
          { ...request, extraEnv: { ...request.extraEnv, ...env } },
          paths,
          signal,
          { stdin: pulledChunks(read, DISK_CHUNK_BYTES, tally) },
        );
        return { run, bytes: tally.bytes };
      },
      osDiagnose: async () => ({ oses: await this.deps.os.diagnose() }),
      start: async (request) => {
        await this.deps.lease.underLease(() =>
          this.hypervisor(request.spec.hypervisor).start(this.instanceSpec(request.spec), {
            paused: request.paused,
          }),
        );
        this.deps.log.info({ instance: request.spec.name }, 'started instance');
        return {};
      },
      stop: async (request) => {
        await this.hypervisor(request.hypervisor).stop(request.name, {
          timeoutMs: request.timeoutMs,
          force: request.force,
        });
        this.deps.log.info({ instance: request.name }, 'stopped instance');
        return {};
      },
      reboot: async (request) => {
        await this.hypervisor(request.hypervisor).reboot(request.name, request.kind);
        return {};
      },
      balloon: async (request) => {
        await this.hypervisor(request.hypervisor).setMemory(request.name, request.memoryMiB);
        return {};
      },
      guestDevices: async (request) => {
        const devices = await this.hypervisor(request.hypervisor).devices(request.name);
        return { ...devices, disks: [...devices.disks], nics: [...devices.nics] };
      },
      hotplug: async (request) => this.hotplug(request),
      migrateAccept: async (request) =>
        this.deps.lease.underLease(() =>
          this.hypervisor(request.spec.hypervisor).acceptMigration(
            this.instanceSpec(request.spec, request.devices),
            request.bindHost,
            { copyStorage: request.copyStorage, holdPaused: request.holdPaused ?? false },
          ),
        ),
      migrateSend: async (request) =>
        this.hypervisor(request.hypervisor).migrate(request.name, request.endpoint, { live: request.live }),
      migrateFinish: async (request) => {
        const finish = () =>
          this.hypervisor(request.hypervisor).finishMigration(request.name, request.succeeded);
        await (request.succeeded ? this.deps.lease.underLease(finish) : finish());
        return {};
      },
      mirror: async (request) => {
        const { mirror } = this.deps;
        switch (request.action) {
          case 'attach':
            await this.usableTemplate('drbd');
            return {
              disks: await mirror.attach({ ...request, peer: asNodeId(request.peer) }),
            };
          case 'detach':
            await mirror.detach(request.instance.uuid);
            return { disks: [] };
          case 'status':
            return { disks: mirror.status(request.instance.uuid) };
          case 'retarget':
            return {
              disks: mirror.retarget(
                request.instance.uuid,
                asNodeId(request.peer),
                request.peerHost,
                request.generation,
              ),
            };
        }
      },
      convertDisks: async (request) => {
        const from = await this.usableTemplate(request.from);
        const to = await this.usableTemplate(request.to);
        const attached = request.disks.find((disk) => this.deps.mirror.isAttached(disk.uuid));
        if (attached !== undefined)
          throw new CorralError(
            'conflict',
            `disk ${attached.index} of ${request.instance.name} is attached to its mirror; deactivate its disks first`,
          );
        let bytes = 0;
        for (const disk of request.disks) {
          const ref = agentDiskRef(request.instance, disk);
          await to.write(
            ref,
            counted(from.read(ref), (n) => (bytes += n)),
          );
          await from.remove(ref);
          if (from.name === 'drbd') await this.deps.mirror.forget(disk.uuid);
        }
        return { bytes };
      },
      readDisk: async (request) => {
        // No availability check per chunk (it runs tools): a disk that can be opened can be read.
        const template = this.template(request.template);
        const chunks = template.read(agentDiskRef(request.instance, request.disk), request.offset);
        const wanted = request.length ?? DISK_CHUNK_BYTES;
        const data = await firstBytes(chunks, wanted);
        return compactChunk(data, data.byteLength < wanted);
      },
      mapDisk: async (request) => {
        const template = this.template(request.template);
        if (template.dataExtents === undefined) return {};
        return {
          map: await template.dataExtents(agentDiskRef(request.instance, request.disk), request.from),
        };
      },
      fetchDisk: async (request, signal) => {
        const template = await this.usableTemplate(request.template);
        const from = asNodeId(request.from);
        const tally = { bytes: 0 };
        const { transport } = this.deps;
        const disk = { instance: request.instance, template: request.template, disk: request.disk };
        const read = (offset: number, length?: number) =>
          transport.request(
            from,
            agentProtocols.readDisk,
            { ...disk, offset, ...(length !== undefined && { length }) },
            { signal },
          );
        const map = (start: number) =>
          transport
            .request(from, agentProtocols.mapDisk, { ...disk, from: start }, { signal })
            .then((answer) => answer.map);
        // Without a map (a block device, a source that cannot say) the copy reads the whole disk: slower only.
        const first = await map(0).catch((error: unknown) => {
          this.deps.log.warn(
            { instance: request.instance.name, disk: request.disk.index, err: asCorralError(error) },
            'no map of the disk from its node; copying all of it',
          );
          return undefined;
        });
        const next = async (start: number) => {
          const later = await map(start);
          if (later === undefined)
            throw new CorralError('conflict', `${request.from} stopped mapping disk ${request.disk.index}`);
          return later;
        };
        const chunks =
          first === undefined
            ? pulledChunks(read, DISK_CHUNK_BYTES, tally)
            : mappedChunks(first, next, read, DISK_CHUNK_BYTES, tally);
        await template.write(agentDiskRef(request.instance, request.disk), chunks);
        return { bytes: tally.bytes };
      },
    };
  }
}

/** The chunks of a stream, each counted as it passes. */
async function* counted(
  source: AsyncIterable<Uint8Array>,
  count: (bytes: number) => void,
): AsyncIterable<Uint8Array> {
  for await (const chunk of source) {
    count(chunk.byteLength);
    yield chunk;
  }
}

/** Up to `length` bytes from the start of a stream; the stream is closed after. */
async function firstBytes(source: AsyncIterable<Uint8Array>, length: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let have = 0;
  for await (const chunk of source) {
    parts.push(chunk.subarray(0, length - have));
    have += parts.at(-1)!.byteLength;
    if (have >= length) break;
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** A disk of the instance as a template names it on this node. */
export function agentDiskRef(
  instance: { readonly name: string; readonly uuid: string },
  disk: AgentDisk,
): DiskRef {
  return {
    instanceName: instance.name,
    instanceUuid: instance.uuid,
    diskUuid: disk.uuid,
    index: disk.index,
    sizeMiB: disk.sizeMiB,
    format: disk.format,
  };
}
