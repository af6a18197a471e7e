import yargs, { type Argv, type CommandModule } from 'yargs';
import { asCorralError } from '../common/errors.js';
import { commands, htoolsCommands } from './commands.js';

/**
 * The `corral` command line as yargs parses it, apart from run.ts so that tests can run Ganeti's command
 * lines through the very parser a user's go through (with a fake daemon behind it).
 */

/**
 * Ganeti's command lines as yargs reads them. optparse gives an option taking a value the next word
 * whatever it looks like; yargs reads a word such as `-5G` as flags (-5, -G) unless it is a plain number.
 * So `-s -5G` becomes `-s=-5G`, and the size check, not the parser, refuses it. Words after `--` are left.
 */
export function ganetiArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const previous = out[out.length - 1];
    if (
      previous !== undefined &&
      /^-\d[\d.]*[a-zA-Z]+$/.test(word) &&
      /^(-[a-zA-Z]|--[a-zA-Z][\w-]*)$/.test(previous)
    )
      out[out.length - 1] = `${previous}=${word}`;
    else out.push(word);
  }
  return out;
}

export interface CliParser {
  readonly parser: Argv;
  /** How many times -d/--debug was given (0 until the command line has been parsed). */
  debugLevel(): number;
}

/**
 * The parser of `corral <argv>`. Only the command named is loaded; the others are listed, so that help and
 * suggestions still know them. `usageError` is called for a command line yargs refuses.
 */
export async function cliParser(
  argv: readonly string[],
  usageError: (message: string) => never,
): Promise<CliParser> {
  let debug = 0;
  const words = ganetiArgv(argv);
  const parser = yargs(words)
    .scriptName('corral')
    .strict()
    .demandCommand(1, 'name a command; see corral --help')
    .recommendCommands()
    .help()
    .version(false)
    .middleware((args) => {
      debug = typeof args.debug === 'number' ? args.debug : 0;
    })
    .fail((message, error) => {
      if (error) throw error;
      usageError(message ?? 'invalid arguments');
    });
  const named = words.find((arg) => !arg.startsWith('-'));
  for (const entry of commands) {
    if (entry.command.split(' ')[0] === named)
      parser.command({ ...(await entry.load()), describe: entry.describe } as CommandModule);
    else parser.command(entry.command, entry.describe);
  }
  for (const entry of htoolsCommands) parser.command(entry.command, entry.describe);
  return { parser, debugLevel: () => debug };
}

/** yargs's refusal of a command line on one line (it spreads some, such as a bad choice, over several). */
export function usageLine(message: string): string {
  return `corral: ${message.trim().replace(/:?\s*\n\s*/g, ': ')}`;
}

/**
 * What a failure prints on stderr: its first line only, as Ganeti's tools do; with -d also its error code
 * and the chain of causes, and with -dd the stacks.
 */
export function errorLines(error: unknown, debugLevel: number): string[] {
  const failure = asCorralError(error);
  const lines = [`corral: ${failure.message.split('\n')[0]}`];
  if (debugLevel < 1) return lines;
  lines.push(`  error code: ${failure.code}`);
  const seen = new Set<unknown>([failure]);
  let cause: unknown = error === failure ? failure.cause : error;
  while (cause !== undefined && !seen.has(cause)) {
    seen.add(cause);
    const text = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    lines.push(`  caused by: ${text.split('\n')[0]}`);
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  const stack = error instanceof Error ? error.stack : failure.stack;
  if (debugLevel >= 2 && stack !== undefined) lines.push(...stack.split('\n').slice(1));
  return lines;
}
