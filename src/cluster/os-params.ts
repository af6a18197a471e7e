import { CorralError } from '../common/errors.js';
import type { ClusterParams, InstanceRecord } from './model.js';

/**
 * Ganeti's per-OS cluster settings (gnt-os modify): OS parameters and hypervisor parameters that every
 * instance of the OS inherits unless it sets its own, and the hidden and blacklisted lists. An OS is named
 * with or without its variant; the variant's settings go over the OS's, as Ganeti's FillDict does.
 */

export type ParamTable = Readonly<Record<string, Readonly<Record<string, string>>>>;
export type OsHvTable = Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, string>>>>>>;

/** Ganeti's DDM_ADD/DDM_REMOVE edits of the hidden and blacklisted lists. */
export type OsListEdit = readonly ['add' | 'remove', string];

/**
 * A table after `changes`: each OS's parameters merged over what it had; `default` as a value removes the
 * key, and an OS left with none is dropped.
 */
export function mergedParamTable(current: ParamTable | undefined, changes: ParamTable): ParamTable {
  const table: Record<string, Readonly<Record<string, string>>> = { ...current };
  for (const [os, params] of Object.entries(changes)) {
    const merged: Record<string, string> = { ...table[os] };
    for (const [key, value] of Object.entries(params))
      if (value === 'default') delete merged[key];
      else merged[key] = value;
    if (Object.keys(merged).length === 0) delete table[os];
    else table[os] = merged;
  }
  return table;
}

/** The per-OS hypervisor table after `changes`, merged per OS and hypervisor as mergedParamTable does. */
export function mergedOsHvTable(current: OsHvTable | undefined, changes: OsHvTable): OsHvTable {
  const table: Record<string, Readonly<Record<string, Readonly<Record<string, string>>>>> = { ...current };
  for (const [os, byHv] of Object.entries(changes)) {
    const merged = mergedParamTable(table[os], byHv);
    if (Object.keys(merged).length === 0) delete table[os];
    else table[os] = merged;
  }
  return table;
}

/** A hidden or blacklisted list after Ganeti's add/remove edits; removing an OS not listed is refused. */
export function editedOsList(
  current: readonly string[] | undefined,
  edits: readonly OsListEdit[],
  what: string,
) {
  const list = new Set(current);
  for (const [action, os] of edits) {
    if (action === 'add') list.add(os);
    else if (!list.delete(os)) throw new CorralError('bad_request', `OS ${os} is not ${what}`);
  }
  return [...list].sort();
}

/** The OS's name without its variant, and with it (Ganeti's `name+variant`). */
function osKeys(os: string): string[] {
  const base = os.split('+', 1)[0]!;
  return base === os ? [os] : [base, os];
}

/** The OS parameters an instance's scripts get: the cluster's for its OS (then variant), then its own. */
export function filledOsParams(
  cluster: Pick<ClusterParams, 'osParams'>,
  instance: Pick<InstanceRecord, 'os' | 'osParams'>,
) {
  return Object.assign(
    {},
    ...osKeys(instance.os).map((key) => cluster.osParams?.[key]),
    instance.osParams,
  ) as Record<string, string>;
}

/**
 * The hypervisor parameters an instance runs with: the cluster's for its hypervisor, then those for its OS
 * and hypervisor, then its own (Ganeti's FillHV).
 */
export function filledHvParams(
  cluster: Pick<ClusterParams, 'hvParams' | 'osHvParams'>,
  instance: Pick<InstanceRecord, 'os' | 'hypervisor' | 'hvParams'>,
) {
  return Object.assign(
    {},
    cluster.hvParams?.[instance.hypervisor],
    ...osKeys(instance.os).map((key) => cluster.osHvParams?.[key]?.[instance.hypervisor]),
    instance.hvParams,
  ) as Record<string, string>;
}

/** Ganeti refuses a blacklisted OS for anything that installs it (add, reinstall, a changed OS, import). */
export function requireNotBlacklisted(cluster: Pick<ClusterParams, 'blacklistedOs'>, os: string): void {
  if (osKeys(os).some((key) => cluster.blacklistedOs?.includes(key)))
    throw new CorralError(
      'conflict',
      `Guest OS '${os}' is not allowed for installation: it is blacklisted (gnt-os modify --blacklisted=no ${os.split('+', 1)[0]})`,
    );
}

/** Ganeti's way of showing a private value. */
export const REDACTED = '<redacted>';

/** Private parameters as they are shown: their names, each with <redacted> for its value. */
export function redacted(params: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.keys(params).map((key) => [key, REDACTED]));
}

/** Ganeti refuses a parameter that is both public and private. */
export function requireApart(
  params: Readonly<Record<string, string>>,
  privateParams: Readonly<Record<string, string>>,
): void {
  const both = Object.keys(params).filter((key) => key in privateParams);
  if (both.length > 0)
    throw new CorralError(
      'bad_request',
      `The following parameters are both public and private: ${both.join(', ')}; give each once`,
    );
}
