import type { HtoolsOptionKey, HtoolsOptions } from './options.js';

/**
 * One of the htools (hbal, hspace, ...) as Corral runs it: the options it takes, in its --help's order,
 * and what it does with them. Output goes through ToolOutput so that tests can run a tool in-process.
 */
export interface ToolOutput {
  out(text: string): void;
  err(text: string): void;
}

export interface HtoolsTool {
  readonly options: readonly HtoolsOptionKey[];
  /** What --help-completion lists for the positional arguments (Ganeti's ArgCompletion), one per argument. */
  readonly arguments: readonly string[];
  run(options: HtoolsOptions, args: readonly string[], io: ToolOutput): Promise<void>;
}

/** Ends the tool as Ganeti's exitErr does: "Error: <message>" on stderr and the exit code (1 by default). */
export class HtoolsExit extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message);
  }
}

/** Ends the tool successfully at once (Ganeti's exitSuccess), after what it printed. */
export class HtoolsDone extends Error {}

/** Ends the tool with an exit code and no message (Ganeti's exitWith), after what it printed. */
export class HtoolsStatus extends Error {
  constructor(readonly code: number) {
    super(`exit status ${code}`);
  }
}

/** Ganeti's exitErr. */
export function exitErr(message: string): never {
  throw new HtoolsExit(message);
}

/** The refusal every htool but hail gives to positional arguments. */
export function noArguments(args: readonly string[]): void {
  if (args.length > 0) exitErr("This program doesn't take any arguments.");
}
