import type { Argv, CommandModule } from 'yargs';
import {
  type FieldDescription,
  fieldDefinitions,
  findField,
  type QueryResource,
  type QueryResult,
  resultStatus,
} from '../cluster/query/index.js';
import { CorralError } from '../common/errors.js';
import { type ConnectionArgs, connectionOptions } from './cluster-client.js';
import { localTime } from './local-time.js';
import { renderTable } from './table.js';

/**
 * How Ganeti's list commands print a query's answer: the fields' titles over aligned columns, values by
 * their kind (Y/N, local times, lists joined by commas), and the marks for missing values. The fields
 * themselves are the query engine's (src/cluster/query); this file only prints.
 */

export interface ListArgs {
  output?: string;
  /** False with --no-headers (yargs reads --no-X as X = false). */
  headers: boolean;
  separator?: string;
  json: boolean;
  /** Ganeti's -F: the argument is a filter in the query language. */
  filter: boolean;
  /** Ganeti's --units: how sizes print (h: with a suffix, scaled; m, g, t: that unit, no suffix). */
  units?: SizeUnit;
  /** Ganeti's -v: the marks of missing values as words, (nodata) for ?. */
  verbose: boolean;
}

export const sizeUnits = ['h', 'm', 'g', 't'] as const;
export type SizeUnit = (typeof sizeUnits)[number];

export function listOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('output', {
      alias: 'o',
      type: 'string',
      describe: 'fields to show (f1,f2 or +f1 to add to the default)',
    })
    .option('headers', {
      type: 'boolean',
      default: true,
      describe: '--no-headers: leave out the header line',
    })
    .option('separator', { type: 'string', describe: 'join fields with this instead of aligning them' })
    .option('json', { type: 'boolean', default: false, describe: 'print a JSON list of objects' })
    .option('filter', {
      alias: 'F',
      type: 'boolean',
      default: false,
      describe: 'the argument is a filter, e.g. \'pnode == "node1" and admin_state == "up"\'',
    })
    .option('units', {
      choices: sizeUnits,
      describe: 'sizes in h (1.5G, 512M), m, g or t; default h, or m with --separator',
    })
    .option('verbose', {
      alias: 'v',
      type: 'boolean',
      default: false,
      describe: 'missing values as words: (offline), (nodata), (unavail), (unknown)',
    });
}

/** Ganeti's list-fields options: --no-headers and --separator. */
export function listFieldsOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('headers', {
      type: 'boolean',
      default: true,
      describe: '--no-headers: leave out the header line',
    })
    .option('separator', { type: 'string', describe: 'join fields with this instead of aligning them' });
}

/** Ganeti's list-fields for one kind of object: name, kind, title and description of its fields. */
export function listFieldsCommand(
  resource: QueryResource,
  what: string,
): CommandModule<object, ConnectionArgs & { fields: string[]; headers: boolean; separator?: string }> {
  return {
    command: 'list-fields [fields..]',
    describe: `the fields ${what} list knows`,
    builder: (yargs) =>
      listFieldsOptions(connectionOptions(yargs)).positional('fields', {
        type: 'string',
        array: true,
        default: [],
      }),
    handler: (args) => printFields(fieldDefinitions(resource, args.fields), args),
  };
}

/** Ganeti's -o: exactly these fields, or `+f` to add fields to the default list; unknown names are refused. */
export function chosenFields(
  resource: QueryResource,
  defaults: readonly string[],
  output: string | undefined,
): string[] {
  const names =
    output === undefined
      ? [...defaults]
      : output.startsWith('+')
        ? [...defaults, ...output.slice(1).split(',')]
        : output.split(',');
  for (const name of names)
    if (findField(resource, name) === undefined)
      throw new CorralError(
        'bad_request',
        `unknown ${resource} field ${name}; corral ${resource} list-fields shows the known ones`,
      );
  return names;
}

/** A field's value as the list shows it, when a field's kind alone does not say how (job timestamps...). */
export type ValueFormat = (value: unknown) => string;

/** Ganeti's marks for a missing value: unknown field, no data, unavailable, node offline. */
const marks: Record<number, string> = {
  [resultStatus.unknown]: '??',
  [resultStatus.noData]: '?',
  [resultStatus.unavailable]: '-',
  [resultStatus.offline]: '*',
};

