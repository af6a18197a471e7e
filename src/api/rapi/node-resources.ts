import type { NodeView } from '../../cluster/views.js';
import { tagMethods } from './cluster-resources.js';
import type { RapiContext } from './context.js';
import { RapiError } from './http-error.js';
import { jobAction, listing } from './job-action.js';
import { opcodeFromBody, validOpcode } from './opcode-body.js';
import { flag, type RapiRequest, type Resource, text } from './request.js';
import { findNode, nodeDicts, nodeListing } from './views.js';

type R = Resource<RapiContext>;

const nodeName = (request: RapiRequest) => request.params.node ?? '';

/** Ganeti's long role names, as GET …/role answers them. */
export function nodeRole(node: NodeView, master: string | undefined): string {
  if (node.id === master) return 'master';
  if (node.offline) return 'offline';
  if (node.drained) return 'drained';
  if (node.masterCandidate) return 'master-candidate';
  return 'regular';
}

/** The flags each role sets, as Ganeti's RAPI turns a role into OP_NODE_SET_PARAMS. */
const roleFlags: Record<string, Record<string, boolean>> = {
  regular: { master_candidate: false, offline: false, drained: false },
  'master-candidate': { master_candidate: true, offline: false, drained: false },
  drained: { master_candidate: false, drained: true, offline: false },
  offline: { master_candidate: false, offline: true, drained: false },
};

const evacuationModes: Record<string, 'primary' | 'secondary' | 'all'> = {
  'primary-only': 'primary',
  'secondary-only': 'secondary',
  all: 'all',
};

export const nodeResources: readonly R[] = [
  {
    path: '/2/nodes',
    methods: {
      GET: {
        access: 'anonymous',
        run: async (request, context) => {
          const config = await context.config();
          if (!flag(request.query, 'bulk')) return listing(config.nodes, 'id', 'nodes');
          return nodeListing(config, await context.live(config));
        },
      },
    },
  },
  {
    path: '/2/nodes/:node',
    methods: {
      GET: {
        access: 'anonymous',
        run: async (request, context) => {
          const config = await context.config();
          if (findNode(config, nodeName(request)) === undefined) throw new RapiError(404);
          const [dict] = nodeDicts(config, await context.live(config), [nodeName(request)]);
          return { ...dict, secondary_ip: dict?.sip ?? null };
        },
      },
    },
  },
  {
    path: '/2/nodes/:node/role',
    methods: {
      GET: {
        access: 'anonymous',
        run: async (request, context) => {
          const config = await context.config();
          const node = findNode(config, nodeName(request));
          if (node === undefined) throw new RapiError(404);
          return nodeRole(node, config.master);
        },
      },
      PUT: jobAction('nodes_name_role', (request) => {
        const role = request.body;
        if (role === 'master')
          throw new RapiError(
            400,
            "Cannot set 'master' role; use master-failover on the node that should lead",
          );
        const flags = typeof role === 'string' ? roleFlags[role] : undefined;
        if (flags === undefined)
          throw new RapiError(
            400,
            `Unknown node role '${String(role)}': one of regular, master-candidate, drained, offline`,
          );
        const autoPromote = text(request.query, 'auto-promote');
        return validOpcode({
          OP_ID: 'OP_NODE_SET_PARAMS',
          node_name: nodeName(request),
          ...flags,
          force: flag(request.query, 'force'),
          ...(autoPromote !== undefined && { auto_promote: flag(request.query, 'auto-promote') }),
        });
      }),
    },
  },
  {
    path: '/2/nodes/:node/modify',
    methods: {
      POST: jobAction('nodes_name_modify', (request, body) =>
        opcodeFromBody('OP_NODE_SET_PARAMS', { node_name: nodeName(request) }, body, {
          keys: {
            master_candidate: 'master_candidate',
            offline: 'offline',
            drained: 'drained',
            master_capable: 'master_capable',
            vm_capable: 'vm_capable',
            secondary_ip: 'secondary_ip',
            auto_promote: 'auto_promote',
            force: 'force',
            ndparams: 'ndparams',
            powered: 'powered',
          },
          inert: { hv_state: [{}], disk_state: [{}] },
        }),
      ),
    },
  },
  {
    path: '/2/nodes/:node/evacuate',
    methods: {
      POST: jobAction('nodes_name_evacuate', (request, body) => {
        const mode = typeof body.mode === 'string' ? evacuationModes[body.mode] : undefined;
        if (mode === undefined)
          throw new RapiError(400, "Parameter 'mode' is required: one of primary-only, secondary-only, all");
        if (body.iallocator != null && body.remote_node != null)
          throw new RapiError(400, 'Give an iallocator or a remote node, not both');
        const { mode: _mode, ...rest } = body;
        return opcodeFromBody('OP_NODE_EVACUATE', { node_name: nodeName(request), mode }, rest, {
          keys: { remote_node: 'remote_node', iallocator: 'iallocator' },
          inert: { early_release: 'any', ignore_soft_errors: 'any' },
        });
      }),
    },
  },
  {
    path: '/2/nodes/:node/migrate',
    methods: {
      POST: jobAction('nodes_name_migrate', (request, body) => {
        // Ganeti's legacy form puts `live` or `mode` in the query; `live` in the body is obsolete too.
        const given = { ...body };
        const queryMode = text(request.query, 'mode');
        if (queryMode !== undefined) given.mode ??= queryMode;
        if (text(request.query, 'live') !== undefined) given.live ??= flag(request.query, 'live');
        if (typeof given.live === 'boolean') {
          if (given.mode !== undefined && given.mode !== null)
            throw new RapiError(400, "Give 'live' or 'mode', not both");
          given.mode = given.live ? 'live' : 'non-live';
        }
        delete given.live;
        return opcodeFromBody('OP_NODE_MIGRATE', { node_name: nodeName(request) }, given, {
          keys: { mode: 'mode', target_node: 'target_node', iallocator: 'iallocator' },
          inert: { ignore_ipolicy: [false], allow_runtime_changes: 'any' },
        });
      }),
    },
  },
  {
    path: '/2/nodes/:node/storage',
    methods: {
      // Ganeti's: a job whose result is the rows; only writers may ask, as it runs on the nodes.
      GET: {
        access: ['write'],
        run: async (request, context) => {
          const fields = text(request.query, 'output_fields');
          if (fields === undefined || fields === '')
            throw new RapiError(400, "Missing the required 'output_fields' parameter");
          const type = text(request.query, 'storage_type');
          if (type === undefined) throw new RapiError(400, "Missing the required 'storage_type' parameter");
          const name = text(request.query, 'name');
          return context.submit(request, 'nodes_name_storage', [
            validOpcode({
              OP_ID: 'OP_NODE_QUERY_STORAGE',
              nodes: [nodeName(request)],
              storage_type: type,
              output_fields: fields.split(','),
              ...(name !== undefined && { name }),
            }),
          ]);
        },
      },
    },
  },
  {
    path: '/2/nodes/:node/tags',
    methods: tagMethods(
      'node',
      'nodes_name_tags',
      (config, request) => {
        const node = findNode(config, nodeName(request));
        if (node === undefined) throw new RapiError(404);
        return node.tags;
      },
      nodeName,
    ),
  },
];
