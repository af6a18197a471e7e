import { CorralError } from '../../common/errors.js';
import { Abnormal, type FieldDefinition, type FieldKind } from './types.js';

/**
 * Ganeti's query filters in their list form (RAPI's `qfilter`, LUXI's): `["&", F, …]`, `["|", F, …]`,
 * `["!", F]`, `["?", field]`, `["==", field, value]` (also `=`), `["!=", …]`, `["<"|">"|"<="|">=", field,
 * value]`, `["=~", field, regex]`, `["=[]", field, value]`. A filter is checked whole before any row is read:
 * a wrong one is refused with a message that names what is wrong, never half applied.
 *
 * Evaluation follows Ganeti's: a field without a value (no data, unavailable, offline) lets its condition pass,
 * so a filter on live fields never hides an item only because its node was silent.
 */

export const filterOperators = [
  '|',
  '&',
  '!',
  '?',
  '==',
  '=',
  '!=',
  '<',
  '>',
  '<=',
  '>=',
  '=~',
  '=[]',
] as const;
export type FilterOperator = (typeof filterOperators)[number];

/** A filter in Ganeti's list form, as it arrives (from JSON, or from parseFilter). */
export type QueryFilter = readonly unknown[];

/** Ganeti's limit on nesting. */
export const MAX_FILTER_DEPTH = 10;

export interface CompiledFilter<Row> {
  test(row: Row): boolean;
  /** The fields the filter reads, so a caller fetches what they need. */
  readonly fields: readonly FieldDefinition<Row>[];
}

const refuse = (message: string) => new CorralError('bad_request', message);
const show = (value: unknown) => JSON.stringify(value) ?? String(value);

/** Python's truth: null, false, 0, '' and empty lists and dicts are false. */
function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (value !== null && typeof value === 'object') return Object.keys(value).length > 0;
  return Boolean(value);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, n) => deepEqual(item, b[n]));
  }
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  const left = Object.keys(a);
  const right = Object.keys(b);
  if (left.length !== right.length) return false;
  return left.every(
    (key) => key in b && deepEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
  );
}

/**
 * A Python regular expression as Ganeti passes them (the CLI's `m/re/i` becomes `(?i)re`), as a JavaScript
 * one: leading inline flags become flags, named groups get JavaScript's spelling.
 */
