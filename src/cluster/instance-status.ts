import type { AdminState, AdminStateSource } from './model.js';

/** Ganeti's derived instance status, as `gnt-instance list` shows it (ganeti-cli reference §4). */
export type InstanceStatusName =
  | 'running'
  | 'ADMIN_down'
  | 'ADMIN_offline'
  | 'USER_down'
  | 'ERROR_down'
  | 'ERROR_up'
  | 'ERROR_wrongnode'
  | 'ERROR_nodedown'
  | 'ERROR_nodeoffline';

export interface StatusInput {
  readonly name: string;
  readonly adminState: AdminState;
  readonly adminStateSource: AdminStateSource;
  /** The primary node's name and whether the config marks it offline. */
  readonly primary: { readonly name: string; readonly offline: boolean };
}

/** What one node reported, or that it could not be asked. */
export type NodeReport =
  | { readonly reachable: true; readonly running: ReadonlySet<string> }
  | { readonly reachable: false };

/** The instances a node runs, by name; a paused guest still occupies its node, so it counts. */
export function runningNames(
  instances: readonly { readonly name: string; readonly state: string }[],
): Set<string> {
  return new Set(instances.filter((i) => i.state === 'running' || i.state === 'paused').map((i) => i.name));
}

/** A node's report from its answer, or from its silence (no instance list). */
export function nodeReport(
  instances: readonly { readonly name: string; readonly state: string }[] | undefined,
): NodeReport {
  return instances === undefined
    ? { reachable: false }
    : { reachable: true, running: runningNames(instances) };
}

/**
 * The status of an instance from its admin state and what the nodes report. A node that did not answer
 * makes its instances ERROR_nodedown: the master cannot tell whether they run, so it must not act on them.
 */
export function instanceStatus(
  instance: StatusInput,
  reports: ReadonlyMap<string, NodeReport>,
): InstanceStatusName {
  if (instance.primary.offline) return 'ERROR_nodeoffline';
  const primary = reports.get(instance.primary.name);
  if (primary === undefined || !primary.reachable) return 'ERROR_nodedown';
  const onPrimary = primary.running.has(instance.name);
  if (!onPrimary) {
    for (const [node, report] of reports)
      if (node !== instance.primary.name && report.reachable && report.running.has(instance.name))
        return 'ERROR_wrongnode';
  }
  if (instance.adminState === 'up') return onPrimary ? 'running' : 'ERROR_down';
  if (onPrimary) return 'ERROR_up';
  if (instance.adminState === 'offline') return 'ADMIN_offline';
  return instance.adminStateSource === 'user' ? 'USER_down' : 'ADMIN_down';
}
