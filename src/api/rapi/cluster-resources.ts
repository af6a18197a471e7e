import { machine } from 'node:os';
import { ipolicyJson } from '../../alloc/iallocator/write.js';
import { livePolicy } from '../../alloc/live-snapshot.js';
import { ganetiBeParams } from '../../cluster/model.js';
import { filledNdParams } from '../../cluster/ndparams.js';
import type { Opcode, TagKind } from '../../cluster/opcodes.js';
import { usableOsNames } from '../../cluster/os-validity.js';
import type { ConfigView } from '../../cluster/views.js';
import { CORRAL_VERSION } from '../../common/version.js';
import type { RapiContext } from './context.js';
import { RapiError } from './http-error.js';
import { WRITE } from './job-action.js';
import { opcodeFromBody, validOpcode } from './opcode-body.js';
import { bodyObject, type Handler, type RapiRequest, type Resource, values } from './request.js';

type R = Resource<RapiContext>;

/** The features of Ganeti 3.0's RAPI: the Python client checks them before a create, a reinstall, an evacuation. */
export const RAPI_FEATURES = [
  'instance-create-reqv1',
  'instance-reinstall-reqv1',
  'node-migrate-reqv1',
  'node-evac-res1',
];

const seconds = (ms: number) => ms / 1000;

/** Ganeti's /2/info: what Corral has, and Ganeti's empty value for what it does not. */
export function clusterInfo(config: ConfigView): Record<string, unknown> {
  const c = config.cluster;
  const master = config.nodes.find((node) => node.id === config.master)?.name ?? null;
  const be = ganetiBeParams(c.beParams);
  return {
    architecture: ['64bits', machine()],
    beparams: { default: be },
    blacklisted_os: [...(c.blacklistedOs ?? [])],
    candidate_pool_size: c.candidatePoolSize,
    compression_tools: [],
    config_version: 3000000,
    ctime: seconds(c.ctimeMs),
    // Ganeti's figures in microseconds; only the collectors the cluster has settings for.
    data_collector_interval: Object.fromEntries(
      Object.entries(c.dataCollectors ?? {}).flatMap(([name, setting]) =>
        setting?.intervalMs === undefined ? [] : [[name, setting.intervalMs * 1000]],
      ),
    ),
    default_hypervisor: c.enabledHypervisors[0] ?? null,
    default_iallocator: c.defaultIallocator ?? '',
    default_iallocator_params: { ...c.defaultIallocatorParams },
    diskparams: Object.fromEntries(c.enabledDiskTemplates.map((t) => [t, {}])),
    drbd_helper: null,
    drbd_usermode_helper: null,
    enabled_data_collectors: Object.fromEntries(
      Object.entries(c.dataCollectors ?? {}).flatMap(([name, setting]) =>
        setting?.active === undefined ? [] : [[name, setting.active]],
      ),
    ),
    enabled_disk_templates: [...c.enabledDiskTemplates],
    enabled_hypervisors: [...c.enabledHypervisors],
    enabled_user_shutdown: false,
    export_version: 0,
    file_storage_dir: '',
    gluster_storage_dir: '',
    hidden_os: [...(c.hiddenOs ?? [])],
    hvparams: Object.fromEntries(c.enabledHypervisors.map((hv) => [hv, { ...c.hvParams?.[hv] }])),
    install_image: '',
    instance_communication_network: '',
    ipolicy: ipolicyJson(livePolicy(c.enabledDiskTemplates)),
    mac_prefix: c.macPrefix,
    maintain_node_health: false,
    master,
    master_netdev: c.masterIp?.netdev ?? '',
    master_netmask: c.masterIp?.netmask ?? 32,
    max_running_jobs: c.maxRunningJobs,
    max_tracked_jobs: c.maxRunningJobs,
    modify_ssh_setup: false,
    mtime: seconds(c.mtimeMs),
    name: c.name,
    ndparams: filledNdParams(c),
    nicparams: { default: { mode: c.nicParams.mode, link: c.nicParams.link } },
    os_api_version: 20,
    os_hvp: c.osHvParams ?? {},
    osparams: c.osParams ?? {},
    prealloc_wipe_disks: false,
    primary_ip_version: config.nodes[0]?.primaryIp.includes(':') ? 6 : 4,
    protocol_version: 3000000,
    reserved_lvs: [],
    shared_file_storage_dir: '',
    software_version: CORRAL_VERSION,
    ssh_key_bits: 0,
    ssh_key_type: '',
    tags: [...c.tags],
    uid_pool: [],
    use_external_mip_script: c.masterIp?.external ?? false,
    uuid: c.uuid,
    vcs_version: `(corral) version ${CORRAL_VERSION}`,
    vg_name: null,
    volume_group_name: null,
    zeroing_image: '',
  };
}

