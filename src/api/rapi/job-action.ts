import type { Opcode } from '../../cluster/opcodes.js';
import { niceCompare } from '../../cluster/query/index.js';
import type { RapiContext } from './context.js';
import { priorityOf } from './opcode-body.js';
import { bodyObject, type Handler, type RapiRequest } from './request.js';

export const WRITE = ['write'] as const;

/**
 * A job-submitting call: the URL names the object, the body (or the query, where Ganeti reads it there)
 * gives the opcodes' other parameters, and the answer is the job's ID. A bare JSON string body (a node's
 * role) is left to the builder, which reads it from the request.
 */
export function jobAction(
  source: string,
  build: (request: RapiRequest, body: Readonly<Record<string, unknown>>) => Opcode | readonly Opcode[],
): Handler<RapiContext> {
  return {
    access: WRITE,
    run: async (request, context) => {
      const body = typeof request.body === 'string' ? {} : bodyObject(request);
      const built = build(request, body);
      const ops: readonly Opcode[] = Array.isArray(built) ? built : [built as Opcode];
      return context.submit(request, source, ops, priorityOf(body));
    },
  };
}

/** Ganeti's plain listing: one `{id|name, uri}` per object, in its name order. */
export function listing(
  objects: readonly { readonly name: string }[],
  key: 'id' | 'name',
  collection: string,
): Record<string, string>[] {
  return [...objects]
    .sort((a, b) => niceCompare(a.name, b.name))
    .map((object) => ({ [key]: object.name, uri: `/2/${collection}/${object.name}` }));
}
