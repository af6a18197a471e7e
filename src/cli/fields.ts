import type { Argv } from 'yargs';
import { CorralError } from '../common/errors.js';
import { renderTable } from './table.js';

/** One column of a Ganeti `list` command: its field name, its header title and how to get it. */
export interface Field<T> {
  readonly name: string;
  readonly title: string;
  /** undefined means "no data" (Ganeti prints `?`). */
  get(item: T): string | number | boolean | readonly string[] | undefined;
}

export interface ListArgs {
  output?: string;
  /** False with --no-headers (yargs reads --no-X as X = false). */
  headers: boolean;
  separator?: string;
  json: boolean;
}

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
    .option('json', { type: 'boolean', default: false, describe: 'print a JSON list of objects' });
}

/** Ganeti's -o: exactly these fields, or `+f` to add fields to the default list. */
export function selectFields<T>(
  all: readonly Field<T>[],
  defaults: readonly string[],
  output: string | undefined,
): Field<T>[] {
  const names =
    output === undefined
      ? [...defaults]
      : output.startsWith('+')
        ? [...defaults, ...output.slice(1).split(',')]
        : output.split(',');
  return names.map((name) => {
    const field = all.find((candidate) => candidate.name === name);
    if (field === undefined)
      throw new CorralError(
        'bad_request',
        `unknown field ${name}; known: ${all.map((f) => f.name).join(', ')}`,
      );
    return field;
  });
}

function show(value: ReturnType<Field<unknown>['get']>): string {
  if (value === undefined) return '?';
  if (typeof value === 'boolean') return value ? 'Y' : 'N';
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}

export function printList<T>(fields: readonly Field<T>[], items: readonly T[], args: ListArgs): void {
  if (args.json) {
    const rows = items.map((item) =>
      Object.fromEntries(fields.map((field) => [field.name, field.get(item) ?? null])),
    );
    process.stdout.write(`${JSON.stringify(rows)}\n`);
    return;
  }
  const table = renderTable(
    fields.map((field) => field.title),
    items.map((item) => fields.map((field) => show(field.get(item)))),
    { noHeaders: !args.headers, separator: args.separator },
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

export function localTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
