import { arch, platform } from 'node:os';
import { CorralError } from '../../common/errors.js';
import { getOpt, usageInfo } from '../getopt.js';
import type { HtoolsName } from './names.js';
import {
  defaultOptions,
  genericOptions,
  type HtoolsOption,
  htoolsOptions,
  OptionValueError,
} from './options.js';
import { HtoolsDone, HtoolsExit, HtoolsStatus, type HtoolsTool, type ToolOutput } from './tool.js';

/** Each tool lives in ./<name>.js and exports itself under its name: only the one run is loaded. */
async function loadTool(name: HtoolsName): Promise<HtoolsTool> {
  const module = (await import(`./${name}.js`)) as Record<string, HtoolsTool | undefined>;
  const tool = module[name];
  if (tool === undefined) throw new Error(`./${name}.js does not export ${name}`);
  return tool;
}

const VERSION = '0.1.0';

function completionInfo(options: readonly HtoolsOption[], args: readonly string[]): string {
  const lines = options.map((o) => {
    const forms = [...[...o.short].map((c) => `-${c}`), ...o.long.map((l) => `--${l}`)];
    return `${forms.join(',')} ${o.completion}`;
  });
  return `${[...lines, ...args].join('\n')}\n`;
}

/**
 * Runs one of the htools by its Ganeti name, as Ganeti's htools main does: GetOpt parsing of the tool's
 * options, --help, --version and --help-completion, then the tool; "Error: ..." and exit 1 on a failure,
 * exit 2 on a command line GetOpt cannot read. `program` is how the user called it (hbal, or `corral
 * balance`); the exit code is returned.
 */
export async function runHtool(
  name: HtoolsName,
  program: string,
  argv: readonly string[],
  io: ToolOutput,
): Promise<number> {
  const tool = await loadTool(name);
  const options = [...tool.options.map((key) => htoolsOptions[key] as HtoolsOption), ...genericOptions];
  const usage = (): string => usageInfo(`${program} ${VERSION}\nUsage: ${program} [OPTION...]`, options);
  const parsed = getOpt(options, argv);
  if (parsed.errors.length > 0) {
    io.err(`Command line error: ${parsed.errors.join('')}\n${usage()}`);
    return 2;
  }
  const values = defaultOptions();
  try {
    for (const { option, value } of parsed.options) option.apply(values, value);
  } catch (error) {
    if (!(error instanceof OptionValueError)) throw error;
    io.err(`Error while parsing command line arguments:\n${error.message}\n`);
    return 1;
  }
  if (values.showHelp) {
    io.out(usage());
    return 0;
  }
  if (values.showVer) {
    io.out(
      `${program} ${VERSION}\ncompiled with node ${process.versions.node}\nrunning on ${platform()} ${arch()}\n`,
    );
    return 0;
  }
  if (values.showComp) {
    io.out(completionInfo(options, tool.arguments));
    return 0;
  }
  try {
    await tool.run(values, parsed.args, io);
    return 0;
  } catch (error) {
    if (error instanceof HtoolsDone) return 0;
    if (error instanceof HtoolsStatus) return error.code;
    if (error instanceof HtoolsExit) {
      io.err(`Error: ${error.message}\n`);
      return error.code;
    }
    if (error instanceof CorralError) {
      io.err(`Error: ${error.message.split('\n')[0]}\n`);
      return 1;
    }
    throw error;
  }
}