export function compileRegex(pattern: string, field: string): RegExp {
  let source = pattern;
  const flags = new Set<string>();
  const inline = /^\(\?([A-Za-z]+)\)/.exec(source);
  if (inline !== null) {
    for (const flag of inline[1]!) {
      if (flag === 'i' || flag === 's' || flag === 'm') flags.add(flag);
      else if (flag !== 'u' && flag !== 'a' && flag !== 'L')
        throw refuse(
          `bad regular expression ${show(pattern)} for field ${field}: flag ${flag} is not supported (i, s and m are)`,
        );
    }
    source = source.slice(inline[0].length);
  }
  source = source.replace(/\(\?P</g, '(?<').replace(/\(\?P=(\w+)\)/g, '\\k<$1>');
  try {
    return new RegExp(source, [...flags].join(''));
  } catch (error) {
    throw refuse(
      `bad regular expression ${show(pattern)} for field ${field}: ${(error as Error).message.replace(/^Invalid regular expression: /, '')}`,
    );
  }
}

/** What a comparison value must be for a field of each kind (Ganeti checks this before it runs a query). */
const kindValues: Record<FieldKind, { readonly ok: (value: unknown) => boolean; readonly what: string }> = {
  text: { ok: (v) => typeof v === 'string', what: 'a string' },
  bool: { ok: (v) => typeof v === 'boolean', what: 'true or false' },
  number: { ok: (v) => Number.isInteger(v), what: 'a whole number' },
  unit: { ok: (v) => Number.isInteger(v), what: 'a whole number (MiB)' },
  float: { ok: (v) => typeof v === 'number', what: 'a number' },
  timestamp: { ok: (v) => typeof v === 'number', what: 'a number of seconds since the epoch' },
  other: { ok: () => true, what: 'any value' },
};

/** A split timestamp [seconds, microseconds] as seconds. */
function mergeTime(value: unknown): unknown {
  if (Array.isArray(value) && value.length === 2 && value.every((part) => typeof part === 'number'))
    return (value[0] as number) + (value[1] as number) / 1e6;
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a dict';
  return `${typeof value} ${show(value)}`;
}

/**
 * Checks a list-form filter against a resource's fields and turns it into a test on rows. `resource` names
 * the resource in refusals ("unknown instance field …").
 */
export function compileFilter<Row>(
  fields: ReadonlyMap<string, FieldDefinition<Row>>,
  filter: unknown,
  resource: string,
): CompiledFilter<Row> {
  const used = new Map<string, FieldDefinition<Row>>();

  const lookup = (name: unknown, op: string): FieldDefinition<Row> => {
    if (typeof name !== 'string')
      throw refuse(`the filter operator "${op}" needs a field name (a string), not ${show(name)}`);
    const field = fields.get(name);
    if (field === undefined)
      throw refuse(`unknown ${resource} field "${name}" in the filter; list-fields shows the known ones`);
    used.set(name, field);
    return field;
  };

  /** Reads a field for a condition; undefined when it has no value, which lets the condition pass. */
  const read = (field: FieldDefinition<Row>, row: Row): { value: unknown } | undefined => {
    const value = field.get(row);
    if (value instanceof Abnormal) return undefined;
    return { value: field.splitTimestamp ? mergeTime(value) : (value ?? null) };
  };

  const compile = (node: unknown, depth: number): ((row: Row) => boolean) => {
    if (!Array.isArray(node))
      throw refuse(`a query filter is a list such as ["==", "name", "web1"], not ${show(node)}`);
    if (node.length === 0)
      throw refuse('a query filter cannot be an empty list; leave it out to match everything');
    if (depth >= MAX_FILTER_DEPTH) throw refuse(`the filter nests deeper than ${MAX_FILTER_DEPTH} levels`);
    const [op, ...operands] = node;
    if (typeof op !== 'string' || !(filterOperators as readonly string[]).includes(op))
      throw refuse(`unknown filter operator ${show(op)}; the operators are ${filterOperators.join(' ')}`);
    switch (op as FilterOperator) {
      case '|':
      case '&': {
        const parts = operands.map((operand) => compile(operand, depth + 1));
        return op === '|'
          ? (row) => parts.some((part) => part(row))
          : (row) => parts.every((part) => part(row));
      }
      case '!': {
        if (operands.length !== 1)
          throw refuse(
            `the filter operator "!" takes one filter, as in ["!", ["?", "offline"]], not ${operands.length}`,
          );
        const inner = compile(operands[0], depth + 1);
        return (row) => !inner(row);
      }
      case '?': {
        if (operands.length !== 1)
          throw refuse(
            `the filter operator "?" takes one field name, as in ["?", "offline"], not ${operands.length}`,
          );
        const field = lookup(operands[0], op);
        return (row) => {
          const got = read(field, row);
          return got === undefined || truthy(got.value);
        };
      }
      default:
        return binary(op as FilterOperator, operands);
    }
  };

  const binary = (op: FilterOperator, operands: unknown[]): ((row: Row) => boolean) => {
    if (operands.length !== 2)
      throw refuse(
        `the filter operator "${op}" takes a field name and a value, as in ["${op}", "name", "web1"], not ${operands.length} operands`,
      );
    const [name, value] = operands;
    const field = lookup(name, op);
    const pass = (test: (fieldValue: unknown) => boolean) => (row: Row) => {
      const got = read(field, row);
      return got === undefined || test(got.value);
    };
    if (op === '=~') {
      if (typeof value !== 'string')
        throw refuse(
          `"=~" matches field ${field.name} against a regular expression (a string), not ${show(value)}`,
        );
      const regex = compileRegex(value, field.name);
      return pass((fieldValue) => {
        if (fieldValue === null) return false;
        if (typeof fieldValue !== 'string')
          throw refuse(
            `"=~" matches text, but field ${field.name} holds ${describe(fieldValue)}; use "=[]" to look in a list`,
          );
        return regex.test(fieldValue);
      });
    }
    if (op === '=[]') {
      if (value === null || typeof value === 'object')
        throw refuse(
          `"=[]" looks for one value (a string, number or boolean) in field ${field.name}, not ${show(value)}`,
        );
      return pass((fieldValue) => {
        if (fieldValue === null) return false;
        if (!Array.isArray(fieldValue))
          throw refuse(`"=[]" looks in a list, but field ${field.name} holds ${describe(fieldValue)}`);
        return fieldValue.some((item) => deepEqual(item, value));
      });
    }
    const expected = field.splitTimestamp ? kindValues.timestamp : kindValues[field.kind];
    if (!expected.ok(value) || value === undefined)
      throw refuse(
        `the filter compares ${field.kind} field ${field.name} with ${show(value)}; it takes ${expected.what}`,
      );
    const ordering = op === '<' || op === '>' || op === '<=' || op === '>=';
    if (ordering && typeof value !== 'number' && typeof value !== 'string')
      throw refuse(`"${op}" compares with a number or a string, not ${show(value)}`);
    const wanted = field.splitTimestamp ? mergeTime(value) : value;
    switch (op) {
      case '==':
      case '=':
        return pass((fieldValue) => deepEqual(fieldValue, wanted));
      case '!=':
        return pass((fieldValue) => !deepEqual(fieldValue, wanted));
      default: {
        const order = {
          '<': (c: number) => c < 0,
          '>': (c: number) => c > 0,
          '<=': (c: number) => c <= 0,
          '>=': (c: number) => c >= 0,
        }[op as '<' | '>' | '<=' | '>='];
        return pass((fieldValue) => {
          if (fieldValue === null) return false;
          if (typeof fieldValue === 'number' && typeof wanted === 'number') return order(fieldValue - wanted);
          if (typeof fieldValue === 'string' && typeof wanted === 'string')
            return order(fieldValue < wanted ? -1 : fieldValue > wanted ? 1 : 0);
          throw refuse(
            `"${op}" compares numbers or strings, but field ${field.name} holds ${describe(fieldValue)} and the filter gives ${show(wanted)}`,
          );
        });
      }
    }
  };

  const test = compile(filter, 0);
  return { test, fields: [...used.values()] };
}
