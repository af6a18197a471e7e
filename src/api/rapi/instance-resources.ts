import { tagMethods } from './cluster-resources.js';
import type { RapiContext } from './context.js';
import { upgradeModifications } from './device-mods-body.js';
import { RapiError } from './http-error.js';
import { jobAction, listing, WRITE } from './job-action.js';
import { type BodySpec, opcodeFromBody, paramStrings, priorityOf, validOpcode } from './opcode-body.js';
import { bodyObject, flag, type RapiRequest, type Resource, text, values } from './request.js';
import { findInstance, instanceDicts, instanceListing } from './views.js';

type R = Resource<RapiContext>;

const instance = (request: RapiRequest) => request.params.instance ?? '';

const shutdownTimeout = { shutdown_timeout: 'shutdown_timeout' };

/** Ganeti's OP_INSTANCE_CREATE parameters: Corral's, and the ones that ask for nothing Corral lacks. */
const createSpec: BodySpec = {
  keys: {
    instance_name: 'instance_name',
    name: 'instance_name',
    os_type: 'os_type',
    os: 'os_type',
    force_variant: 'force_variant',
    mode: 'mode',
    disk_template: 'disk_template',
    disks: 'disks',
    nics: 'nics',
    pnode: 'pnode',
    snode: 'snode',
    iallocator: 'iallocator',
    osparams: 'osparams',
    osparams_private: 'osparams_private',
    identify_defaults: 'identify_defaults',
    compress: 'compress',
    hypervisor: 'hypervisor',
    hvparams: 'hvparams',
    beparams: 'beparams',
    start: 'start',
    wait_for_sync: 'wait_for_sync',
    no_install: 'no_install',
    tags: 'tags',
    src_node: 'src_node',
    src_path: 'src_path',
  },
  inert: {
    // Corral resolves no names and checks no addresses through DNS.
    ip_check: 'any',
    name_check: 'any',
    conflicts_check: 'any',
    // Lock hints and helper-VM timeouts for features Corral has no equivalent of.
    opportunistic_locking: 'any',
    helper_startup_timeout: 'any',
    helper_shutdown_timeout: 'any',
    source_shutdown_timeout: 'any',
    ignore_ipolicy: [false],
    forthcoming: [false],
    commit: [false],
    instance_communication: [false],
    osparams_secret: [{}],
    file_storage_dir: [],
    file_driver: ['loop'],
    group_name: [],
    pnode_uuid: [],
    snode_uuid: [],
  },
  convert: { hvparams: paramStrings, osparams: paramStrings, disks: ganetiDisks, nics: ganetiNics },
};

/** Ganeti's disk dicts: Corral takes size, mode and name; a volume group or spindles it does not place by. */
function ganetiDisks(value: unknown): unknown {
  if (!Array.isArray(value)) return value;
  return value.map((disk: unknown) => {
    if (typeof disk !== 'object' || disk === null) return disk;
    const { spindles, vg, metavg, provider, access, ...rest } = disk as Record<string, unknown>;
    for (const [key, given] of Object.entries({ spindles, vg, metavg, provider, access }))
      if (given !== undefined && given !== null)
        throw new RapiError(400, `Disk parameter '${key}' is not supported by this cluster`);
    return rest;
  });
}

/** Ganeti's NIC dicts: `bridge` is the old name of a bridged NIC's link; networks and VLANs Corral lacks. */
function ganetiNics(value: unknown): unknown {
  if (!Array.isArray(value)) return value;
  return value.map((nic: unknown) => {
    if (typeof nic !== 'object' || nic === null) return nic;
    const { bridge, network, vlan, ...rest } = nic as Record<string, unknown>;
    if (network !== undefined && network !== null)
      throw new RapiError(
        400,
        "NIC parameter 'network' is not supported by this cluster: it has no networks",
      );
    if (vlan !== undefined && vlan !== null && vlan !== '')
      throw new RapiError(400, "NIC parameter 'vlan' is not supported by this cluster");
    return bridge === undefined || bridge === null || 'link' in rest ? rest : { ...rest, link: bridge };
  });
}

/**
 * Ganeti's modify: beparams/hvparams (or their custom_ names), OS, template conversion, offline, NIC and disk
 * changes, a new primary, runtime memory and hot-plugging.
 */