const constant = (value: unknown): Handler<RapiContext> => ({ access: 'anonymous', run: async () => value });

/** Tags are read from the config and changed by jobs; Ganeti takes them only from repeated `tag=` arguments. */
export function tagMethods(
  kind: TagKind,
  source: string,
  read: (config: ConfigView, request: RapiRequest) => readonly string[],
  name?: (request: RapiRequest) => string,
): R['methods'] {
  const change = (OP_ID: 'OP_TAGS_SET' | 'OP_TAGS_DEL'): Handler<RapiContext> => ({
    access: WRITE,
    run: async (request, context) => {
      const tags = values(request.query, 'tag');
      if (tags.length === 0) throw new RapiError(400, "No tags given: pass them as 'tag' query arguments");
      const op = opcodeFromBody(
        OP_ID,
        { kind, tags: [...tags], ...(name !== undefined && { name: name(request) }) },
        {},
        { keys: {} },
      );
      return context.submit(request, source, [op]);
    },
  });
  return {
    GET: { access: 'anonymous', run: async (request, context) => [...read(await context.config(), request)] },
    PUT: change('OP_TAGS_SET'),
    DELETE: change('OP_TAGS_DEL'),
  };
}

/** Ganeti's cluster-modify parameters Corral has, and those it takes only at their defaults. */
const modifySpec = {
  keys: {
    candidate_pool_size: 'candidate_pool_size',
    enabled_hypervisors: 'enabled_hypervisors',
    enabled_disk_templates: 'enabled_disk_templates',
    max_running_jobs: 'max_running_jobs',
    beparams: 'beparams',
    nicparams: 'nicparams',
    mac_prefix: 'mac_prefix',
    default_iallocator: 'default_iallocator',
    ndparams: 'ndparams',
  },
  inert: { force: 'any', modify_etc_hosts: [false] },
} as const;

export const clusterResources: readonly R[] = [
  { path: '/', methods: { GET: constant(null) } },
  { path: '/2', methods: { GET: constant(null) } },
  { path: '/version', methods: { GET: constant(2) } },
  { path: '/2/features', methods: { GET: constant(RAPI_FEATURES) } },
  {
    path: '/2/info',
    methods: {
      GET: { access: 'anonymous', run: async (_request, context) => clusterInfo(await context.config()) },
    },
  },
  {
    path: '/2/os',
    methods: {
      GET: {
        access: 'anonymous',
        // As Ganeti's: without the hidden and blacklisted ones.
        run: async (_request, context) => {
          const { cluster } = await context.config();
          const omitted = new Set([...(cluster.hiddenOs ?? []), ...(cluster.blacklistedOs ?? [])]);
          return usableOsNames((await context.call({ op: 'os-diagnose' })).nodes).filter(
            (name) => !omitted.has(name) && !omitted.has(name.split('+', 1)[0]!),
          );
        },
      },
    },
  },
  {
    path: '/2/modify',
    methods: {
      PUT: {
        access: WRITE,
        run: async (request, context) => {
          const body = bodyObject(request);
          if ('compression_tools' in body)
            throw new RapiError(403, 'compression_tools cannot be changed over RAPI');
          const op: Opcode = opcodeFromBody('OP_CLUSTER_SET_PARAMS', {}, body, modifySpec);
          return context.submit(request, 'modify', [op]);
        },
      },
    },
  },
  {
    path: '/2/redistribute-config',
    methods: {
      PUT: {
        access: WRITE,
        run: async (request, context) =>
          context.submit(request, 'redistribute_config', [validOpcode({ OP_ID: 'OP_CLUSTER_REDIST_CONF' })]),
      },
    },
  },
  { path: '/2/tags', methods: tagMethods('cluster', 'tags', (config) => config.cluster.tags) },
];
