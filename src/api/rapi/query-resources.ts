import { jobViewSchema } from '../../cluster/job-views.js';
import {
  fieldDefinitions,
  groupRows,
  instanceRows,
  isQueryResource,
  jobRows,
  neededData,
  nodeRows,
  type QueryInput,
  type QueryResource,
  type QueryResult,
  runQuery,
} from '../../cluster/query/index.js';
import type { RapiContext } from './context.js';
import { RapiError } from './http-error.js';
import { bodyObject, type RapiRequest, type Resource, text } from './request.js';

type R = Resource<RapiContext>;

/** Ganeti's query resources Corral has; the others (network, export, lock, filter) are not found here. */
function resourceOf(request: RapiRequest): QueryResource {
  const name = request.params.resource ?? '';
  if (!isQueryResource(name)) throw new RapiError(404, `Resource '${name}' cannot be queried here`);
  return name;
}

function fieldList(value: unknown, where: string): string[] {
  if (typeof value === 'string') return value.split(',').filter((field) => field !== '');
  if (Array.isArray(value) && value.every((field) => typeof field === 'string')) return value;
  throw new RapiError(400, `${where} must be a list of field names`);
}

/** Fetches what the fields and the filter read (live status, gossip, job records), then runs the query. */
async function query(
  context: RapiContext,
  resource: QueryResource,
  fields: readonly string[],
  filter: unknown,
): Promise<QueryResult> {
  const needs = neededData(resource, fields, filter);
  if (resource === 'job') {
    const response = await context.call({ op: 'jobs', consistent: true });
    const jobs = response.jobs.map((job) => jobViewSchema.parse(job)).sort((a, b) => a.id - b.id);
    return runQuery('job', fields, filter, jobRows(jobs));
  }
  const config = await context.config();
  const [live, observed, jobs] = await Promise.all([
    needs.live ? context.live(config) : undefined,
    needs.observed ? context.call({ op: 'health' }).then((answer) => answer.rows) : undefined,
    needs.jobs
      ? context
          .call({ op: 'jobs', consistent: true })
          .then((answer) => answer.jobs.map((job) => jobViewSchema.parse(job)))
      : undefined,
  ]);
  const input: QueryInput = { config, live, observed, jobs };
  switch (resource) {
    case 'instance':
      return runQuery('instance', fields, filter, instanceRows(input));
    case 'node':
      return runQuery('node', fields, filter, nodeRows(input));
    case 'group':
      return runQuery('group', fields, filter, groupRows(input));
  }
}

const READER = ['read', 'write'] as const;

export const queryResources: readonly R[] = [
  {
    path: '/2/query/:resource',
    methods: {
      GET: {
        access: READER,
        run: async (request, context) =>
          query(
            context,
            resourceOf(request),
            fieldList(text(request.query, 'fields') ?? '', "'fields'"),
            undefined,
          ),
      },
      PUT: {
        access: READER,
        run: async (request, context) => {
          const body = bodyObject(request);
          for (const key of Object.keys(body))
            if (!['fields', 'qfilter', 'filter'].includes(key))
              throw new RapiError(400, `Invalid body parameters: unknown parameter '${key}' for a query`);
          const fromQuery = text(request.query, 'fields');
          const fields = fieldList(body.fields ?? fromQuery ?? '', "'fields'");
          if (fields.length === 0) throw new RapiError(400, "Missing 'fields': name the fields to read");
          return query(context, resourceOf(request), fields, body.qfilter ?? body.filter ?? undefined);
        },
      },
    },
  },
  {
    path: '/2/query/:resource/fields',
    methods: {
      GET: {
        access: 'anonymous',
        run: async (request) => {
          const names = text(request.query, 'fields');
          return {
            fields: fieldDefinitions(
              resourceOf(request),
              names === undefined ? undefined : fieldList(names, "'fields'"),
            ),
          };
        },
      },
    },
  },
];
