import { RapiError } from './http-error.js';

/**
 * Ganeti's `nics` and `disks` of instance modify in their current shape, [op, index | name | UUID, params];
 * the older shape, [op | index, params], is upgraded as Ganeti's LU does (_UpgradeDiskNicMods): add and
 * remove act at the end, and at most one of them, an index modifies. Anything else passes on for the
 * opcode's schema to refuse with its path.
 */
export function upgradeModifications(kind: 'nics' | 'disks') {
  return (value: unknown): unknown => {
    if (!Array.isArray(value) || !value.every((mod) => Array.isArray(mod) && mod.length === 2)) return value;
    const ends = value.filter(([op]) => op === 'add' || op === 'remove');
    if (ends.length > 1)
      throw new RapiError(
        400,
        `Only one ${kind === 'nics' ? 'NIC' : 'disk'} add or remove operation is supported at a time`,
      );
    return value.map(([op, params]) =>
      op === 'add' || op === 'remove' ? [op, -1, params] : ['modify', op, params],
    );
  };
}
