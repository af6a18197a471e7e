import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from '../../common/log.js';
import { AUTHENTICATE_HEADER, decideAccess } from './access.js';
import type { RapiContext } from './context.js';
import { asRapiError, RapiError } from './http-error.js';
import {
  checkParams,
  type Method,
  methods,
  type QueryArgs,
  type RapiRequest,
  RawJson,
  type Resource,
} from './request.js';
import { rapiResources } from './resources.js';
import type { RapiUsers } from './users.js';

export interface RapiServerOptions {
  readonly context: RapiContext;
  readonly users: () => Promise<RapiUsers>;
  /** Ganeti's --require-authentication: even anonymous reads need a user. */
  readonly requireAuthentication?: boolean;
  /** Key and certificate; plain HTTP without (Ganeti's --no-ssl). */
  readonly tls?: { readonly key: string; readonly cert: string };
  /** RAPI_TIMEOUTS unless a test needs them shorter. */
  readonly timeouts?: typeof RAPI_TIMEOUTS;
  readonly log: Logger;
}

/** Ganeti's RAPI reads bodies of a few KiB; an instance create with many disks stays far below this. */
export const RAPI_BODY_LIMIT = 1024 * 1024;
/** A client has this long to send its headers, and its whole request: slow senders (slowloris) are dropped. */
export const RAPI_TIMEOUTS = { headersMs: 5_000, requestMs: 10_000 };
/** How often Node looks for connections past those limits (its default, 30 s, would let them linger). */
const TIMEOUT_CHECK_MS = 1_000;
/** Ganeti's --max-clients is 20 by default; Corral answers from a replica and can take more. */
export const RAPI_MAX_CONNECTIONS = 256;

/**
 * Ganeti's RAPI v2 on one node: every resource answers from this node's replica or submits a job to the
 * master through this node's daemon, so a client pointed at any node keeps working across a master failover.
 */
export function createRapiServer(options: RapiServerOptions): FastifyInstance {
  const { log } = options;
  const timeouts = options.timeouts ?? RAPI_TIMEOUTS;
  const limits = {
    headersTimeout: timeouts.headersMs,
    requestTimeout: timeouts.requestMs,
    connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_MS, timeouts.headersMs),
  };
  const app = Fastify({
    logger: false,
    bodyLimit: RAPI_BODY_LIMIT,
    exposeHeadRoutes: false,
    serverFactory: (handler) =>
      options.tls === undefined
        ? createHttpServer(limits, handler)
        : createHttpsServer({ ...limits, key: options.tls.key, cert: options.tls.cert }, handler),
  });
  app.server.maxConnections = RAPI_MAX_CONNECTIONS;

  // Ganeti compares the whole Content-Type with application/json; a body of any other type is a 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    try {
      done(
        null,
        parseBody(typeof body === 'string' ? body : body.toString('utf8'), request.headers['content-type']),
      );
    } catch (error) {
      done(error as Error);
    }
  });

  app.addHook('onRequest', async (request) => {
    if (request.headers['transfer-encoding'] !== undefined && request.headers['content-length'] === undefined)
      throw new RapiError(411);
  });

  for (const resource of rapiResources) {
    app.route({
      method: [...methods],
      url: resource.path,
      handler: (request, reply) => serve(resource, request, reply, options),
    });
  }

  app.setNotFoundHandler((request, reply) => {
    answerError(reply, new RapiError(404), request, log);
  });
  app.setErrorHandler((error, request, reply) => {
    const status = (error as { statusCode?: number }).statusCode;
    const rapi =
      error instanceof RapiError
        ? error
        : status === 413 || status === 415 || status === 400
          ? new RapiError(status, status === 413 ? undefined : (error as Error).message)
          : asRapiError(error);
    answerError(reply, rapi, request, log);
  });
  return app;
}

async function serve(
  resource: Resource<RapiContext>,
  request: FastifyRequest,
  reply: FastifyReply,
  options: RapiServerOptions,
): Promise<void> {
  const method = request.method as Method;
  const params = request.params as Record<string, string>;
  const path = request.url.split('?')[0] ?? request.url;
  if (!checkParams(params)) throw new RapiError(404);
  const handler = resource.methods[method];
  if (handler === undefined) throw new RapiError(501, `Method ${method} is unsupported for path ${path}`);
  const decision = decideAccess(
    handler.access,
    request.headers.authorization,
    await options.users(),
    options.requireAuthentication ?? false,
  );
  if (!decision.allowed) {
    if (decision.status === 401) reply.header('WWW-Authenticate', AUTHENTICATE_HEADER);
    throw new RapiError(decision.status);
  }
  const rapiRequest: RapiRequest = {
    method,
    path,
    params,
    query: request.query as QueryArgs,
    // Fastify parses no body on a GET; Ganeti's job wait carries one there (the Python client sends it).
    body: method === 'GET' ? await getBody(request) : request.body,
    ...(decision.user !== undefined && { user: decision.user }),
  };
  const result = await handler.run(rapiRequest, options.context);
  const body = result instanceof RawJson ? result.text : JSON.stringify(result ?? null);
  await reply.code(200).type('application/json').send(body);
}

function answerError(reply: FastifyReply, error: RapiError, request: FastifyRequest, log: Logger): void {
  const line = {
    method: request.method,
    path: request.url.slice(0, 256),
    status: error.status,
    ip: request.ip,
  };
  if (error.status >= 500) log.warn({ ...line, err: error.message }, 'RAPI request failed');
  else log.info({ ...line, reason: error.message }, 'RAPI request refused');
  void reply.code(error.status).type('application/json').send(JSON.stringify(error.body()));
}

/** Ganeti compares the whole Content-Type with application/json; an empty body is none, of any type. */
function parseBody(text: string, contentType: string | undefined): unknown {
  if (text.length === 0) return undefined;
  if ((contentType ?? '').toLowerCase() !== 'application/json')
    throw new RapiError(415, `Unsupported Content-Type: ${contentType ?? 'none'}`);
  try {
    return JSON.parse(text);
  } catch {
    throw new RapiError(400, 'Unable to parse JSON data');
  }
}

async function getBody(request: FastifyRequest): Promise<unknown> {
  const length = Number(request.headers['content-length'] ?? 0);
  if (!(length > 0)) return undefined;
  if (length > RAPI_BODY_LIMIT) throw new RapiError(413);
  const chunks: Buffer[] = [];
  for await (const chunk of request.raw) chunks.push(chunk as Buffer);
  return parseBody(Buffer.concat(chunks).toString('utf8'), request.headers['content-type']);
}
