import { type FastifyInstance, type FastifyReply, fastify } from 'fastify';
import { asCorralError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { DaemonCall } from '../../daemon/job-client.js';
import {
  collectorList,
  findReport,
  MOND_API_VERSIONS,
  MOND_NO_REPORT_TEXT,
  type MondReport,
  notFoundText,
  wellFormedReports,
} from './mond-api.js';
import { createCorralMetrics } from './prometheus.js';

export { MOND_PORT } from './mond-api.js';

export interface MonitoringDeps {
  /** The local daemon's control handlers, called in process. */
  readonly call: DaemonCall;
  readonly log: Logger;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const ALLOWED_METHODS = 'GET, HEAD';
/** Nothing this server serves reads a body; a client that sends one anyway is refused early. */
const BODY_LIMIT_BYTES = 16 * 1024;

/** Python's BaseHTTPServer explanations, which Ganeti puts in its JSON error bodies. */
const explanations: Record<number, string> = {
  400: 'Bad request syntax or unsupported method',
  405: 'Specified method is invalid for this resource.',
  413: 'Entity is too large.',
  500: 'Server got itself in trouble',
};

/** Ganeti's JSON error shape, for what mond would not answer in plain text (failures, other methods). */
function errorBody(status: number, message: string): string {
  return JSON.stringify({ code: status, message, explain: explanations[status] ?? '' });
}

function sendJson(reply: FastifyReply, body: unknown): FastifyReply {
  return reply.type(JSON_TYPE).send(JSON.stringify(body));
}

/**
 * The monitoring endpoints every node serves over plain HTTP, not yet listening (the caller does
 * `await app.listen({ host, port: MOND_PORT })`):
 *
 * - Ganeti mond's API: `/` (`[1]`), `/1` (`null`), `/1/list/collectors`, `/1/report/all`,
 *   `/1/report/<category>/<collector>` (`default` for collectors without a category), from this node's
 *   `monitor-reports`; other paths get mond's plain-text 404s, without a Content-Type as mond sends them.
 * - `/metrics`: the Prometheus text format, collected from the local daemon on each scrape.
 *
 * GET and HEAD only; any other method gets 405 with an Allow header. A failing control call answers 500 with
 * Ganeti's JSON error body. One log line per refused or failed request; served ones only at debug.
 */
export function createMonitoringServer(deps: MonitoringDeps): FastifyInstance {
  const { call } = deps;
  const log = deps.log.child({ part: 'monitoring' });
  const metrics = createCorralMetrics(call);
  const app = fastify({
    logger: false,
    bodyLimit: BODY_LIMIT_BYTES,
    routerOptions: { ignoreTrailingSlash: true },
  });

  async function reports(): Promise<MondReport[]> {
    const answer = await call({ op: 'monitor-reports' });
    const { reports, malformed } = wellFormedReports(answer.reports);
    if (malformed > 0)
      log.warn({ malformed }, "monitoring: reports without Ganeti's shape left out; a collector is broken");
    return reports;
  }

  app.get('/', async (_request, reply) => sendJson(reply, MOND_API_VERSIONS));
  app.get('/1', async (_request, reply) => sendJson(reply, null));
  app.get('/1/list/collectors', async (_request, reply) => sendJson(reply, collectorList(await reports())));
  app.get('/1/report/all', async (_request, reply) => sendJson(reply, await reports()));
  app.get<{ Params: { category: string; collector: string } }>(
    '/1/report/:category/:collector',
    async (request, reply) => {
      const report = findReport(await reports(), request.params.category, request.params.collector);
      return report === undefined ? reply.code(404).send(MOND_NO_REPORT_TEXT) : sendJson(reply, report);
    },
  );
  app.get('/metrics', async (_request, reply) =>
    reply.type(metrics.contentType).send(await metrics.scrape()),
  );

  app.setNotFoundHandler((request, reply) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return reply
        .code(405)
        .header('allow', ALLOWED_METHODS)
        .type(JSON_TYPE)
        .send(
          errorBody(405, `Method ${request.method} is not allowed; this server answers ${ALLOWED_METHODS}`),
        );
    }
    return reply.code(404).send(notFoundText(request.url));
  });

  app.setErrorHandler((error, request, reply) => {
    const clientStatus = (error as { statusCode?: unknown }).statusCode;
    if (typeof clientStatus === 'number' && clientStatus >= 400 && clientStatus < 500)
      return reply
        .code(clientStatus)
        .type(JSON_TYPE)
        .send(errorBody(clientStatus, asCorralError(error).message));
    const reason = asCorralError(error).message;
    log.error(
      { method: request.method, url: request.url, status: 500, reason },
      'monitoring: request failed',
    );
    return reply.code(500).type(JSON_TYPE).send(errorBody(500, reason));
  });

  // mond writes its 404 texts with no Content-Type; so do we, rather than fastify's text/plain.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.statusCode === 404) reply.removeHeader('content-type');
    return payload;
  });

  app.addHook('onResponse', async (request, reply) => {
    const fields = { method: request.method, url: request.url, status: reply.statusCode };
    if (reply.statusCode < 400) log.debug(fields, 'monitoring: served');
    else if (reply.statusCode < 500) log.info(fields, 'monitoring: refused');
    // 5xx: the error handler logged it with its reason.
  });

  return app;
}
