import type { Socket } from 'node:net';
import { decode, encode } from 'it-length-prefixed';
import { pushable } from 'it-pushable';
import { streamError } from './stream-errors.js';

/**
 * Reads the first length-prefixed frame from a local socket; rejects past the cap or at a cut-off frame.
 * The socket stays open for the reply: iterating the socket itself would destroy it on the way out.
 */
export async function readOneFrame(socket: Socket, maxFrameBytes: number): Promise<Uint8Array> {
  const chunks = pushable<Uint8Array>();
  const onData = (chunk: Uint8Array) => chunks.push(chunk);
  const onEnd = () => chunks.end();
  const onError = (error: Error) => chunks.end(error);
  socket.on('data', onData).on('end', onEnd).on('error', onError);
  try {
    for await (const frame of decode(chunks, { maxDataLength: maxFrameBytes })) return frame.subarray();
  } catch (error) {
    throw streamError(error, maxFrameBytes);
  } finally {
    socket.off('data', onData).off('end', onEnd).off('error', onError);
  }
  throw streamError(Object.assign(new Error('eof'), { name: 'UnexpectedEOFError' }), maxFrameBytes);
}

export function writeFrame(socket: Socket, frame: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.write(encode.single(frame).subarray(), (error) => (error ? reject(error) : resolve()));
  });
}
