import { asCorralError, CorralError } from '../common/errors.js';

/** Names the failures of length-prefixed stream reading in our own terms, so peers and logs see a reason. */
export function streamError(error: unknown, maxFrameBytes: number): CorralError {
  if (error instanceof CorralError) return error;
  const name = error instanceof Error ? error.name : '';
  switch (name) {
    case 'InvalidDataLengthError':
    // A length prefix with more digits than the cap needs announces a frame over the cap.
    case 'InvalidDataLengthLengthError':
      return new CorralError('frame_too_large', `frame exceeds the ${maxFrameBytes}-byte limit`);
    case 'InvalidMessageLengthError':
      return new CorralError('bad_frame', 'malformed length prefix');
    case 'UnexpectedEOFError':
      return new CorralError('bad_frame', 'stream ended in the middle of a frame');
    case 'StreamResetError':
    case 'StreamStateError':
      return new CorralError('closed', 'the stream was closed by the other side');
    // multistream-select found no protocol both sides speak.
    case 'UnsupportedProtocolError':
      return new CorralError('unknown_protocol', 'the peer does not speak that protocol');
    default:
      return asCorralError(error);
  }
}
