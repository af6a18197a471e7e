import { z } from 'zod';
import type { Clock } from '../common/clock.js';
import type { NodeId } from '../common/ids.js';
import { topic } from '../peer/protocol.js';
import type { Transport } from '../peer/transport.js';

/** Serf's limit on a user event's payload, kept so that an event fits comfortably in one gossip frame. */
export const MAX_EVENT_PAYLOAD_BYTES = 512;
/** Received events kept for `events`; the oldest go first. */
export const MAX_KEPT_EVENTS = 1024;

export const eventNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_.:-]+$/, 'an event name is letters, digits and _ . : -');
export const eventPayloadSchema = z
  .string()
  .refine((payload) => Buffer.byteLength(payload) <= MAX_EVENT_PAYLOAD_BYTES, {
    message: `an event payload is at most ${MAX_EVENT_PAYLOAD_BYTES} bytes`,
  });

export const userEventTopic = topic({
  name: 'user-event',
  major: 1,
  callers: 'member',
  message: z.object({ name: eventNameSchema, payload: eventPayloadSchema, sentAtMs: z.number() }),
  maxFrameBytes: 2 * 1024,
});

export const receivedEventSchema = z.object({
  name: z.string(),
  payload: z.string(),
  /** Peer ID of the node that sent it. */
  from: z.string(),
  /** Wall-clock times at the sender and here, comparable between processes on one host. */
  sentAtMs: z.number(),
  receivedAtMs: z.number(),
});
export type ReceivedEvent = z.infer<typeof receivedEventSchema>;

export interface UserEvents {
  /** Sends an event to every member (gossipsub), and keeps it here too as serf does; resolves to its send time. */
  publish(name: string, payload: string): Promise<number>;
  /** The events kept here, oldest first, optionally only those of one name. */
  received(name?: string): ReceivedEvent[];
}

/**
 * Serf's user events over the cluster's gossip: a name and a small payload sent once to every node, with the
 * times each node received it. Only members can publish, since the connection gate admits only members.
 */
/** User events ride one gossip topic. */
export type UserEventTransport = Pick<Transport, 'self' | 'publish' | 'subscribe'>;

export function createUserEvents(transport: UserEventTransport, clock: Pick<Clock, 'wallMs'>): UserEvents {
  const kept: ReceivedEvent[] = [];
  const keep = (event: ReceivedEvent) => {
    kept.push(event);
    if (kept.length > MAX_KEPT_EVENTS) kept.splice(0, kept.length - MAX_KEPT_EVENTS);
  };
  transport.subscribe(userEventTopic, (from: NodeId, message) => {
    keep({ ...message, from, receivedAtMs: clock.wallMs() });
  });
  return {
    async publish(name, payload) {
      const sentAtMs = clock.wallMs();
      await transport.publish(userEventTopic, { name, payload, sentAtMs });
      keep({ name, payload, from: transport.self, sentAtMs, receivedAtMs: sentAtMs });
      return sentAtMs;
    },
    received: (name) => kept.filter((event) => name === undefined || event.name === name),
  };
}
