/** Every failure a user or a peer can see carries one of these codes and a message that says what to do. */
export const errorCodes = [
  'bad_request',
  'bad_frame',
  'frame_too_large',
  'unknown_protocol',
  'not_member',
  /** A call only the current master may make, from a node that is not (or no longer) the master. */
  'not_master',
  'bad_token',
  /** An unjoined node was shown no enrolment code, or the wrong one. */
  'bad_enrolment',
  'token_expired',
  'timeout',
  'unreachable',
  'aborted',
  'closed',
  'not_found',
  'conflict',
  'unavailable',
  'not_leader',
  'internal',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

const knownCodes: ReadonlySet<string> = new Set(errorCodes);

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && knownCodes.has(value);
}

export class CorralError extends Error {
  override readonly name = 'CorralError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  toWire(): WireError {
    return { code: this.code, message: this.message };
  }
}

export interface WireError {
  readonly code: ErrorCode;
  readonly message: string;
}

/** Turns anything thrown into a CorralError, keeping the original as the cause. */
export function asCorralError(error: unknown, fallback: ErrorCode = 'internal'): CorralError {
  if (error instanceof CorralError) return error;
  if (error instanceof Error && error.name === 'AbortError') {
    return new CorralError('aborted', 'the operation was aborted', { cause: error });
  }
  if (error instanceof Error && error.name === 'TimeoutError') {
    return new CorralError('timeout', 'the operation timed out', { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new CorralError(fallback, message, { cause: error });
}
