import { z } from 'zod';
import { type ErrorCode, isErrorCode, type WireError } from '../common/errors.js';

/** What travels back on a request stream: the answer, or a typed error. */
export type Reply =
  | { readonly ok: true; readonly body: unknown }
  | { readonly ok: false; readonly error: WireError };

const wireError = z.object({
  // A newer peer may send a code we do not know; it still arrives as an error, marked internal.
  code: z.string().transform((code): ErrorCode => (isErrorCode(code) ? code : 'internal')),
  message: z.string().max(4096),
});

export const replySchema: z.ZodType<Reply> = z.union([
  z.object({ ok: z.literal(true), body: z.unknown() }),
  z.object({ ok: z.literal(false), error: wireError }),
]);
