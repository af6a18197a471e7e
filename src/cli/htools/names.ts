/** The htools Corral has, by Ganeti's names, and the `corral` subcommands that run them. */
export const htoolsNames = [
  'hbal',
  'hspace',
  'hroller',
  'hail',
  'hcheck',
  'hinfo',
  'hsqueeze',
  'hscan',
  'harep',
] as const;
export type HtoolsName = (typeof htoolsNames)[number];

export const isHtoolsName = (name: string): name is HtoolsName =>
  (htoolsNames as readonly string[]).includes(name);

export const htoolsSubcommands: Readonly<Record<string, HtoolsName>> = {
  balance: 'hbal',
  capacity: 'hspace',
  roll: 'hroller',
  iallocator: 'hail',
  check: 'hcheck',
  summary: 'hinfo',
  squeeze: 'hsqueeze',
  scan: 'hscan',
  repair: 'harep',
};
