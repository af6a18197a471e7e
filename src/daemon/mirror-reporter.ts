import { asCorralError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { OutdateAnswer } from '../storage/mirror/primary.js';

/** How a primary reaches the master about its disks (through the cluster's forwarding to the master). */
export interface MirrorReporter {
  /** Records the peer's copies of the instance's disks as stale; resolves with the new generation. */
  outdate(instance: string, generation: number): Promise<OutdateAnswer>;
  synced(instance: string, generation: number): Promise<void>;
}

/** The master's side of a report, as the cluster service forwards it. */
export type MirrorReportForward = (request: {
  readonly op: 'mirror';
  readonly report: 'outdate' | 'synced';
  readonly instance: string;
  readonly generation: number;
}) => Promise<{ readonly generation: number }>;

/**
 * Reports through the master. The master refuses (conflict) a report from a node that is not the instance's
 * primary with a current copy: for an outdate that means this copy was deposed; for a resync, that it is
 * stale and the next one will tell.
 */
export function reportingToMaster(forward: MirrorReportForward, log: Logger): MirrorReporter {
  return {
    async outdate(instance, generation) {
      try {
        return {
          outcome: 'outdated',
          ...(await forward({ op: 'mirror', report: 'outdate', instance, generation })),
        };
      } catch (error) {
        const reason = asCorralError(error);
        if (reason.code === 'conflict' || reason.code === 'not_found')
          return { outcome: 'deposed', reason: reason.message };
        throw reason;
      }
    },
    async synced(instance, generation) {
      try {
        await forward({ op: 'mirror', report: 'synced', instance, generation });
      } catch (error) {
        const reason = asCorralError(error);
        if (reason.code !== 'conflict') throw reason;
        log.info({ instance, reason: reason.message }, 'the master did not take a resync report');
      }
    },
  };
}
