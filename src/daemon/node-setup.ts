import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { diskTemplateTraits } from '../cluster/disk-templates.js';
import type { HypervisorName } from '../cluster/hypervisors.js';
import { mirrorStream } from '../cluster/mirror-protocol.js';
import type { Clock } from '../common/clock.js';
import type { Logger } from '../common/log.js';
import type { Transport } from '../peer/transport.js';
import { createExportStore } from '../storage/export-store.js';
import { FileBlockStore } from '../storage/mirror/file-block-store.js';
import { createDiskTemplates } from '../storage/templates.js';
import { createFakeHypervisor, fakeStatesInDir } from '../vm/fake-hypervisor.js';
import type { Hypervisor } from '../vm/hypervisor.js';
import { createKvmHypervisor } from '../vm/kvm-hypervisor.js';
import { DEFAULT_OS_SEARCH_PATH, diagnoseOses, loadOs } from '../vm/os-definitions.js';
import { osEnvironment, runOsScript } from '../vm/os-scripts.js';
import { linuxHostPower } from './host-power.js';
import { DataPlaneServer } from './mirror-data-plane.js';
import { copyRecordsInDir } from './mirror-records.js';
import type { MirrorReporter } from './mirror-reporter.js';
import { MirrorService } from './mirror-service.js';
import { agentDiskRef, NodeAgent, type NodeAgentDeps, type OsCatalog } from './node-agent.js';
import { directoryCommands } from './restricted-commands.js';

/** Where a node keeps instance data, and what it pretends to have under the fake hypervisor. */
export interface NodeStorageOptions {
  /** Ganeti's default is /srv/ganeti/file-storage; ours defaults to the data dir. */
  readonly fileStorageDir?: string;
  /** A directory every node reaches (NFS, a cluster filesystem); the same path on every node. */
  readonly sharedFileStorageDir?: string;
  readonly volumeGroup?: string;
  /** Ganeti's /var/lib/ganeti/export; ours defaults to the data dir. */
  readonly exportDir?: string;
  readonly osSearchPath?: readonly string[];
  /** Memory the fake hypervisor reports; when set, it is also the node's memory for placement (tests, demos). */
  readonly fakeMemoryMiB?: number;
  /** CPUs the fake hypervisor reports, which the allocator's vCPU ratio counts against (this machine's if unset). */
  readonly fakeCpus?: number;
}

const MIB = 1024 * 1024;

/** Where file and sharedfile disks, and this node's copies of drbd disks, live on this node. */
export function storageDirs(options: NodeStorageOptions & { readonly dataDir: string }): {
  readonly fileStorageDir: string;
  readonly sharedFileStorageDir: string;
  readonly mirrorStorageDir: string;
} {
  return {
    fileStorageDir: options.fileStorageDir ?? join(options.dataDir, 'file-storage'),
    sharedFileStorageDir: options.sharedFileStorageDir ?? join(options.dataDir, 'shared-file-storage'),
    mirrorStorageDir: join(options.dataDir, 'mirror-storage'),
  };
}

/** Where the node keeps its mirrored copies' records and the NBD socket QEMU reaches them by. */
export function mirrorDir(dataDir: string): string {
  return join(dataDir, 'mirror');
}

/** Where the kvm hypervisor keeps the runtime dirs of this node's guests. */
export function kvmRunDir(dataDir: string): string {
  return join(dataDir, 'kvm');
}

