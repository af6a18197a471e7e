import { type JobView, jobViewSchema } from '../../cluster/job-views.js';
import { isFinished } from '../../cluster/jobs.js';
import { isErrorCode } from '../../common/errors.js';
import type { RapiContext } from './context.js';
import { RapiError } from './http-error.js';
import { bodyObject, flag, type RapiRequest, type Resource } from './request.js';
import { JOB_BULK_FIELDS, JOB_ITEM_FIELDS, jobDict } from './views.js';

type R = Resource<RapiContext>;

/** How long GET /2/jobs/[id]/wait holds a call that sees no change, as Ganeti's server does. */
export const JOB_WAIT_MS = 10_000;

const jobId = (request: RapiRequest) => Number(request.params.job);

async function jobs(context: RapiContext, ids?: readonly number[]): Promise<JobView[]> {
  const response = await context.call({
    op: 'jobs',
    consistent: true,
    ...(ids !== undefined && { ids: [...ids] }),
  });
  return response.jobs.map((job) => jobViewSchema.parse(job));
}

async function oneJob(context: RapiContext, id: number): Promise<JobView> {
  const [job] = await jobs(context, [id]);
  if (job === undefined) throw new RapiError(404, `Job ${id} not found`);
  return job;
}

/** The body of a wait: which fields, and what the client saw last. */
function waitRequest(request: RapiRequest): { fields: string[]; previous: unknown; serial: number } {
  const body = bodyObject(request);
  const fields = body.fields;
  if (!Array.isArray(fields) || !fields.every((f) => typeof f === 'string'))
    throw new RapiError(400, "The body's 'fields' must be a list of job field names");
  const previous = body.previous_job_info ?? null;
  if (previous !== null && !Array.isArray(previous))
    throw new RapiError(400, "The body's 'previous_job_info' must be a list or null");
  const serial = body.previous_log_serial ?? 0;
  if (typeof serial !== 'number' || !Number.isInteger(serial))
    throw new RapiError(400, "The body's 'previous_log_serial' must be a whole number or null");
  return { fields, previous, serial };
}

/** Ganeti's change answer: the fields' values and the log entries after the serial, or null when nothing changed. */
function change(job: JobView, fields: readonly string[], previous: unknown, serial: number) {
  const dict = jobDict(job, fields);
  const info = fields.map((field) => dict[field] ?? null);
  const entries = job.log
    .filter((entry) => entry.serial > serial)
    .map((entry) => [
      entry.serial,
      splitTime(entry.tsMs),
      entry.type === 'hook' ? 'message' : entry.type,
      entry.message,
    ]);
  if (entries.length === 0 && JSON.stringify(info) === JSON.stringify(previous)) return undefined;
  return { job_info: info, log_entries: entries };
}

export function splitTime(ms: number): [number, number] {
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.round((ms - seconds * 1000) * 1000)];
}

export const jobResources: readonly R[] = [
  {
    path: '/2/jobs',
    methods: {
      GET: {
        access: 'anonymous',
        run: async (request, context) => {
          const all = (await jobs(context)).sort((a, b) => a.id - b.id);
          if (!flag(request.query, 'bulk'))
            return all.map((job) => ({ id: job.id, uri: `/2/jobs/${job.id}` }));
          return all.map((job) => jobDict(job, JOB_BULK_FIELDS));
        },
      },
    },
  },
  {
    path: '/2/jobs/:job',
    methods: {
      GET: {
        access: 'anonymous',
        run: async (request, context) => jobDict(await oneJob(context, jobId(request)), JOB_ITEM_FIELDS),
      },
      DELETE: {
        access: ['write'],
        run: async (request, context) => {
          const id = jobId(request);
          const job = await oneJob(context, id);
          if (job.status !== 'queued' && job.status !== 'waiting')
            return [false, `Job ${id} is ${job.status} and can no longer be canceled`];
          try {
            await context.call({ op: 'master', request: { op: 'cancel', job: id } });
          } catch (error) {
            const code = (error as { code?: unknown }).code;
            if (isErrorCode(code) && code !== 'conflict') throw error;
            return [false, (error as Error).message];
          }
          return [true, `Job ${id} will be canceled`];
        },
      },
    },
  },
  {
    path: '/2/jobs/:job/wait',
    methods: {
      GET: {
        access: ['write'],
        run: async (request, context) => {
          const { fields, previous, serial } = waitRequest(request);
          const id = jobId(request);
          const deadline = performance.now() + JOB_WAIT_MS;
          let job = await oneJob(context, id);
          for (;;) {
            const changed = change(job, fields, previous, serial);
            if (changed !== undefined || isFinished(job.status)) return changed ?? null;
            const left = Math.floor(deadline - performance.now());
            if (left <= 0) return null;
            const next = await context.call({
              op: 'job-wait',
              job: id,
              afterVersion: job.version,
              waitMs: left,
            });
            job = jobViewSchema.parse(next.job);
          }
        },
      },
    },
  },
];
