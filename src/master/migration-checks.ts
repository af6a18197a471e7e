import { CorralError } from '../common/errors.js';

/**
 * The checks Ganeti makes before a live migration (TLMigrateInstance._ExecMigration), as pure functions:
 * the hypervisor versions of both ends, and whether the guest's memory fits on the target.
 */

/**
 * Corral's hypervisor side is its node agent, so a node's hypervisor version is the Corral version it
 * gossips. Like Ganeti's base rule, only equal versions are safe; a mismatch is refused unless ignored.
 * Returns the lines to log; a version not heard of yet is not compared.
 */
export function hvVersionCheck(
  source: { readonly name: string; readonly version: string | undefined },
  target: { readonly name: string; readonly version: string | undefined },
  ignore: boolean,
): string[] {
  if (source.version === undefined || target.version === undefined || source.version === target.version)
    return [];
  const warning = `warning: hypervisor version mismatch between source ${source.name} (corral ${source.version}) and target ${target.name} (corral ${target.version})`;
  if (!ignore)
    throw new CorralError(
      'conflict',
      `migration between corral ${source.version} on ${source.name} and ${target.version} on ${target.name} is likely unsupported: upgrade one of them, or add --ignore-hvversions`,
    );
  return [warning, 'continuing anyway (told to ignore the version mismatch)'];
}

/**
 * The memory the guest must be ballooned down to before it moves, or undefined when it fits: Ganeti lowers
 * it to what the target has free (never below minmem, which the target must have), unless runtime changes
 * are forbidden (--no-runtime-changes).
 */
export function balloonBeforeMigration(
  instance: string,
  target: string,
  currentMiB: number,
  targetFreeMiB: number,
  allowRuntimeChanges: boolean,
): number | undefined {
  if (currentMiB <= targetFreeMiB) return undefined;
  if (!allowRuntimeChanges)
    throw new CorralError(
      'conflict',
      `Memory ballooning not allowed and not enough free memory to fit instance ${instance} on target node ${target} (have ${targetFreeMiB}MB, need ${currentMiB}MB): free memory there, or allow runtime changes`,
    );
  return targetFreeMiB;
}
