import type { Opcode } from '../../cluster/opcodes.js';
import { type ConfigView, configViewSchema } from '../../cluster/views.js';
import type { ControlResponse } from '../../daemon/control-replies.js';
import { type DaemonCall, submitJob } from '../../daemon/job-client.js';
import { RapiError } from './http-error.js';
import { flag, type RapiRequest, text } from './request.js';

export type LiveNodes = ControlResponse<'nodes-live'>['nodes'];

/** What RAPI's resources read and submit through: the node's own daemon, called in process. */
export interface RapiContext {
  readonly call: DaemonCall;
  /** The configuration, confirmed by the master when there is one (the CLI's rule), else this node's copy. */
  config(): Promise<ConfigView>;
  /**
   * Every node's live view, asked of the nodes at most once a second however many clients ask, and again
   * whenever the configuration changed (a job that started or moved an instance is seen at once).
   */
  live(config: ConfigView): Promise<LiveNodes>;
  /** Submits the opcodes as one job with RAPI's reason trail and the call's `reason=`; answers its ID. */
  submit(request: RapiRequest, source: string, ops: readonly Opcode[], priority?: number): Promise<number>;
}

/** What a reason trail entry may hold (the opcode's limit). */
const MAX_REASON_CHARS = 1024;

/** How old the nodes' live figures may be; Ganeti asks the nodes on every call, at 100 ms or more a call. */
export const LIVE_MAX_AGE_MS = 1_000;

export function rapiContext(call: DaemonCall, nowMs: () => number = () => performance.now()): RapiContext {
  let live: { atMs: number; serial: number; nodes: Promise<LiveNodes> } | undefined;
  // The daemon answers in process with one view object per configuration: checked once, not per request.
  let checked: { answer: unknown; view: ConfigView } | undefined;
  return {
    call,
    async config() {
      const response = await call({ op: 'config', consistent: true });
      if (response.config === undefined) throw new RapiError(502, 'this node belongs to no cluster yet');
      if (checked?.answer !== response.config)
        checked = { answer: response.config, view: configViewSchema.parse(response.config) };
      return checked.view;
    },
    live(config) {
      if (live === undefined || live.serial !== config.serial || nowMs() - live.atMs > LIVE_MAX_AGE_MS) {
        const nodes = call({ op: 'nodes-live' }).then((response) => response.nodes);
        live = { atMs: nowMs(), serial: config.serial, nodes };
        // A failed ask is not kept: the next call asks again.
        nodes.catch(() => {
          if (live?.nodes === nodes) live = undefined;
        });
      }
      return live.nodes;
    },
    async submit(request, source, ops, priority) {
      const nowS = Date.now() / 1000;
      const reason = text(request.query, 'reason');
      if (reason !== undefined && reason.length > MAX_REASON_CHARS)
        throw new RapiError(400, `The reason is at most ${MAX_REASON_CHARS} characters`);
      const trail: [string, string, number][] = [
        [`gnt:library:rlib2:${source}`, '', nowS],
        ...(reason === undefined ? [] : [['gnt:user', reason, nowS] as [string, string, number]]),
      ];
      // Ganeti's dry run: the job checks everything and changes nothing.
      const dryRun = flag(request.query, 'dry-run') || ops.some((op) => op.dry_run === true);
      const withReason = ops.map(
        (op) =>
          ({ ...op, reason: [...(op.reason ?? []), ...trail], ...(dryRun && { dry_run: true }) }) as Opcode,
      );
      return submitJob(call, withReason, priority);
    },
  };
}
