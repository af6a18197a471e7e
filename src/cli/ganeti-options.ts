import type { Argv } from 'yargs';
import { hypervisors, isHypervisor } from '../cluster/hypervisors.js';
import { type CompressionTool, compressionTools } from '../cluster/model.js';
import { CorralError } from '../common/errors.js';

/** Ganeti's option syntax: sizes with units, `k=v,k=v` lists, `N:k=v` per-index specs, `hv:k=v` params. */

const UNITS: Readonly<Record<string, number>> = { m: 1, g: 1024, t: 1024 * 1024 };

/** Ganeti's --compress and --transport-compression: one of the tool names it knows. */
export function compressionTool(value: string, option: string): CompressionTool {
  const tool = compressionTools.find((name) => name === value);
  if (tool === undefined)
    throw new CorralError(
      'bad_request',
      `${option}: unknown compression tool ${value}; known: ${compressionTools.join(', ')}`,
    );
  return tool;
}

/** A size in MiB: `512`, `512M`, `10G`, `1.5g`, `1T` (Ganeti's default unit is MiB). */
export function parseSizeMiB(value: string, option: string): number {
  if (/^-\d+(?:\.\d+)?[mMgGtT]?$/.test(value.trim()))
    throw new CorralError('bad_request', `${option}: a size must be positive, not ${value.trim()}`);
  const match = /^(\d+(?:\.\d+)?)([mMgGtT])?$/.exec(value.trim());
  if (match === null)
    throw new CorralError(
      'bad_request',
      `${option}: ${value} is not a size (use 512M, 10G, 1T or a number of MiB)`,
    );
  const unit = UNITS[(match[2] ?? 'm').toLowerCase()]!;
  const mib = Math.ceil(Number(match[1]) * unit);
  if (mib <= 0)
    throw new CorralError('bad_request', `${option}: a size must be positive, not ${value.trim()}`);
  return mib;
}

/** `k=v,k=v` into a record; a key without `=` is an error (Ganeti's boolean shorthand is not accepted). */
export function parseKeyValues(value: string, option: string): Record<string, string> {
  const result: Record<string, string> = {};
  if (value.trim() === '') return result;
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new CorralError('bad_request', `${option}: ${part} is not key=value`);
    const key = part.slice(0, eq).trim();
    if (key in result) throw new CorralError('bad_request', `${option}: ${key} is given twice`);
    result[key] = part.slice(eq + 1);
  }
  return result;
}

/** `N:k=v,...` (Ganeti's --disk and --net): the index and its settings, in index order, with no gaps. */
export function parseIndexed(values: readonly string[], option: string): Record<string, string>[] {
  const byIndex = new Map<number, Record<string, string>>();
  for (const value of values) {
    const match = /^(\d+)(?::(.*))?$/.exec(value);
    if (match === null) throw new CorralError('bad_request', `${option}: ${value} is not N:key=value,...`);
    const index = Number(match[1]);
    if (byIndex.has(index)) throw new CorralError('bad_request', `${option}: index ${index} is given twice`);
    byIndex.set(index, parseKeyValues(match[2] ?? '', option));
  }
  const result: Record<string, string>[] = [];
  for (let i = 0; i < byIndex.size; i++) {
    const item = byIndex.get(i);
    if (item === undefined) throw new CorralError('bad_request', `${option}: index ${i} is missing`);
    result.push(item);
  }
  return result;
}

/** `-H [hv:]k=v,...`: the hypervisor (when named) and its parameters. */
export function parseHvParams(value: string): { hypervisor?: string; params: Record<string, string> } {
  const match = /^([a-z]+):(.*)$/.exec(value);
  if (match !== null && !match[1]!.includes('='))
    return { hypervisor: match[1]!, params: parseKeyValues(match[2] ?? '', '-H') };
  if (/^[a-z]+$/.test(value)) return { hypervisor: value, params: {} };
  return { params: parseKeyValues(value, '-H') };
}

/** -H hv:k=v,… given once per hypervisor or more (cluster init/modify, os modify), each naming its hypervisor. */
export function hvParamsByHypervisor(values: readonly string[]): Record<string, Record<string, string>> {
  const byHv: Record<string, Record<string, string>> = {};
  for (const value of values) {
    const { hypervisor, params } = parseHvParams(value);
    if (hypervisor === undefined || !isHypervisor(hypervisor))
      throw new CorralError(
        'bad_request',
        `-H ${value}: name the hypervisor first (${hypervisors.join(' or ')}:k=v,…)`,
      );
    byHv[hypervisor] = { ...byHv[hypervisor], ...params };
  }
  return byHv;
}

/** Only the keys allowed, each once; says which key is unknown. */
export function onlyKeys(values: Record<string, string>, allowed: readonly string[], option: string): void {
  for (const key of Object.keys(values))
    if (!allowed.includes(key))
      throw new CorralError('bad_request', `${option}: unknown key ${key}; known: ${allowed.join(', ')}`);
}

/** Ganeti's booleans in k=v lists. */
export function parseBool(value: string, option: string): boolean {
  const lower = value.toLowerCase();
  if (['yes', 'true', '1'].includes(lower)) return true;
  if (['no', 'false', '0'].includes(lower)) return false;
  throw new CorralError('bad_request', `${option}: ${value} is not yes or no`);
}

export function parseInteger(value: string, option: string): number {
  if (!/^\d+$/.test(value)) throw new CorralError('bad_request', `${option}: ${value} is not a whole number`);
  return Number(value);
}

/** Ganeti's --to, given once per group: yargs makes repeats an array. */
export function targetGroupsOption(to: string | string[] | undefined): { target_groups?: string[] } {
  if (to === undefined) return {};
  const groups = [to].flat();
  if (groups.some((group) => group === '')) throw new CorralError('bad_request', '--to: name a node group');
  return { target_groups: groups };
}

/** Options of moves into other node groups (group evacuate, instance change-group), as Ganeti names them. */
export function groupMoveOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('to', {
      type: 'string',
      describe: 'a node group to move into (repeat for several; default: every other group)',
    })
    .option('iallocator', {
      alias: 'I',
      type: 'string',
      describe: "plan with this iallocator program (name or path; '.' is the built-in one)",
    })
    .option('early-release', {
      type: 'boolean',
      default: false,
      describe: "a replace-disks drops the old secondary's copy before the new one has synced",
    });
}
