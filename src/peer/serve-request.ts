import type { Clock } from '../common/clock.js';
import { deadline } from '../common/deadline.js';
import { CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import { type CallerCheck, type Credentials, checkCallerThen, type RefusalLog } from './callers.js';
import { checkShape, decodeFrame, encodeFrame } from './codec.js';
import { decodeReply, encodeError } from './envelope.js';
import type { MessageProtocol, RequestProtocol } from './protocol.js';
import { streamError } from './stream-errors.js';
import type { RequestHandler } from './transport.js';

/** What a transport lends the requests it serves. */
export interface ServingNode {
  readonly self: NodeId;
  readonly check: CallerCheck;
  readonly refusals: RefusalLog;
  readonly log: Logger;
  /** Times the handlers' deadlines. */
  readonly clock: Clock;
}

/** One request as it arrived: its body still encoded, and a signal that aborts when its caller goes away. */
export interface IncomingRequest {
  readonly from: NodeId;
  readonly credentials: Credentials;
  readonly body: Uint8Array;
  readonly signal: AbortSignal;
}

/**
 * Serves one request, the same way on every transport: the caller's role is judged first, so a refused
 * caller's body is never decoded; then the body against the protocol's schema; then the handler runs under
 * the protocol's deadline. Its answer, or the reason there is none, is encoded under the protocol's cap and
 * handed to `respond`. Runs the handler synchronously when the check answers at once, as the simulator needs.
 */
export function serveRequest<Req, Res>(
  node: ServingNode,
  protocol: RequestProtocol<Req, Res>,
  handler: RequestHandler<Req, Res>,
  incoming: IncomingRequest,
  respond: (reply: Uint8Array) => void,
): void {
  const { from, credentials } = incoming;
  const cap = protocol.maxFrameBytes;
  const fail = (error: CorralError) => respond(encodeError(error.toWire()));
  const run = () => {
    let request: Req;
    try {
      request = decodeFrame(incoming.body, protocol.request, cap);
    } catch (error) {
      const refusal = streamError(error, cap);
      node.log.warn(
        { peer: from, protocol: protocol.id, code: refusal.code, reason: refusal.message },
        'refused a request',
      );
      fail(refusal);
      return;
    }
    const limit = deadline(protocol.timeoutMs, [incoming.signal], node.clock);
    handler(request, { from, credentials, signal: limit.signal })
      .then(
        (body) => respond(encodeAnswer(node, protocol, from, body)),
        (error: unknown) => {
          const failure = streamError(error, cap);
          if (failure.code === 'internal')
            node.log.error({ peer: from, protocol: protocol.id, err: error }, 'request handler failed');
          fail(failure);
        },
      )
      .finally(() => limit.dispose());
  };
  checkCallerThen(node.check, node.refusals, protocol.id, protocol.callers, from, credentials, run, fail);
}

/** An answer under the protocol's cap; one over it is this node's bug, logged here and refused to the caller. */
function encodeAnswer<Req, Res>(
  node: ServingNode,
  protocol: RequestProtocol<Req, Res>,
  from: NodeId,
  body: Res,
): Uint8Array {
  try {
    return encodeFrame({ ok: true, body }, protocol.maxFrameBytes);
  } catch (error) {
    const failure = streamError(error, protocol.maxFrameBytes);
    node.log.error(
      { peer: from, protocol: protocol.id, code: failure.code, reason: failure.message },
      'refused to send an answer',
    );
    return encodeError(failure.toWire());
  }
}

/** The reply to a request for a protocol this node does not serve. */
export function unknownProtocolReply(self: NodeId, protocol: string): Uint8Array {
  const message = `${self} does not speak ${protocol.slice(0, 128)}`;
  return encodeError({ code: 'unknown_protocol', message });
}

/** What the caller makes of a reply: the answer, checked against the protocol's schema, or the remote's error. */
export function answerOf<Req, Res>(reply: Uint8Array, protocol: RequestProtocol<Req, Res>): Res {
  const decoded = decodeReply(reply, protocol.maxFrameBytes);
  if (!decoded.ok) throw new CorralError(decoded.error.code, decoded.error.message);
  return checkShape(decoded.body, protocol.response);
}

/**
 * A one-way message's frame, or undefined when it cannot be encoded under its protocol's cap: a message is a
 * datagram, so it is dropped (and the bug logged), as a message lost on the way would be.
 */
export function encodeMessage<M>(
  log: Logger,
  peer: NodeId,
  protocol: MessageProtocol<M>,
  message: M,
): Uint8Array | undefined {
  try {
    return encodeFrame(message, protocol.maxFrameBytes);
  } catch (error) {
    log.error({ peer, protocol: protocol.id, err: error }, 'dropped an unencodable message');
    return undefined;
  }
}