const modifySpec: BodySpec = {
  keys: {
    beparams: 'beparams',
    custom_beparams: 'beparams',
    hvparams: 'hvparams',
    custom_hvparams: 'hvparams',
    osparams: 'osparams',
    os_name: 'os_name',
    force_variant: 'force_variant',
    disk_template: 'disk_template',
    remote_node: 'remote_node',
    iallocator: 'iallocator',
    osparams_private: 'osparams_private',
    offline: 'offline',
    nics: 'nics',
    disks: 'disks',
    pnode: 'pnode',
    runtime_mem: 'runtime_mem',
    force: 'force',
    hotplug: 'hotplug',
    hotplug_if_possible: 'hotplug_if_possible',
  },
  inert: {
    wait_for_sync: 'any',
    conflicts_check: 'any',
    ignore_ipolicy: [false],
  },
  convert: {
    hvparams: paramStrings,
    custom_hvparams: paramStrings,
    osparams: paramStrings,
    nics: upgradeModifications('nics'),
    disks: upgradeModifications('disks'),
  },
};

export const instanceResources: readonly R[] = [
  {
    path: '/2/instances',
    methods: {
      GET: {
        access: 'anonymous',
        run: async (request, context) => {
          const config = await context.config();
          if (!flag(request.query, 'bulk')) return listing(config.instances, 'id', 'instances');
          return instanceListing(config, await context.live(config));
        },
      },
      POST: {
        access: WRITE,
        run: async (request, context) => {
          const body = bodyObject(request);
          const version = body.__version__;
          if (version === undefined || version === 0)
            throw new RapiError(400, 'Instance creation request version 0 is no longer supported');
          if (version !== 1) throw new RapiError(400, `Unsupported request data version ${String(version)}`);
          const { __version__: _v, ...rest } = body;
          const op = opcodeFromBody('OP_INSTANCE_CREATE', {}, rest, createSpec);
          return context.submit(request, 'instances', [op], priorityOf(body));
        },
      },
    },
  },
  {
    path: '/2/instances/:instance',
    methods: {
      GET: {
        access: 'anonymous',
        run: async (request, context) => {
          const config = await context.config();
          if (findInstance(config, instance(request)) === undefined) throw new RapiError(404);
          const [dict] = instanceDicts(config, await context.live(config), [instance(request)]);
          return dict;
        },
      },
      DELETE: jobAction('instances_name', (request, body) =>
        opcodeFromBody(
          'OP_INSTANCE_REMOVE',
          { instance_name: instance(request), ignore_failures: false },
          body,
          {
            keys: shutdownTimeout,
          },
        ),
      ),
    },
  },
  {
    path: '/2/instances-multi-alloc',
    methods: {
      POST: jobAction('instances_multi_alloc', (_request, body) => {
        const { instances, iallocator, opportunistic_locking: _locking, ...rest } = body;
        if (!Array.isArray(instances))
          throw new RapiError(400, "Request is missing required 'instances' field in body");
        for (const key of Object.keys(rest))
          if (!['priority', 'reason', 'dry_run', 'depends', 'comment', 'debug_level'].includes(key))
            throw new RapiError(
              400,
              `Invalid body parameters: unknown parameter '${key}' for a multi-allocation`,
            );
        const creates = instances.map((instance: unknown) => {
          if (typeof instance !== 'object' || instance === null || Array.isArray(instance))
            throw new RapiError(400, "Each of 'instances' must be a dictionary of creation parameters");
          const {
            OP_ID: _id,
            reason: _reason,
            ...create
          } = opcodeFromBody(
            'OP_INSTANCE_CREATE',
            {},
            instance as Record<string, unknown>,
            createSpec,
          ) as Record<string, unknown>;
          return create;
        });
        return validOpcode({
          OP_ID: 'OP_INSTANCE_MULTI_ALLOC',
          instances: creates,
          ...(typeof iallocator === 'string' && { iallocator }),
          ...(rest.depends !== undefined && rest.depends !== null && { depends: rest.depends }),
        });
      }),
    },
  },
  {
    path: '/2/instances/:instance/info',
    methods: {
      // Ganeti's: anyone may ask, and the answer is a job whose result holds the data.
      GET: {
        access: 'anonymous',
        run: async (request, context) =>
          context.submit(request, 'instances_name_info', [
            validOpcode({
              OP_ID: 'OP_INSTANCE_QUERY_DATA',
              instances: [instance(request)],
              static: flag(request.query, 'static'),
            }),
          ]),
      },
    },
  },
  {
    path: '/2/instances/:instance/startup',
    methods: {
      PUT: jobAction('instances_name_startup', (request) =>
        validOpcode({
          OP_ID: 'OP_INSTANCE_STARTUP',
          instance_name: instance(request),
          force: flag(request.query, 'force'),
          no_remember: flag(request.query, 'no_remember'),
        }),
      ),
    },
  },
  {
    path: '/2/instances/:instance/shutdown',
    methods: {
      PUT: jobAction('instances_name_shutdown', (request, body) =>
        opcodeFromBody(
          'OP_INSTANCE_SHUTDOWN',
          { instance_name: instance(request), no_remember: flag(request.query, 'no_remember') },
          body,
          {
            keys: {
              timeout: 'timeout',
              admin_state_source: 'admin_state_source',
              ignore_offline_nodes: 'ignore_offline_nodes',
            },
            inert: { force: 'any' },
          },
        ),
      ),
    },
  },
  {
    path: '/2/instances/:instance/reboot',
    methods: {
      POST: jobAction('instances_name_reboot', (request, body) => {
        const type = text(request.query, 'type') ?? 'hard';
        return opcodeFromBody(
          'OP_INSTANCE_REBOOT',
          { instance_name: instance(request), reboot_type: type },
          body,
          { keys: { ...shutdownTimeout, ignore_secondaries: 'ignore_secondaries' } },
        );
      }),
    },
  },
  {
    path: '/2/instances/:instance/reinstall',
    methods: {
      POST: jobAction('instances_name_reinstall', (request, body) => {
        const legacy =
          values(request.query, 'os').length > 0 || values(request.query, 'nostartup').length > 0;
        if (legacy && Object.keys(body).length > 0)
          throw new RapiError(400, 'Parameters must be given in the body or the query, not both');
        const os = legacy ? text(request.query, 'os') : body.os;
        const start = legacy ? !flag(request.query, 'nostartup') : body.start !== false;
        for (const key of Object.keys(body))
          if (!['os', 'start', 'osparams', 'priority'].includes(key))
            throw new RapiError(400, `Invalid body parameters: unknown parameter '${key}' for reinstall`);
        const name = instance(request);
        return [
          validOpcode({ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: name }),
          validOpcode({
            OP_ID: 'OP_INSTANCE_REINSTALL',
            instance_name: name,
            ...(typeof os === 'string' && os !== '' && { os_type: os }),
            ...(body.osparams !== undefined &&
              body.osparams !== null && { osparams: paramStrings(body.osparams) }),
          }),
          ...(start ? [validOpcode({ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: name })] : []),
        ];
      }),
    },
  },
  {
    path: '/2/instances/:instance/rename',
    methods: {
      PUT: jobAction('instances_name_rename', (request, body) =>
        opcodeFromBody('OP_INSTANCE_RENAME', { instance_name: instance(request) }, body, {
          keys: { new_name: 'new_name' },
          inert: { ip_check: 'any', name_check: 'any' },
        }),
      ),
    },
  },
  {
    path: '/2/instances/:instance/modify',
    methods: {
      PUT: jobAction('instances_name_modify', (request, body) =>
        opcodeFromBody('OP_INSTANCE_SET_PARAMS', { instance_name: instance(request) }, body, modifySpec),
      ),
    },
  },
  {
    path: '/2/instances/:instance/migrate',
    methods: {
      PUT: jobAction('instances_name_migrate', (request, body) =>
        opcodeFromBody('OP_INSTANCE_MIGRATE', { instance_name: instance(request) }, body, {
          keys: {
            mode: 'mode',
            target_node: 'target_node',
            iallocator: 'iallocator',
            cleanup: 'cleanup',
            allow_failover: 'allow_failover',
            allow_runtime_changes: 'allow_runtime_changes',
            ignore_hvversions: 'ignore_hvversions',
          },
          inert: { ignore_ipolicy: [false] },
        }),
      ),
    },
  },
  {
    path: '/2/instances/:instance/failover',
    methods: {
      PUT: jobAction('instances_name_failover', (request, body) =>
        opcodeFromBody('OP_INSTANCE_FAILOVER', { instance_name: instance(request) }, body, {
          keys: {
            target_node: 'target_node',
            iallocator: 'iallocator',
            ignore_consistency: 'ignore_consistency',
            cleanup: 'cleanup',
            ...shutdownTimeout,
          },
          inert: { ignore_ipolicy: [false] },
        }),
      ),
    },
  },
  {
    path: '/2/instances/:instance/activate-disks',
    methods: {
      PUT: jobAction('instances_name_activate_disks', (request) =>
        validOpcode({
          OP_ID: 'OP_INSTANCE_ACTIVATE_DISKS',
          instance_name: instance(request),
          ignore_size: flag(request.query, 'ignore_size'),
        }),
      ),
    },
  },
  {
    path: '/2/instances/:instance/deactivate-disks',
    methods: {
      PUT: jobAction('instances_name_deactivate_disks', (request) =>
        validOpcode({
          OP_ID: 'OP_INSTANCE_DEACTIVATE_DISKS',
          instance_name: instance(request),
          force: flag(request.query, 'force'),
        }),
      ),
    },
  },
  {
    path: '/2/instances/:instance/recreate-disks',
    methods: {
      POST: jobAction('instances_name_recreate_disks', (request, body) =>
        opcodeFromBody('OP_INSTANCE_RECREATE_DISKS', { instance_name: instance(request) }, body, {
          keys: { disks: 'disks', nodes: 'nodes', iallocator: 'iallocator' },
          inert: { node_uuids: [] },
        }),
      ),
    },
  },
  {
    path: '/2/instances/:instance/disk/:disk/grow',
    methods: {
      POST: jobAction('instances_name_disk_grow', (request, body) =>
        opcodeFromBody(
          'OP_INSTANCE_GROW_DISK',
          { instance_name: instance(request), disk: Number(request.params.disk) },
          body,
          {
            keys: { amount: 'amount', absolute: 'absolute' },
            inert: { wait_for_sync: 'any', ignore_ipolicy: [false] },
          },
        ),
      ),
    },
  },
  {
    path: '/2/instances/:instance/replace-disks',
    methods: {
      POST: jobAction('instances_name_replace_disks', (request, body) => {
        // The Python client sends its parameters in the query, with no body; Ganeti reads them there then.
        const given: Record<string, unknown> =
          Object.keys(body).length > 0
            ? { ...body }
            : Object.fromEntries(
                ['mode', 'disks', 'remote_node', 'iallocator']
                  .map((key) => [key, text(request.query, key)] as const)
                  .filter(([, value]) => value !== undefined && value !== ''),
              );
        if (typeof given.disks === 'string')
          given.disks = given.disks
            .split(',')
            .filter((d) => d !== '')
            .map((d) => (/^\d+$/.test(d) ? Number(d) : d));
        return opcodeFromBody('OP_INSTANCE_REPLACE_DISKS', { instance_name: instance(request) }, given, {
          keys: {
            mode: 'mode',
            disks: 'disks',
            remote_node: 'remote_node',
            iallocator: 'iallocator',
            early_release: 'early_release',
            ignore_ipolicy: 'ignore_ipolicy',
          },
        });
      }),
    },
  },
  {
    path: '/2/instances/:instance/export',
    methods: {
      PUT: jobAction('instances_name_export', (request, body) => {
        if (body.mode !== undefined && body.mode !== null && body.mode !== 'local')
          throw new RapiError(400, "Only exports of mode 'local' are supported by this cluster");
        const { mode: _mode, ...rest } = body;
        return opcodeFromBody('OP_BACKUP_EXPORT', { instance_name: instance(request) }, rest, {
          keys: {
            destination: 'target_node',
            shutdown: 'shutdown',
            ...shutdownTimeout,
            remove_instance: 'remove_instance',
            ignore_remove_failures: 'ignore_remove_failures',
            compress: 'compress',
            long_sleep: 'long_sleep',
          },
          inert: {
            zero_free_space: [false],
            zeroing_timeout_fixed: 'any',
            zeroing_timeout_per_mib: 'any',
          },
        });
      }),
    },
  },
  {
    path: '/2/instances/:instance/console',
    methods: {
      GET: {
        access: ['read', 'write'],
        run: async (request, context) => {
          const config = await context.config();
          const found = findInstance(config, instance(request));
          if (found === undefined) throw new RapiError(404);
          const [dict] = instanceDicts(config, await context.live(config), [found.name]);
          if (dict?.oper_state !== true) throw new RapiError(503, `Instance ${found.name} is not running`);
          return {
            instance: found.name,
            kind: 'msg',
            message: `Corral's console is a stream between nodes, not SSH or VNC: run 'corral instance console ${found.name}' on any node of the cluster`,
          };
        },
      },
    },
  },
  {
    path: '/2/instances/:instance/tags',
    methods: tagMethods(
      'instance',
      'instances_name_tags',
      (config, request) => {
        const found = findInstance(config, instance(request));
        if (found === undefined) throw new RapiError(404);
        return found.tags;
      },
      instance,
    ),
  },
];