export function createNodeAgent(
  options: NodeStorageOptions & { readonly dataDir: string },
  deps: {
    readonly transport: Transport;
    readonly clock: Clock;
    readonly log: Logger;
    /** How mirrored disks reach the master; undefined until the node has a cluster. */
    mirrorReporter(): MirrorReporter | undefined;
    /** Where secondaries here take their primaries' mirror data connections (0.0.0.0 or ::). */
    readonly mirrorBind: string;
    readonly lease: NodeAgentDeps['lease'];
  },
): NodeAgent {
  const { dataDir } = options;
  const fake = createFakeHypervisor({
    states: fakeStatesInDir(join(dataDir, 'fake-hv')),
    memoryTotalMiB: options.fakeMemoryMiB ?? Math.floor(totalmem() / MIB),
    cpus: options.fakeCpus ?? cpus().length,
    clock: deps.clock,
  });
  const kvm = createKvmHypervisor({
    runDir: kvmRunDir(dataDir),
    clock: deps.clock,
    log: deps.log.child({ part: 'kvm' }),
  });
  // The first hypervisor's memory is the node's: the real one, unless the node pretends (fake memory given).
  const hypervisors = new Map<HypervisorName, Hypervisor>(
    options.fakeMemoryMiB !== undefined
      ? [
          ['fake', fake],
          ['kvm', kvm],
        ]
      : [
          ['kvm', kvm],
          ['fake', fake],
        ],
  );
  const templates = createDiskTemplates({
    ...storageDirs(options),
    volumeGroup: options.volumeGroup ?? 'xenvg',
  });
  const drbd = templates.get('drbd')!;
  const mirror = new MirrorService({
    transport: deps.transport,
    openStore: (instance, disk) => FileBlockStore.open(drbd.path(agentDiskRef(instance, disk))!),
    records: copyRecordsInDir(mirrorDir(dataDir)),
    dataPlane: new DataPlaneServer(
      deps.mirrorBind,
      mirrorStream.maxFrameBytes,
      deps.log.child({ part: 'mirror' }),
    ),
    reporter: deps.mirrorReporter,
    clock: deps.clock,
    log: deps.log.child({ part: 'mirror' }),
  });
  return new NodeAgent({
    hypervisors,
    templates,
    mirror,
    lease: deps.lease,
    // Ganeti's /etc/ganeti/restricted-commands; a fixed place, so that only root on the node chooses what runs.
    restricted: directoryCommands(join(dataDir, 'restricted-commands')),
    power: linuxHostPower(deps.log.child({ part: 'power' })),
    os: osCatalog(options.osSearchPath ?? DEFAULT_OS_SEARCH_PATH, join(dataDir, 'os-logs')),
    exports: createExportStore(options.exportDir ?? join(dataDir, 'export')),
    transport: deps.transport,
    clock: deps.clock,
    log: deps.log.child({ part: 'agent' }),
  });
}

/** Ganeti's OS interface behind the agent's narrow view of it. */
function osCatalog(searchPath: readonly string[], logDir: string): OsCatalog {
  return {
    async diagnose() {
      return (await diagnoseOses(searchPath)).map((d) =>
        d.valid
          ? {
              name: d.name,
              dir: d.dir,
              valid: true,
              apiVersions: [...d.os.apiVersions],
              variants: [...d.os.variants],
              parameters: d.os.parameters.map((p) => ({ ...p })),
            }
          : {
              name: d.name,
              dir: d.dir,
              valid: false,
              reason: d.reason,
              apiVersions: [],
              variants: [],
              parameters: [],
            },
      );
    },
    async run(script, request, diskPaths, signal, dump) {
      const { spec, instance } = request;
      const { os, variant } = await loadOs(searchPath, instance.os);
      const env = osEnvironment(
        os,
        variant,
        {
          name: spec.name,
          uuid: spec.uuid,
          os: instance.os,
          hypervisor: spec.hypervisor,
          primaryNode: instance.primaryNode,
          secondaryNodes: instance.secondaryNodes,
          ctimeMs: instance.ctimeMs,
          mtimeMs: instance.mtimeMs,
          disks: spec.disks.map((disk, i) => ({
            ...(diskPaths[i] !== undefined && { path: diskPaths[i] }),
            uuid: disk.uuid,
            ...(disk.name !== undefined && { name: disk.name }),
            sizeMiB: disk.sizeMiB,
            access: disk.mode,
            // Ganeti's names: image files go through its default file driver, volumes are block devices.
            backendType: diskTemplateTraits[spec.diskTemplate].disks === 'block' ? 'block' : 'file:loop',
          })),
          nics: spec.nics.map((nic) => ({
            mac: nic.mac,
            mode: nic.mode,
            link: nic.link,
            uuid: nic.uuid,
            ...(nic.ip !== undefined && { ip: nic.ip }),
            ...(nic.name !== undefined && { name: nic.name }),
          })),
          beParams: instance.beParams,
          hvParams: spec.hvParams,
          osParams: instance.osParams,
        },
        request.extraEnv,
      );
      const result = await runOsScript(os, script, env, {
        timeoutMs: request.timeoutMs,
        signal,
        logDir,
        ...dump,
      });
      return {
        ...(result.exitCode !== undefined && { exitCode: result.exitCode }),
        ...(result.signal !== undefined && { signal: result.signal }),
        timedOut: result.timedOut,
        output: result.output.slice(-200_000),
      };
    },
  };
}
