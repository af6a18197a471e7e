import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { inconsistencies, warningText } from '../../src/alloc/iallocator/consistency.js';
import { parseIAllocRequest } from '../../src/alloc/iallocator/request.js';
import { type AnswerOptions, answerRequest } from '../../src/alloc/iallocator/respond.js';
import { buildState } from '../../src/alloc/state.js';
import { parseTextBackend } from '../../src/alloc/text-backend.js';
import type { ClusterSnapshot } from '../../src/alloc/types.js';

/**
 * Every request of Ganeti's hail shelltests, with the variants their run.sh builds, answered as hail
 * 3.0.2 answers them. The expected answers (and hail's warnings on stderr) in
 * fixtures/hail-3.0.2-answers.json were taken by running Debian's /usr/lib/ganeti/iallocators/hail
 * on each request (fed on stdin as `hail [options] -`), with the options listed; some requests are
 * edited first (`edits`) to reach the paths the shelltests leave out.
 */

interface Case {
  readonly request: string;
  readonly variant?: 'primary-only' | 'secondary-only' | 'all' | 'excl-stor' | 'fail-excl-stor';
  /** One of `edits`, for the paths the shelltests do not reach. */
  readonly edit?: string;
  readonly options?: readonly string[];
  readonly answer: unknown;
  readonly stderr?: string;
}

const data = (name: string): string =>
  readFileSync(new URL(`../ganeti-htools/data/${name}`, import.meta.url), 'utf8');
const cases = JSON.parse(
  readFileSync(new URL('fixtures/hail-3.0.2-answers.json', import.meta.url), 'utf8'),
) as Case[];

/** The sed edits of the shelltests' run.sh. */
function variant(text: string, v: Case['variant']): string {
  const noSpindles = (t: string) => t.replace(/"spindles": [0-9]+,/g, '');
  const exclusive = (t: string) => t.replaceAll('"exclusive_storage": false', '"exclusive_storage": true');
  switch (v) {
    case undefined:
      return text;
    case 'excl-stor':
      return exclusive(text);
    case 'fail-excl-stor':
      return noSpindles(exclusive(text));
    default:
      return noSpindles(text.replace('"evac_mode": "all"', `"evac_mode": "${v}"`));
  }
}

type Message = { request: Record<string, unknown> } & Record<string, unknown>;

/** Requests of our own, made from the shelltests' ones (hail's answers taken the same way). */
const edits: Record<string, (m: Message) => void> = {
  'relocate-from-primary': (m) => Object.assign(m.request, { relocate_from: ['node1'] }),
  'relocate-plain': (m) => Object.assign(m.request, { name: 'instance13', relocate_from: ['node4'] }),
  'allocate-secondary-plain': (m) => {
    m.request = { type: 'allocate-secondary', name: 'instance13' };
  },
  'evacuate-plain-and-drbd': (m) => {
    m.request = { type: 'node-evacuate', instances: ['instance13', 'instance2'], evac_mode: 'all' };
  },
  'change-group-nowhere': (m) => {
    m.request = { type: 'change-group', instances: ['instance13'], target_groups: [] };
  },
  'group-name': (m) => Object.assign(m.request, { group_name: 'default' }),
};

function edited(text: string, edit: string | undefined): string {
  if (edit === undefined) return text;
  const message = JSON.parse(text) as Message;
  edits[edit]?.(message);
  return JSON.stringify(message);
}

function hailOptions(args: readonly string[]): { options: AnswerOptions; textData?: ClusterSnapshot } {
  let options: AnswerOptions = { hailQuirks: true };
  let textData: ClusterSnapshot | undefined;
  for (let k = 0; k < args.length; k++) {
    const arg = args[k];
    if (arg === '--no-capacity-checks') options = { ...options, capacityChecks: false };
    else if (arg === '--ignore-soft-errors') options = { ...options, ignoreSoftErrors: true };
    else if (arg === '--restrict-allocation-to')
      options = { ...options, restrictToNodes: (args[++k] ?? '').split(',') };
    else if (arg === '-t') {
      const file = args[++k] ?? '';
      textData = parseTextBackend(data(file), file, { allowDuplicateInstances: true });
      options = { ...options, cluster: textData };
    }
  }
  return textData === undefined ? { options } : { options, textData };
}

const label = (c: Case): string =>
  [c.request, c.variant === undefined ? '' : `(${c.variant})`, c.edit ?? '', ...(c.options ?? [])]
    .filter(Boolean)
    .join(' ');

describe('hail parity', () => {
  it.each(cases.map((c) => [label(c), c] as const))('%s', (_, c) => {
    const parsed = parseIAllocRequest(edited(variant(data(c.request), c.variant), c.edit), c.request);
    const { options, textData } = hailOptions(c.options ?? []);
    expect(JSON.stringify(answerRequest(parsed, options))).toBe(JSON.stringify(c.answer));
    // hail warns about the request's data, then (with -t) about the text file's.
    const warnings = [parsed.cluster, ...(textData === undefined ? [] : [textData])]
      .map((snapshot) => warningText(inconsistencies(buildState(snapshot))))
      .join('');
    expect(warnings).toBe(c.stderr ?? '');
  });
});
