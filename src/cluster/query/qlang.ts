import { CorralError } from '../../common/errors.js';
import { compileRegex, type QueryFilter } from './filter.js';

/**
 * Ganeti's query language, the string form of filters that `list -F` and a lone filter-looking argument take
 * (its qlang), read into the list form RAPI uses:
 *
 *   expr      := and ("or" and)*
 *   and       := not ("and" not)*
 *   not       := "not" not | "(" expr ")" | condition
 *   condition := field ("==" | "=" | "!=" | "<" | "<=" | ">" | ">=") value
 *              | field ("=~" | "!~") regex        regex: [m]/re/[i|s], delimiters / # ^ |
 *              | field ("=*" | "!*") "glob"       a DNS-name glob, e.g. "*.site1"
 *              | value ["not"] "in" field         the field is a list holding the value
 *              | field                            the field is true
 *   value     := number | "string" | 'string' | true | false
 *
 * Field names are letters, digits and _ / . - (be/vcpus, disk.sizes), starting with a letter.
 */

const FILTER_CHARS = /[\s!"'()/<=>\\~]/;
const GLOB_CHARS = /[*?]/;
const REGEX_DELIMITERS = '/#^|';
const REGEX_FLAGS = new Set(['i', 's']);

const binaryOperators = {
  '==': '==',
  '=': '==',
  '!=': '!=',
  '<': '<',
  '<=': '<=',
  '>': '>',
  '>=': '>=',
} as const;
const keywords = new Set(['and', 'or', 'not', 'in']);

type Token =
  | { readonly type: 'word'; readonly text: string; readonly at: number }
  | { readonly type: 'string'; readonly value: string; readonly at: number }
  | { readonly type: 'number'; readonly value: number; readonly text: string; readonly at: number }
  | { readonly type: 'symbol'; readonly text: string; readonly at: number }
  | { readonly type: 'end'; readonly at: number };

const SYMBOLS = ['==', '!=', '<=', '>=', '=~', '!~', '=*', '!*', '<', '>', '=', '(', ')'];

class Parser {
  private pos = 0;
  private lookahead: Token | undefined;

  constructor(private readonly text: string) {}

  private fail(message: string, at: number): never {
    throw new CorralError(
      'bad_request',
      `bad filter ${JSON.stringify(this.text)} at column ${at + 1}: ${message}`,
    );
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  private scan(): Token {
    this.skipSpace();
    const at = this.pos;
    const rest = this.text.slice(at);
    if (rest.length === 0) return { type: 'end', at };
    const quote = rest[0];
    if (quote === '"' || quote === "'") return this.scanString(quote, at);
    const number = /^[+-]?\d+(?:\.\d+)?(?![A-Za-z0-9_/.])/.exec(rest);
    if (number !== null) {
      this.pos += number[0].length;
      return { type: 'number', value: Number(number[0]), text: number[0], at };
    }
    const word = /^[A-Za-z][A-Za-z0-9_/.-]*/.exec(rest);
    if (word !== null) {
      this.pos += word[0].length;
      return { type: 'word', text: word[0], at };
    }
    const symbol = SYMBOLS.find((candidate) => rest.startsWith(candidate));
    if (symbol !== undefined) {
      this.pos += symbol.length;
      return { type: 'symbol', text: symbol, at };
    }
    return this.fail(`unexpected ${JSON.stringify(rest[0])}`, at);
  }

  private scanString(quote: string, at: number): Token {
    let value = '';
    let i = at + 1;
    while (i < this.text.length) {
      const char = this.text[i]!;
      if (char === '\\' && i + 1 < this.text.length) {
        value += this.text[i + 1];
        i += 2;
        continue;
      }
      if (char === quote) {
        this.pos = i + 1;
        return { type: 'string', value, at };
      }
      value += char;
      i++;
    }
    return this.fail(`the string that starts here has no closing ${quote}`, at);
  }

  private peek(): Token {
    this.lookahead ??= this.scan();
    return this.lookahead;
  }

  private next(): Token {
    const token = this.peek();
    this.lookahead = undefined;
    return token;
  }

  private isKeyword(token: Token, keyword: string): boolean {
    return token.type === 'word' && token.text === keyword;
  }

  private describe(token: Token): string {
    switch (token.type) {
      case 'end':
        return 'the end';
      case 'string':
        return JSON.stringify(token.value);
      case 'number':
      case 'word':
      case 'symbol':
        return JSON.stringify(token.text);
    }
  }

  parse(): QueryFilter {
    const filter = this.parseOr();
    const rest = this.peek();
    if (rest.type !== 'end')
      this.fail(`expected "and", "or" or the end, found ${this.describe(rest)}`, rest.at);
    return filter;
  }

  private parseOr(): QueryFilter {
    return this.parseChain('or', '|', () => this.parseAnd());
  }

  private parseAnd(): QueryFilter {
    return this.parseChain('and', '&', () => this.parseNot());
  }

  private parseChain(keyword: string, op: string, operand: () => QueryFilter): QueryFilter {
    const first = operand();
    const all = [first];
    while (this.isKeyword(this.peek(), keyword)) {
      this.next();
      all.push(operand());
    }
    return all.length === 1 ? first : [op, ...all];
  }

  private parseNot(): QueryFilter {
    const token = this.peek();
    if (this.isKeyword(token, 'not')) {
      this.next();
      return ['!', this.parseNot()];
    }
    if (token.type === 'symbol' && token.text === '(') {
      this.next();
      const inner = this.parseOr();
      const close = this.next();
      if (close.type !== 'symbol' || close.text !== ')')
        this.fail(
          `expected ")" to close the "(" at column ${token.at + 1}, found ${this.describe(close)}`,
          close.at,
        );
      return inner;
    }
    return this.parseCondition();
  }

  private parseCondition(): QueryFilter {
    const token = this.peek();
    const isLiteral = token.type === 'string' || token.type === 'number';
    if (
      isLiteral ||
      (token.type === 'word' && (token.text === 'true' || token.text === 'false') && this.valueFollows())
    )
      return this.parseMembership();
    if (token.type !== 'word' || keywords.has(token.text))
      this.fail(
        `expected a condition (a field name, or a value before "in"), found ${this.describe(token)}`,
        token.at,
      );
    this.next();
    const field = token.text;
    const op = this.peek();
    if (op.type !== 'symbol' || op.text === '(' || op.text === ')') return ['?', field];
    this.next();
    if (op.text in binaryOperators)
      return [binaryOperators[op.text as keyof typeof binaryOperators], field, this.parseValue(op.text)];
    if (op.text === '=~' || op.text === '!~') {
      const match = ['=~', field, this.scanRegex(op.text)];
      return op.text === '=~' ? match : ['!', match];
    }
    const glob = this.next();
    if (glob.type !== 'string')
      this.fail(`expected a "quoted glob" after "${op.text}", found ${this.describe(glob)}`, glob.at);
    const match = ['=~', field, globPattern(glob.value)];
    return op.text === '=*' ? match : ['!', match];
  }

  /** Whether `true`/`false` here starts `true in field` (a value) rather than naming a field. */
  private valueFollows(): boolean {
    const saved = { pos: this.pos, lookahead: this.lookahead };
    this.next();
    const after = this.peek();
    const result = this.isKeyword(after, 'in') || this.isKeyword(after, 'not');
    this.pos = saved.pos;
    this.lookahead = saved.lookahead;
    return result;
  }

  private parseMembership(): QueryFilter {
    const value = this.parseValue();
    let negated = false;
    let token = this.next();
    if (this.isKeyword(token, 'not')) {
      negated = true;
      token = this.next();
    }
    if (!this.isKeyword(token, 'in'))
      this.fail(
        `a value starts a condition only as "VALUE in FIELD", found ${this.describe(token)} after it`,
        token.at,
      );
    const field = this.next();
    if (field.type !== 'word' || keywords.has(field.text))
      this.fail(`expected a field name after "in", found ${this.describe(field)}`, field.at);
    const contains = ['=[]', field.text, value];
    return negated ? ['!', contains] : contains;
  }

  private parseValue(after?: string): string | number | boolean {
    const token = this.next();
    if (token.type === 'string' || token.type === 'number') return token.value;
    if (token.type === 'word' && (token.text === 'true' || token.text === 'false'))
      return token.text === 'true';
    const where = after === undefined ? '' : ` after "${after}"`;
    return this.fail(
      `expected a value${where} (a number, a "quoted string", true or false), found ${this.describe(token)}`,
      token.at,
    );
  }

  /** A regex literal: [m]DELIM…DELIM[flags], read straight from the text (its body is not tokens). */
  private scanRegex(op: string): string {
    this.skipSpace();
    const at = this.pos;
    let i = at;
    if (this.text[i] === 'm') i++;
    const delimiter = this.text[i];
    if (delimiter === undefined || !REGEX_DELIMITERS.includes(delimiter))
      this.fail(`expected a regular expression after "${op}", such as /^web/ or m#a/b#i`, at);
    let body = '';
    i++;
    for (;;) {
      const char = this.text[i];
      if (char === undefined) this.fail(`the regular expression has no closing ${delimiter}`, at);
      if (char === '\\' && this.text[i + 1] === delimiter) {
        body += delimiter;
        i += 2;
        continue;
      }
      if (char === '\\' && i + 1 < this.text.length) {
        body += char + this.text[i + 1];
        i += 2;
        continue;
      }
      if (char === delimiter) break;
      body += char;
      i++;
    }
    i++;
    const flags = /^[A-Za-z]*/.exec(this.text.slice(i))![0];
    const unknown = [...flags].filter((flag) => !REGEX_FLAGS.has(flag));
    if (unknown.length > 0)
      this.fail(
        `unknown regular expression flags ${JSON.stringify(unknown.join(''))} (i and s are known)`,
        i,
      );
    this.pos = i + flags.length;
    this.lookahead = undefined;
    const pattern = (flags.length > 0 ? `(?${[...new Set(flags)].sort().join('')})` : '') + body;
    compileRegex(pattern, 'the filter');
    return pattern;
  }
}

/** Reads a filter in Ganeti's query language into its list form; a refusal names the column and what was expected. */
export function parseFilter(text: string): QueryFilter {
  return new Parser(text).parse();
}

/** Whether a list command's argument looks like a filter rather than a name (Ganeti's test). */
export function looksLikeFilter(text: string): boolean {
  return FILTER_CHARS.test(text);
}

/** Whether a name argument is a glob such as `*.site1`. */
export function isGlob(text: string): boolean {
  return GLOB_CHARS.test(text);
}

/** Ganeti's DNS-name glob as a regular expression: `*` and `?` stay within one label; `web*` matches web1.example. */
export function globPattern(glob: string): string {
  const body = glob
    .split(/([*?])/)
    .map((part) =>
      part === '*' ? '[^.]*' : part === '?' ? '[^.]' : part.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'),
    )
    .join('');
  return `^${body}(\\..*)?$`;
}

/**
 * Ganeti's reading of a list command's arguments: with -F (or a lone argument that looks like a filter) the
 * argument is a filter; names with globs become a filter on `nameField`; plain names stay names, which the
 * caller looks up (refusing unknown ones). `numeric` is for job IDs.
 */
export function listArguments(
  args: readonly string[],
  forceFilter: boolean,
  options: { readonly nameField?: string; readonly numeric?: boolean } = {},
): { readonly names: readonly string[] } | { readonly filter: QueryFilter } {
  const nameField = options.nameField ?? 'name';
  if (forceFilter || (args.length === 1 && looksLikeFilter(args[0]!))) {
    if (args.length !== 1)
      throw new CorralError(
        'bad_request',
        `-F takes exactly one argument, the filter (quote it), not ${args.length}`,
      );
    return { filter: parseFilter(args[0]!) };
  }
  if (options.numeric) {
    for (const arg of args)
      if (!/^\d+$/.test(arg)) throw new CorralError('bad_request', `${arg} is not a job ID (a whole number)`);
    return { names: args };
  }
  if (!args.some(isGlob)) return { names: args };
  return {
    filter: [
      '|',
      ...args.map((arg) => (isGlob(arg) ? ['=~', nameField, globPattern(arg)] : ['==', nameField, arg])),
    ],
  };
}
