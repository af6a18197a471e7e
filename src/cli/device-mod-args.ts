import { isIP } from 'node:net';
import type { DiskModification, NicModification } from '../cluster/opcodes.js';
import { CorralError } from '../common/errors.js';
import { parseSizeMiB } from './ganeti-options.js';

/**
 * Ganeti's `--net` and `--disk` of instance modify (gnt_instance.py's _ConvertNicDiskModifications):
 * `add[:k=v,…]` and `remove` act at the end, `N:add,k=v,…`, `N:remove` and `N:modify,k=v,…` (or the older
 * `N:k=v,…`) at an index, a name or a UUID.
 */
type Action = 'add' | 'remove' | 'modify';
const actions: readonly string[] = ['add', 'remove', 'modify'];

interface Parsed {
  readonly action: Action;
  readonly identifier: number | string;
  readonly params: Record<string, string>;
}

function parseModification(value: string, option: string): Parsed {
  const colon = value.indexOf(':');
  const ident = colon < 0 ? value : value.slice(0, colon);
  const rest = colon < 0 ? '' : value.slice(colon + 1);
  if (ident === '') throw new CorralError('bad_request', `${option} ${value}: give add, remove or N:…`);
  if (ident === 'attach' || ident === 'detach')
    throw new CorralError('bad_request', `${option} ${value}: Corral has no ${ident}; use add or remove`);
  const params: Record<string, string> = {};
  const flags: Action[] = [];
  for (const part of rest === '' ? [] : rest.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (!actions.includes(part))
        throw new CorralError(
          'bad_request',
          `${option} ${value}: ${part} is not key=value, add, remove or modify`,
        );
      flags.push(part as Action);
      continue;
    }
    const key = part.slice(0, eq).trim();
    if (key === '' || key in params)
      throw new CorralError('bad_request', `${option} ${value}: ${key || part} is given twice or has no key`);
    params[key] = part.slice(eq + 1);
  }
  const legacy = ident === 'add' || ident === 'remove';
  if (legacy && flags.length > 0)
    throw new CorralError(
      'bad_request',
      `${option} ${value}: ${ident} takes no index; use N:${flags[0]} instead`,
    );
  if (flags.length > 1)
    throw new CorralError(
      'bad_request',
      `${option} ${value}: Cannot do more than one of the following operations at the same time: add, remove, modify`,
    );
  const action: Action = legacy ? (ident as Action) : (flags[0] ?? 'modify');
  if (action === 'remove' && Object.keys(params).length > 0)
    throw new CorralError('bad_request', `${option} ${value}: Not accepting parameters on removal`);
  const identifier = legacy ? -1 : /^-?\d+$/.test(ident) ? Number(ident) : ident;
  return { action, identifier, params };
}

function onlyKeys(params: Record<string, string>, allowed: readonly string[], option: string, value: string) {
  for (const key of Object.keys(params))
    if (!allowed.includes(key))
      throw new CorralError(
        'bad_request',
        `${option} ${value}: unknown setting ${key} (known: ${allowed.join(', ')})`,
      );
}

const NIC_KEYS = ['mac', 'ip', 'mode', 'link', 'name'] as const;
const NIC_MODES = ['bridged', 'routed', 'openvswitch', 'none'] as const;

function nicParams(params: Record<string, string>, value: string): NicModification[2] {
  onlyKeys(params, NIC_KEYS, '--net', value);
  const { mac, ip, mode, link, name } = params;
  if (mac !== undefined && !/^(auto|generate|([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2})$/.test(mac))
    throw new CorralError(
      'bad_request',
      `--net ${value}: ${mac} is not a MAC address (six hex pairs, auto or generate)`,
    );
  if (mode !== undefined && !(NIC_MODES as readonly string[]).includes(mode))
    throw new CorralError(
      'bad_request',
      `--net ${value}: mode is bridged, routed, openvswitch or none, not ${mode}`,
    );
  if (ip !== undefined && ip !== 'none' && isIP(ip) === 0)
    throw new CorralError('bad_request', `--net ${value}: ${ip} is not an IP address (or none)`);
  if (link === '') throw new CorralError('bad_request', `--net ${value}: link= needs a name`);
  return {
    ...(mac !== undefined && { mac }),
    ...(ip !== undefined && { ip }),
    ...(mode !== undefined && { mode: mode as (typeof NIC_MODES)[number] }),
    ...(link !== undefined && { link }),
    ...(name !== undefined && { name }),
  };
}

export function nicModifications(values: readonly string[]): NicModification[] {
  return values.map((value) => {
    const { action, identifier, params } = parseModification(value, '--net');
    if (action === 'remove') return ['remove', identifier, {}];
    return [action, identifier, nicParams(params, value)];
  });
}

function diskMode(mode: string | undefined, value: string): 'rw' | 'ro' | undefined {
  if (mode !== undefined && mode !== 'rw' && mode !== 'ro')
    throw new CorralError('bad_request', `--disk ${value}: mode is rw or ro, not ${mode}`);
  return mode;
}

export function diskModifications(values: readonly string[]): DiskModification[] {
  return values.map((value): DiskModification => {
    const { action, identifier, params } = parseModification(value, '--disk');
    if (action === 'remove') return ['remove', identifier, {}];
    const mode = diskMode(params.mode, value);
    if (action === 'modify') {
      if (params.size !== undefined)
        throw new CorralError('bad_request', `--disk ${value}: Disk size change not possible, use grow-disk`);
      onlyKeys(params, ['mode', 'name'], '--disk', value);
      if (mode === undefined && params.name === undefined)
        throw new CorralError('bad_request', `--disk ${value}: give mode= or name= to change`);
      return [
        'modify',
        identifier,
        { ...(mode !== undefined && { mode }), ...(params.name !== undefined && { name: params.name }) },
      ];
    }
    onlyKeys(params, ['size', 'mode', 'name', 'format'], '--disk', value);
    if (params.size === undefined)
      throw new CorralError('bad_request', `--disk ${value}: an added disk needs size=`);
    const { format } = params;
    if (format !== undefined && format !== 'raw' && format !== 'qcow2')
      throw new CorralError('bad_request', `--disk ${value}: format is raw or qcow2, not ${format}`);
    return [
      'add',
      identifier,
      {
        size: parseSizeMiB(params.size, '--disk size'),
        ...(mode !== undefined && { mode }),
        ...(params.name !== undefined && { name: params.name }),
        ...(format !== undefined && { format }),
      },
    ];
  });
}
