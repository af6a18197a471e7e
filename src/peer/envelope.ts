import { z } from 'zod';
import { CorralError, type ErrorCode, isErrorCode, type WireError } from '../common/errors.js';
import { decodeFrame, encodeFrame } from './codec.js';

/** What travels back on a request stream: the answer, or a typed error. */
export type Reply =
  | { readonly ok: true; readonly body: unknown }
  | { readonly ok: false; readonly error: WireError };

/** The longest error message sent back; a longer one is cut, as a peer would refuse it. */
const ERROR_MESSAGE_CHARS_MAX = 4096;

/**
 * Room for an error reply whatever the protocol's cap, so that a protocol with small frames still says why it
 * failed: the code and a message of up to 4,096 characters, 3 bytes each at most in UTF-8.
 */
const ERROR_REPLY_BYTES_MAX = 3 * ERROR_MESSAGE_CHARS_MAX + 256;

const wireError = z.object({
  // A newer peer may send a code we do not know; it still arrives as an error, marked internal.
  code: z.string().transform((code): ErrorCode => (isErrorCode(code) ? code : 'internal')),
  message: z.string().max(ERROR_MESSAGE_CHARS_MAX),
});

export const replySchema: z.ZodType<Reply> = z.union([
  z.object({ ok: z.literal(true), body: z.unknown() }),
  z.object({ ok: z.literal(false), error: wireError }),
]);

/** Encodes an error reply; every protocol has room for one, however small its frames. */
export function encodeError(error: WireError): Uint8Array {
  const message = error.message.slice(0, ERROR_MESSAGE_CHARS_MAX);
  return encodeFrame({ ok: false, error: { code: error.code, message } }, ERROR_REPLY_BYTES_MAX);
}

/** Decodes a reply: an answer within the protocol's cap, or an error within the room every error has. */
export function decodeReply(bytes: Uint8Array, maxFrameBytes: number): Reply {
  const reply = decodeFrame(bytes, replySchema, Math.max(maxFrameBytes, ERROR_REPLY_BYTES_MAX));
  if (reply.ok && bytes.byteLength > maxFrameBytes) {
    throw new CorralError(
      'frame_too_large',
      `an answer of ${bytes.byteLength} bytes exceeds the ${maxFrameBytes}-byte limit`,
    );
  }
  return reply;
}
