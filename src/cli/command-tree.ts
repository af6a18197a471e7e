import yargs, { type Argv, type CommandModule } from 'yargs';
import { commands } from './commands.js';

/** One option a command accepts, as yargs holds it after the command's builder ran. */
export interface CommandOption {
  /** The key (`dry-run`); `--dry-run`, or `-d` for a one-letter key. */
  readonly name: string;
  /** Its other names (`o` for `output`): one letter means `-o`, more means `--name`. */
  readonly aliases: readonly string[];
  /** A boolean or count flag takes none; yargs's boolean negation also accepts `--no-<name>` for a boolean. */
  readonly takesValue: boolean;
  readonly type: 'boolean' | 'count' | 'string' | 'number' | 'array' | 'any';
  readonly choices?: readonly string[];
  readonly describe?: string;
}

/** A command: its name, its aliases, the options it accepts (inherited ones included) and its subcommands. */
export interface CommandNode {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly positionals: readonly string[];
  readonly options: readonly CommandOption[];
  readonly subcommands: readonly CommandNode[];
}

/** What yargs keeps about the commands and options registered on an instance (not in its typings). */
interface Handler {
  readonly builder: ((yargs: Argv) => unknown) | Record<string, object>;
  readonly demanded: readonly { cmd: readonly string[] }[];
  readonly optional: readonly { cmd: readonly string[] }[];
}
interface Inspectable {
  getOptions(): {
    key: Record<string, unknown>;
    alias: Record<string, string[]>;
    boolean: string[];
    count: string[];
    string: string[];
    number: string[];
    array: string[];
    choices: Record<string, unknown[]>;
  };
  getGroups(): Record<string, string[]>;
  getInternalMethods(): {
    reset(aliases?: Record<string, string[]>): Argv;
    getCommandInstance(): { getCommandHandlers(): Record<string, Handler>; aliasMap: Record<string, string> };
    getUsageInstance(): { getPositionalGroupName(): string; getDescriptions(): Record<string, unknown> };
  };
}
const inspect = (argv: Argv): Inspectable => argv as unknown as Inspectable;

/**
 * Corral's command tree (`corral <command> [<subcommand>...]`), read from yargs itself: for each command,
 * yargs is led down to it as a parse would (a reset, then the command's builder, at each level) and asked
 * which subcommands and options it then knows. Nothing is parsed and no handler runs. yargs's own `--help` is
 * left out. `only` limits it to these top-level commands (e.g. the Ganeti families), which are all that get
 * loaded.
 */
export async function commandTree(only?: readonly string[]): Promise<CommandNode[]> {
  const chosen = commands.filter(
    (entry) => only === undefined || only.includes(entry.command.split(' ')[0]!),
  );
  const modules = await Promise.all(chosen.map((entry) => entry.load()));

  /** A parser as run.ts builds it, led down the path; returns it with the positionals named on the way. */
  const reach = (root: CommandModule, path: readonly string[]) => {
    let argv: Argv = yargs([]).help().version(false).strict();
    argv.command(root);
    const positionals = new Set<string>();
    for (const word of path) {
      const known = inspect(argv).getInternalMethods().getCommandInstance();
      const handler = known.getCommandHandlers()[known.aliasMap[word] ?? word];
      if (handler === undefined) throw new Error(`yargs knows no command ${path.join(' ')}`);
      for (const positional of [...handler.demanded, ...handler.optional])
        for (const name of positional.cmd) positionals.add(name);
      argv = inspect(argv).getInternalMethods().reset(inspect(argv).getOptions().alias);
      if (typeof handler.builder === 'function') argv = (handler.builder(argv) as Argv | undefined) ?? argv;
      else argv = argv.options(handler.builder);
    }
    const groupName = inspect(argv).getInternalMethods().getUsageInstance().getPositionalGroupName();
    for (const name of inspect(argv).getGroups()[groupName] ?? []) positionals.add(name);
    return { argv, positionals };
  };

  const node = (root: CommandModule, path: readonly string[], aliases: readonly string[]): CommandNode => {
    const { argv, positionals } = reach(root, path);
    const options = inspect(argv).getOptions();
    const descriptions = inspect(argv).getInternalMethods().getUsageInstance().getDescriptions();
    const typeOf = (key: string): CommandOption['type'] =>
      (['boolean', 'count', 'array', 'number', 'string'] as const).find((type) =>
        options[type].includes(key),
      ) ?? 'any';
    // yargs also lists an alias as a key of its own; it is shown under the option it names.
    const aliasNames = new Set(Object.values(options.alias).flat());
    const optionList: CommandOption[] = Object.keys(options.key)
      .filter((key) => !['help', 'version'].includes(key) && !positionals.has(key) && !aliasNames.has(key))
      .sort()
      .map((key) => {
        const type = typeOf(key);
        const choices = options.choices[key];
        const describe = descriptions[key];
        return {
          name: key,
          aliases: options.alias[key] ?? [],
          takesValue: type !== 'boolean' && type !== 'count',
          type,
          ...(choices !== undefined && { choices: choices.map(String) }),
          ...(typeof describe === 'string' && describe !== '' && { describe }),
        };
      });
    const known = inspect(argv).getInternalMethods().getCommandInstance();
    const subcommands = Object.keys(known.getCommandHandlers()).map((name) =>
      node(
        root,
        [...path, name],
        Object.entries(known.aliasMap)
          .filter(([, target]) => target === name)
          .map(([alias]) => alias),
      ),
    );
    return {
      name: path[path.length - 1]!,
      aliases,
      positionals: [...positionals],
      options: optionList,
      subcommands,
    };
  };

  return chosen.map((entry, i) => node(modules[i]! as CommandModule, [entry.command.split(' ')[0]!], []));
}
