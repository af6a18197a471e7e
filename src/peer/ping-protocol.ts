import { z } from 'zod';
import { requestProtocol } from './protocol.js';

/**
 * A ping: an empty request answered at once, which every transport serves. On libp2p it travels on the RPC
 * channel a node keeps to each peer; libp2p's own ping (`/corral/ping/1.0.0`, kept for kad-dht) opens and
 * negotiates a stream for every ping, and SWIM pings once a second: the stream's set-up (a protocol
 * negotiation, two peer-store updates, its close) cost several times the ping itself. Anyone past the
 * connection gate may ask; the answer says only that this node runs.
 */
export const pingProtocol = requestProtocol({
  name: 'ping',
  major: 1,
  callers: 'anyone',
  request: z.object({}),
  response: z.object({}),
  maxFrameBytes: 64,
});
