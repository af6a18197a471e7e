import { createInterface } from 'node:readline';
import { CorralError } from '../common/errors.js';

/**
 * Ganeti's confirmations (instance remove, reinstall, a command on several instances): a question on the
 * terminal answered y or n. A run with no terminal is refused, not assumed to agree, and the refusal says
 * which option answers instead.
 */

/** Asks a yes/no question; undefined when nobody can be asked (stdin is not a terminal). */
export type Asker = (question: string) => Promise<boolean | undefined>;

/** Asks on the terminal: the question on stderr, the answer from stdin; anything but y or yes is no. */
const askTerminal: Asker = async (question) => {
  if (!process.stdin.isTTY) return undefined;
  const terminal = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string>((resolve) => terminal.question(`${question} y/[n]: `, resolve));
    return ['y', 'yes'].includes(answer.trim().toLowerCase());
  } finally {
    terminal.close();
  }
};

let asker: Asker = askTerminal;

/** For tests: answers the questions in place of a terminal (undefined: the terminal again). */
export function setAskerForTests(replacement: Asker | undefined): void {
  asker = replacement ?? askTerminal;
}

/**
 * Goes on only when the user says yes. `unasked` is the refusal when there is no terminal to ask on: one
 * line, naming the option that answers instead (`-f`).
 */
export async function confirm(question: string, unasked: string): Promise<void> {
  const answer = await asker(question);
  if (answer === undefined) throw new CorralError('bad_request', unasked);
  if (!answer) throw new CorralError('aborted', 'not confirmed: nothing was done');
}

/** Asks for one of `choices` by its index, or x for none; undefined when nobody can be asked. */
export type Chooser = (question: string, choices: readonly string[]) => Promise<number | 'exit' | undefined>;

/** Asks on the terminal until the answer is a number listed or x, as Ganeti's AskUser does. */
const chooseOnTerminal: Chooser = async (question, choices) => {
  if (!process.stdin.isTTY) return undefined;
  const terminal = createInterface({ input: process.stdin, output: process.stderr });
  try {
    for (;;) {
      const answer = (
        await new Promise<string>((resolve) => terminal.question(`${question} `, resolve))
      ).trim();
      if (answer.toLowerCase() === 'x') return 'exit';
      if (/^\d+$/.test(answer) && Number(answer) < choices.length) return Number(answer);
    }
  } finally {
    terminal.close();
  }
};

let chooser: Chooser = chooseOnTerminal;

/** For tests: answers in place of a terminal (undefined: the terminal again). */
export function setChooserForTests(replacement: Chooser | undefined): void {
  chooser = replacement ?? chooseOnTerminal;
}

/** One of the choices, asked for on the terminal; `unasked` is the refusal when there is none. */
export async function choose(question: string, choices: readonly string[], unasked: string): Promise<string> {
  const answer = await chooser(question, choices);
  if (answer === undefined) throw new CorralError('bad_request', unasked);
  if (answer === 'exit') throw new CorralError('aborted', 'aborted: nothing was done');
  const chosen = choices[answer];
  if (chosen === undefined) throw new CorralError('bad_request', `no choice ${answer}`);
  return chosen;
}
