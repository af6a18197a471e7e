/**
 * Command-line parsing as Haskell's System.Console.GetOpt does it (in Permute order), which is how Ganeti's
 * htools read their options. Scripts written for hbal or hspace rely on what yargs and node:util's parseArgs
 * do not do: options taking an optional value only when attached (`-pname,pcnt`, `--print-nodes=name`,
 * `-C$T/file`), and long options abbreviated to any unambiguous prefix (`--simu`, `--prio low`).
 */

export type ArgKind = 'none' | 'required' | 'optional';

export interface OptionDescriptor {
  readonly short: string;
  readonly long: readonly string[];
  readonly arg: ArgKind;
  /** The value's name in the help, e.g. FILE. */
  readonly argName?: string;
  readonly help: string;
}

/** One option found on the command line, in the order given; value is undefined when none was given. */
export interface ParsedOption<T extends OptionDescriptor> {
  readonly option: T;
  readonly value: string | undefined;
}

export interface GetOptResult<T extends OptionDescriptor> {
  readonly options: readonly ParsedOption<T>[];
  readonly args: readonly string[];
  /** GetOpt's messages for what it could not read, each ending in a newline. */
  readonly errors: readonly string[];
}

export function getOpt<T extends OptionDescriptor>(
  descriptors: readonly T[],
  argv: readonly string[],
): GetOptResult<T> {
  const options: ParsedOption<T>[] = [];
  const args: string[] = [];
  const errors: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] as string;
    if (word === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (word.startsWith('--')) {
      const eq = word.indexOf('=');
      const name = eq < 0 ? word.slice(2) : word.slice(2, eq);
      const attached = eq < 0 ? undefined : word.slice(eq + 1);
      const exact = descriptors.filter((d) => d.long.includes(name));
      const matches =
        exact.length > 0 ? exact : descriptors.filter((d) => d.long.some((l) => l.startsWith(name)));
      const option = matches[0];
      if (option === undefined) {
        errors.push(`unrecognized option \`--${name}'\n`);
      } else if (matches.length > 1) {
        const candidates = matches.map((d) => d.long.map((l) => `--${l}`).join(', ')).join(', ');
        errors.push(`option \`--${name}' is ambiguous; could be one of:\n${candidates}\n`);
      } else if (option.arg === 'none') {
        if (attached === undefined) options.push({ option, value: undefined });
        else errors.push(`option \`--${name}' doesn't allow an argument\n`);
      } else if (option.arg === 'optional' || attached !== undefined) {
        options.push({ option, value: attached });
      } else if (i + 1 < argv.length) {
        options.push({ option, value: argv[++i] });
      } else {
        errors.push(`option \`--${name}' requires an argument ${option.argName ?? ''}\n`);
      }
      continue;
    }
    if (word.startsWith('-') && word.length > 1) {
      for (let k = 1; k < word.length; k++) {
        const letter = word[k] as string;
        const option = descriptors.find((d) => d.short.includes(letter));
        const rest = word.slice(k + 1);
        if (option === undefined) {
          errors.push(`unrecognized option \`-${letter}'\n`);
        } else if (option.arg === 'none') {
          options.push({ option, value: undefined });
          continue;
        } else if (rest !== '') {
          options.push({ option, value: rest });
        } else if (option.arg === 'optional') {
          options.push({ option, value: undefined });
        } else if (i + 1 < argv.length) {
          options.push({ option, value: argv[++i] });
        } else {
          errors.push(`option \`-${letter}' requires an argument ${option.argName ?? ''}\n`);
        }
        break;
      }
      continue;
    }
    args.push(word);
  }
  return { options, args, errors };
}

/** GetOpt's usageInfo: the header, then one line per option with its forms and its help. */
export function usageInfo(header: string, descriptors: readonly OptionDescriptor[]): string {
  const rows = descriptors.map((d) => {
    const value = (optional: boolean, long: boolean): string => {
      if (d.arg === 'none') return '';
      const name = d.argName ?? 'ARG';
      if (long) return optional ? `[=${name}]` : `=${name}`;
      return optional ? `[${name}]` : ` ${name}`;
    };
    const shorts = [...d.short].map((c) => `-${c}${value(d.arg === 'optional', false)}`).join(',');
    const longs = d.long.map((l) => `--${l}${value(d.arg === 'optional', true)}`).join(',');
    return [shorts, longs, d.help] as const;
  });
  const width = (column: 0 | 1): number => Math.max(0, ...rows.map((r) => r[column].length));
  const lines = rows.map(([s, l, help]) => `  ${s.padEnd(width(0))}  ${l.padEnd(width(1))}  ${help}`);
  return `${header}\n${lines.join('\n')}\n`;
}
