import type { Access } from './access.js';
import { RapiError } from './http-error.js';

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';
export const methods: readonly Method[] = ['GET', 'PUT', 'POST', 'DELETE'];

/** Query arguments as the URL gave them: a repeated argument has several values. */
export type QueryArgs = Readonly<Record<string, string | readonly string[] | undefined>>;

/** One RAPI call, as a resource's handler sees it. */
export interface RapiRequest {
  readonly method: Method;
  readonly path: string;
  /** Named parts of the path (instance, node, group, job id, …), already checked against Ganeti's patterns. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: QueryArgs;
  /** The JSON body; undefined when there was none (an empty body counts as none). */
  readonly body: unknown;
  /** The authenticated user, if credentials were given. */
  readonly user?: string;
}

export interface Handler<Context> {
  readonly access: Access;
  run(request: RapiRequest, context: Context): Promise<unknown>;
}

/** A path and what each method does there; a method it lacks answers 501, as Ganeti does. */
export interface Resource<Context> {
  /** Fastify's pattern, e.g. `/2/instances/:instance/startup`. */
  readonly path: string;
  readonly methods: Partial<Record<Method, Handler<Context>>>;
}

/** An answer already in JSON: sent as it is (a cached listing), not encoded again. */
export class RawJson {
  constructor(readonly text: string) {}
}

/** Ganeti's name pattern for path components (instance, node, group, network, query resource). */
const NAME = /^[\w.-]+$/;
const NUMBER = /^\d+$/;

/** Path parameters that must be numbers (job IDs, disk indices); every other must be a name. */
export function checkParams(params: Readonly<Record<string, string>>): boolean {
  return Object.entries(params).every(([key, value]) =>
    key === 'job' || key === 'disk' ? NUMBER.test(value) : NAME.test(value),
  );
}

export function values(query: QueryArgs, name: string): readonly string[] {
  const value = query[name];
  if (value === undefined) return [];
  return typeof value === 'string' ? [value] : value;
}

/** The last value of a query argument; Ganeti takes the last of repeated ones. */
export function text(query: QueryArgs, name: string): string | undefined {
  return values(query, name).at(-1);
}

/** Ganeti's boolean query arguments are integers: 0 is false, anything else true; no number is a 400. */
export function flag(query: QueryArgs, name: string, fallback = false): boolean {
  const value = text(query, name);
  if (value === undefined || value === '') return fallback;
  if (!/^-?\d+$/.test(value.trim()))
    throw new RapiError(400, `Query argument '${name}' must be an integer, not '${value}'`);
  return Number(value) !== 0;
}

/** The body as an object of opcode parameters; no body is an empty one. */
export function bodyObject(request: RapiRequest): Readonly<Record<string, unknown>> {
  const { body } = request;
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body))
    throw new RapiError(400, 'Invalid body contents, not a dictionary');
  return body as Record<string, unknown>;
}
