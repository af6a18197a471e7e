import { z } from 'zod';
import { asCorralError, type CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import type { Logger } from '../common/log.js';

/**
 * Who may call a protocol. Every protocol declares it, and the transport asks the node's CallerCheck before
 * any handler runs, so no handler can forget:
 * - `anyone`: whoever got past the connection gate (a fresh node lets anyone in; a member only members and
 *   join-token holders). Only `node-info`, which shows what a fresh node may show.
 * - `joiner`: a node showing a valid join token for its own peer ID. Only `join`.
 * - `member`: a node of this node's cluster.
 * - `admitter`: on a node in no cluster, whoever shows that node's enrolment code (the operator's proof that
 *   they mean to add it); on a member, the current master. Only `admit`.
 * - `master`: the current master, judged by the Raft term its request carries, so a deposed master (cut off,
 *   paused, or just replaced) is refused by every node that knows of a newer term.
 */
export type Callers = 'anyone' | 'joiner' | 'member' | 'admitter' | 'master';

/** What a caller shows beside a request, as an HTTP request carries its Authorization header. */
export const credentialsSchema = z.strictObject({
  /** The Raft term in which the caller is master. */
  term: z.number().int().nonnegative().optional(),
  /** The enrolment code of the node being admitted (`corral identity` on that node). */
  enrolment: z.string().max(256).optional(),
  /** A join token for the caller's own peer ID (`corral token create` on a member). */
  token: z.string().max(512).optional(),
});
export type Credentials = z.infer<typeof credentialsSchema>;

export const NO_CREDENTIALS: Credentials = {};

/**
 * Decides whether `from` may call a protocol open to `callers`: returns (or resolves) when it may, throws a
 * CorralError saying why not otherwise. It may wait a little, e.g. for this node to hear of a newer term.
 */
export type CallerCheck = (callers: Callers, from: NodeId, credentials: Credentials) => void | Promise<void>;

/** How often one peer's refusals for one reason are logged: the first, then a count once per window. */
const REFUSAL_LOG_WINDOW_MS = 60_000;
/** Peers and reasons remembered at once; a flood of fresh identities cannot grow it past this. */
const REFUSAL_LOG_KEYS_MAX = 4096;

/**
 * Logs refusals once per peer and reason per minute, with the number held back since, so that a hostile or
 * confused peer retrying in a loop shows in the log without filling it.
 */
export class RefusalLog {
  private readonly seen = new Map<string, { sinceMs: number; held: number }>();

  constructor(
    private readonly log: Logger,
    private readonly nowMs: () => number,
    private readonly message = 'refused a call outside its role',
  ) {}

  note(peer: NodeId, what: string, refusal: CorralError): void {
    const key = `${peer} ${what} ${refusal.code}`;
    const now = this.nowMs();
    const entry = this.seen.get(key);
    if (entry !== undefined && now - entry.sinceMs < REFUSAL_LOG_WINDOW_MS) {
      entry.held++;
      return;
    }
    if (entry === undefined && this.seen.size >= REFUSAL_LOG_KEYS_MAX) {
      for (const [old, { sinceMs }] of this.seen)
        if (now - sinceMs >= REFUSAL_LOG_WINDOW_MS) this.seen.delete(old);
      if (this.seen.size >= REFUSAL_LOG_KEYS_MAX) this.seen.delete(this.seen.keys().next().value as string);
    }
    this.seen.set(key, { sinceMs: now, held: 0 });
    this.log.warn(
      {
        peer,
        protocol: what,
        code: refusal.code,
        reason: refusal.message,
        ...(entry !== undefined && entry.held > 0 && { heldBack: entry.held }),
      },
      this.message,
    );
  }
}

/** Runs the check for one call; a refusal is logged (rate-limited) and rejects with a CorralError. */
export function checkCaller(
  check: CallerCheck,
  refusals: RefusalLog,
  what: string,
  callers: Callers,
  from: NodeId,
  credentials: Credentials,
): Promise<void> {
  return new Promise((resolve, reject) =>
    checkCallerThen(check, refusals, what, callers, from, credentials, resolve, reject),
  );
}

/**
 * The same check for a transport that must keep delivery synchronous when it can (the simulator's messages):
 * `proceed` runs at once when the check answers at once, later when it waits; a refusal is logged and handed
 * to `refuse`.
 */
export function checkCallerThen(
  check: CallerCheck,
  refusals: RefusalLog,
  what: string,
  callers: Callers,
  from: NodeId,
  credentials: Credentials,
  proceed: () => void,
  refuse: (refusal: CorralError) => void = () => undefined,
): void {
  const refused = (error: unknown) => {
    const refusal = asCorralError(error, 'not_member');
    refusals.note(from, what, refusal);
    refuse(refusal);
  };
  let verdict: void | Promise<void>;
  try {
    verdict = check(callers, from, credentials);
  } catch (error) {
    refused(error);
    return;
  }
  if (verdict instanceof Promise) verdict.then(proceed, refused);
  else proceed();
}
