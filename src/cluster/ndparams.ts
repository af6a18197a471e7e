import { z } from 'zod';
import { CorralError } from '../common/errors.js';

/**
 * Ganeti's node parameters (ndparams): set on the cluster, a node group or a node, each level filling in
 * what the one below does not set (objects.py FillND: defaults, cluster, group, node). Keys keep Ganeti's
 * names, as query fields, RAPI and the command lines show them.
 */

export interface NdParams {
  readonly cpu_speed: number;
  readonly exclusive_storage: boolean;
  /** The out-of-band program the master runs for node power and health; '' for none. */
  readonly oob_program: string;
  readonly ovs: boolean;
  readonly ovs_link: string | null;
  readonly ovs_name: string | null;
  readonly spindle_count: number;
  readonly ssh_port: number;
}

export type NdParamsOverrides = Partial<NdParams>;

/** Ganeti's NDC_DEFAULTS. */
export const ND_DEFAULTS: NdParams = {
  cpu_speed: 1,
  exclusive_storage: false,
  oob_program: '',
  ovs: false,
  ovs_link: '',
  ovs_name: 'switch1',
  spindle_count: 1,
  ssh_port: 22,
};

/** Ganeti's NDS_PARAMETER_TYPES. */
export const ND_TYPES = {
  cpu_speed: 'float',
  exclusive_storage: 'bool',
  oob_program: 'string',
  ovs: 'bool',
  ovs_link: 'maybe-string',
  ovs_name: 'maybe-string',
  spindle_count: 'int',
  ssh_port: 'int',
} as const satisfies Record<keyof NdParams, string>;

export const ND_KEYS = Object.keys(ND_TYPES).sort() as (keyof NdParams)[];

/** Ganeti's NDC_GLOBALS: set on the cluster or a group only, never on one node. */
export const ND_GLOBALS: readonly (keyof NdParams)[] = ['exclusive_storage'];

/** Ganeti's VALUE_DEFAULT: in a group's or node's change, takes the key back to what it inherits. */
export const ND_VALUE_DEFAULT = 'default';

/** The stored form, already typed: what mutations carry and records keep. */
export const ndParamsSchema = z
  .object({
    cpu_speed: z.number().finite(),
    exclusive_storage: z.boolean(),
    oob_program: z.string().max(4096),
    ovs: z.boolean(),
    ovs_link: z.string().max(256).nullable(),
    ovs_name: z.string().max(256).nullable(),
    spindle_count: z.number().int(),
    ssh_port: z.number().int(),
  })
  .partial()
  .strict();

/** What an opcode carries: values as typed or as the command line's text, checked by forceNdParams. */
export const ndParamsInputSchema = z.record(
  z.string().max(64),
  z.union([z.string().max(4096), z.number(), z.boolean(), z.null()]),
);
export type NdParamsInput = z.infer<typeof ndParamsInputSchema>;

/** Ganeti's FillND: defaults, then the cluster's, the group's and the node's own values. */
export function filledNdParams(
  cluster: { readonly ndParams?: NdParamsOverrides | undefined },
  group?: { readonly ndParams?: NdParamsOverrides | undefined },
  node?: { readonly ndParams?: NdParamsOverrides | undefined },
): NdParams {
  return { ...ND_DEFAULTS, ...cluster.ndParams, ...group?.ndParams, ...node?.ndParams };
}

type Raw = NdParamsInput[string];

/**
 * Ganeti's ForceDictType over NDS_PARAMETER_TYPES: unknown keys are refused, text is converted to the key's
 * type as Ganeti converts it. `where` names the user's option in refusals (e.g. `--node-parameters`).
 */
export function forceNdParams(input: NdParamsInput, where: string): NdParamsOverrides {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    if (!(key in ND_TYPES))
      throw new CorralError(
        'bad_request',
        `${where}: unknown node parameter '${key}'; known: ${ND_KEYS.join(', ')}`,
      );
    out[key] = forceValue(key, ND_TYPES[key as keyof NdParams], value, where);
  }
  return ndParamsSchema.parse(out);
}

function forceValue(
  key: string,
  type: (typeof ND_TYPES)[keyof NdParams],
  value: Raw,
  where: string,
): unknown {
  const bad = (what: string) =>
    new CorralError('bad_request', `${where}: '${key}' (value ${String(value)}) is not a valid ${what}`);
  switch (type) {
    case 'string':
    case 'maybe-string':
      if (value === null && type === 'maybe-string') return null;
      if (typeof value === 'string') return value;
      if (value === false) return '';
      throw bad('string');
    case 'bool':
      if (typeof value === 'string' && value !== '') {
        if (value.toLowerCase() === 'false') return false;
        if (value.toLowerCase() === 'true') return true;
        throw bad('boolean');
      }
      return Boolean(value);
    case 'int': {
      const number = typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value) ? Number(value) : value;
      if (typeof number === 'number' && Number.isFinite(number)) return Math.trunc(number);
      if (typeof number === 'boolean') return number ? 1 : 0;
      throw bad('integer');
    }
    case 'float': {
      const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof number === 'number' && !Number.isNaN(number)) return number;
      if (typeof number === 'boolean') return number ? 1 : 0;
      throw bad('float');
    }
  }
}

/**
 * A group's or node's own parameters after a change (Ganeti's GetUpdatedParams): `default` removes the
 * key, so that it is inherited again; the result is checked as Ganeti checks it.
 */
export function updatedNdParams(
  own: NdParamsOverrides | undefined,
  change: NdParamsInput,
  where: string,
): NdParamsOverrides {
  const next: NdParamsInput = { ...(own ?? {}) };
  for (const [key, value] of Object.entries(change)) {
    if (value === ND_VALUE_DEFAULT) delete next[key];
    else next[key] = value;
  }
  return forceNdParams(next, where);
}

/** The cluster's parameters after a change (Ganeti's SimpleFillND): the change over the cluster's own values. */
export function clusterNdParams(
  own: NdParamsOverrides | undefined,
  change: NdParamsInput,
  where: string,
): NdParamsOverrides {
  return { ...own, ...forceNdParams(change, where) };
}

/** Ganeti's CheckParamsNotGlobal for a node's own parameters. */
export function checkNodeNdParams(change: NdParamsInput, where: string): void {
  const globals = ND_GLOBALS.filter((key) => key in change);
  if (globals.length > 0)
    throw new CorralError(
      'bad_request',
      `${where}: the node parameters ${globals.join(', ')} are global and cannot be customized at node level; set them on the cluster or the node group`,
    );
}
