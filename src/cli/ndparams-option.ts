import type { Argv } from 'yargs';
import {
  forceNdParams,
  ND_KEYS,
  ND_TYPES,
  ND_VALUE_DEFAULT,
  type NdParams,
  type NdParamsInput,
} from '../cluster/ndparams.js';
import { CorralError } from '../common/errors.js';

/** Ganeti's --node-parameters of cluster init and modify, group add and modify, node modify. */

const OPTION = '--node-parameters';

export function ndParamsOption<T>(yargs: Argv<T>, inherits: string | undefined) {
  return yargs.option('node-parameters', {
    type: 'string',
    describe: `k=v,… node parameters (${ND_KEYS.join(', ')})${inherits === undefined ? '' : `; k=default inherits the ${inherits}'s`}`,
  });
}

/**
 * `k=v,…` as Ganeti's keyval option reads it (`no_k` is false, `-k` is None), each value checked against
 * the parameter's type, so that a mistake is refused before a job is submitted. `default` (for a group or
 * node) is kept as it is: the master takes the key back to the inherited value.
 */
export function parseNdParams(value: string, allowDefault: boolean): NdParamsInput {
  const out: NdParamsInput = {};
  if (value.trim() === '') return out;
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    const [key, raw]: [string, string | boolean | null] =
      eq > 0
        ? [part.slice(0, eq).trim(), part.slice(eq + 1)]
        : part.startsWith('no_')
          ? [part.slice(3), false]
          : part.startsWith('-')
            ? [part.slice(1), null]
            : [part, true];
    if (key in out) throw new CorralError('bad_request', `${OPTION}: ${key} is given twice`);
    if (allowDefault && raw === ND_VALUE_DEFAULT) out[key] = raw;
    else out[key] = forceNdParams({ [key]: raw }, OPTION)[key as keyof NdParams] ?? null;
  }
  return out;
}

/** A node parameter's value as Ganeti prints it (Python's str): True, None, 1.0. */
export function ndValueText(key: keyof NdParams, value: unknown): string {
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (value === null) return 'None';
  if (ND_TYPES[key] === 'float' && Number.isInteger(value)) return `${String(value)}.0`;
  return String(value);
}
