import { tagMethods } from './cluster-resources.js';
import type { RapiContext } from './context.js';
import { RapiError } from './http-error.js';
import { jobAction, listing } from './job-action.js';
import { type BodySpec, opcodeFromBody } from './opcode-body.js';
import { flag, type RapiRequest, type Resource } from './request.js';
import { findGroup, groupDicts } from './views.js';

type R = Resource<RapiContext>;

const groupName = (request: RapiRequest) => request.params.group ?? '';

/** Ganeti's ipolicy dict: Corral keeps only its disk templates, so only those may be set. */
function ipolicyTemplates(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const { 'disk-templates': templates, ...rest } = value as Record<string, unknown>;
  const others = Object.keys(rest);
  if (others.length > 0)
    throw new RapiError(
      400,
      `Instance policy parameters ${others.join(', ')} are not supported by this cluster; only disk-templates`,
    );
  return templates;
}

const groupParams: BodySpec = {
  keys: {
    alloc_policy: 'alloc_policy',
    ipolicy: 'ipolicy_disk_templates',
    custom_ipolicy: 'ipolicy_disk_templates',
    ndparams: 'ndparams',
    custom_ndparams: 'ndparams',
  },
  inert: {
    diskparams: [{}],
    custom_diskparams: [{}],
    hv_state: [{}],
    disk_state: [{}],
  },
  convert: { ipolicy: ipolicyTemplates, custom_ipolicy: ipolicyTemplates },
};

export const groupResources: readonly R[] = [
  {
    path: '/2/groups',
    methods: {
      GET: {
        access: 'anonymous',
        run: async (request, context) => {
          const config = await context.config();
          if (!flag(request.query, 'bulk')) return listing(config.groups, 'name', 'groups');
          return groupDicts(config);
        },
      },
      POST: jobAction('groups', (_request, body) =>
        opcodeFromBody('OP_GROUP_ADD', {}, body, {
          ...groupParams,
          keys: { ...groupParams.keys, group_name: 'group_name', name: 'group_name' },
        }),
      ),
    },
  },
  {
    path: '/2/groups/:group',
    methods: {
      GET: {
        access: 'anonymous',
        run: async (request, context) => {
          const config = await context.config();
          if (findGroup(config, groupName(request)) === undefined) throw new RapiError(404);
          return groupDicts(config, [groupName(request)])[0];
        },
      },
      DELETE: jobAction('groups_name', (request, body) =>
        opcodeFromBody('OP_GROUP_REMOVE', { group_name: groupName(request) }, body, { keys: {} }),
      ),
    },
  },
  {
    path: '/2/groups/:group/modify',
    methods: {
      PUT: jobAction('groups_name_modify', (request, body) =>
        opcodeFromBody('OP_GROUP_SET_PARAMS', { group_name: groupName(request) }, body, groupParams),
      ),
    },
  },
  {
    path: '/2/groups/:group/rename',
    methods: {
      PUT: jobAction('groups_name_rename', (request, body) =>
        opcodeFromBody('OP_GROUP_RENAME', { group_name: groupName(request) }, body, {
          keys: { new_name: 'new_name' },
        }),
      ),
    },
  },
  {
    path: '/2/groups/:group/assign-nodes',
    methods: {
      PUT: jobAction('groups_name_assign_nodes', (request, body) =>
        opcodeFromBody(
          'OP_GROUP_ASSIGN_NODES',
          { group_name: groupName(request), force: flag(request.query, 'force') },
          body,
          { keys: { nodes: 'nodes' }, inert: { node_uuids: [] } },
        ),
      ),
    },
  },
  {
    path: '/2/groups/:group/tags',
    methods: tagMethods(
      'nodegroup',
      'groups_name_tags',
      (config, request) => {
        const group = findGroup(config, groupName(request));
        if (group === undefined) throw new RapiError(404);
        return group.tags;
      },
      groupName,
    ),
  },
];
