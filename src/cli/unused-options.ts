import type { Argv } from 'yargs';
import { CorralError } from '../common/errors.js';

/**
 * Ganeti options Corral takes on its command lines without a use for them, each with the reason: the
 * values that ask for what Corral does anyway are noted as changing nothing, any other is refused in one
 * line that says why. Each command family keeps its own table (cluster-params.ts, instance-options.ts).
 */

/** A Ganeti option Corral accepts without a use for it, and which of its values it takes. */
export interface UnusedOption {
  /** For a Ganeti option `--no-X`, Corral's boolean X (default true), which yargs negates. */
  readonly name: string;
  /** Its short form, if Ganeti has one. */
  readonly alias?: string;
  readonly takesValue: boolean;
  readonly negated?: boolean;
  /** Why it changes nothing in Corral: its help text, and the note printed when it is given. */
  readonly reason: string;
  /** The values that ask for what Corral does anyway; any other is refused with `refusal`. Absent: any. */
  readonly accepts?: readonly string[];
  readonly refusal?: string;
}

/** Adds the options to a command, each described by its reason. */
export function addUnusedOptions<T>(yargs: Argv<T>, options: readonly UnusedOption[]): Argv<T> {
  let out = yargs;
  for (const option of options)
    out = out.option(option.name, {
      ...(option.alias !== undefined && { alias: option.alias }),
      type: option.takesValue ? 'string' : 'boolean',
      ...(option.negated === true && { default: true }),
      describe:
        option.accepts?.length === 0
          ? `refused: ${option.reason}`
          : `${option.negated === true ? `--no-${option.name}: ` : ''}accepted for Ganeti's command lines: ${option.reason}`,
    });
  return out;
}

/**
 * Checks the options given: a value that would ask for more than Corral does is refused; the others are
 * noted (on stderr), so that no one takes them for done.
 */
export function checkUnusedOptions(
  args: Readonly<Record<string, unknown>>,
  options: readonly UnusedOption[],
  note: (line: string) => void,
): void {
  for (const option of options) {
    const value = args[option.name];
    if (value === undefined || value === (option.negated === true)) continue;
    const given = option.negated === true ? `no-${option.name}` : option.name;
    if (option.accepts !== undefined && !option.accepts.includes(String(value)))
      throw new CorralError(
        'bad_request',
        `--${given}${option.takesValue ? ` ${String(value)}` : ''}: ${option.refusal}`,
      );
    note(`note: --${given} changes nothing: ${option.reason}`);
  }
}

/** Where a command's notes go: stderr, apart from its output. */
export function noteOnStderr(line: string): void {
  process.stderr.write(`${line}\n`);
}