/** The same marks as -v prints them. */
const verboseMarks: Record<number, string> = {
  [resultStatus.unknown]: '(unknown)',
  [resultStatus.noData]: '(nodata)',
  [resultStatus.unavailable]: '(unavail)',
  [resultStatus.offline]: '(offline)',
};

/**
 * Ganeti's FormatUnit: a size in MiB in the unit asked for. `h` picks the unit and adds its letter (`512M`,
 * `1.5G`, `2.0T`); `m`, `g` and `t` print the number alone (MiB whole, GiB and TiB to one decimal).
 */
export function formatSize(mib: number, unit: SizeUnit): string {
  if (unit === 'm' || (unit === 'h' && mib < 1024)) return `${mib.toFixed(0)}${unit === 'h' ? 'M' : ''}`;
  if (unit === 'g' || (unit === 'h' && mib < 1024 * 1024))
    return `${(mib / 1024).toFixed(1)}${unit === 'h' ? 'G' : ''}`;
  return `${(mib / 1024 / 1024).toFixed(1)}${unit === 'h' ? 'T' : ''}`;
}

function item(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function format(kind: FieldDescription['kind'], value: unknown, unit: SizeUnit): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'boolean') return value ? 'Y' : 'N';
  if (kind === 'unit' && typeof value === 'number') return formatSize(value, unit);
  if (kind === 'timestamp' && typeof value === 'number') return localTime(value * 1000);
  if (Array.isArray(value)) return value.map(item).join(',');
  return item(value);
}

/** A Ganeti [seconds, microseconds] timestamp as local time. */
export function splitTime(value: unknown): string {
  if (!Array.isArray(value)) return '-';
  const [sec, usec] = value as [number, number];
  return localTime(sec * 1000 + usec / 1000);
}

/**
 * Prints a query's answer as Ganeti's list commands do (or as JSON objects, with null for missing values).
 * Sizes print in --units, by default h (`1.5G`) in aligned columns and m (MiB, no suffix) with a separator.
 */
export function printQuery(
  result: QueryResult,
  args: Pick<ListArgs, 'headers' | 'separator' | 'json'> & Partial<Pick<ListArgs, 'units' | 'verbose'>>,
  formats: Readonly<Record<string, ValueFormat>> = {},
): void {
  const unit = args.units ?? (args.separator !== undefined ? 'm' : 'h');
  const missing = args.verbose === true ? verboseMarks : marks;
  if (args.json) {
    const rows = result.data.map((row) =>
      Object.fromEntries(result.fields.map((field, n) => [field.name, row[n]?.[1] ?? null])),
    );
    process.stdout.write(`${JSON.stringify(rows)}\n`);
    return;
  }
  const table = renderTable(
    result.fields.map((field) => field.title),
    result.data.map((row) =>
      result.fields.map((field, n) => {
        const [status, value] = row[n] ?? [resultStatus.unknown, null];
        if (status !== resultStatus.normal) return missing[status] ?? '?';
        const custom = formats[field.name];
        return custom === undefined ? format(field.kind, value, unit) : custom(value);
      }),
    ),
    { noHeaders: !args.headers, separator: args.separator },
  );
  if (table.length > 0) process.stdout.write(`${table}\n`);
}

/** Ganeti's list-fields: name, kind, title and description of each field. */
export function printFields(
  fields: readonly FieldDescription[],
  args: { headers?: boolean; separator?: string | undefined } = {},
): void {
  const table = renderTable(
    ['Name', 'Type', 'Title', 'Description'],
    fields.map((field) => [field.name, field.kind, field.title, field.doc]),
    { noHeaders: args.headers === false, separator: args.separator },
  );
  if (table.length > 0) process.stdout.write(`${table}\n`);
}

/** Restricts to the named items, refusing names that do not exist (Ganeti's rule). */
export function pickNamed<T extends { name: string }>(
  items: readonly T[],
  names: readonly string[],
  what: string,
): T[] {
  if (names.length === 0) return [...items];
  return names.map((name) => {
    const item = items.find((candidate) => candidate.name === name);
    if (item === undefined) throw new CorralError('not_found', `${what} ${name} does not exist`);
    return item;
  });
}
