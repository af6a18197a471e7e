#!/usr/bin/env node
/**
 * How much of Ganeti's command lines Corral accepts, measured against Ganeti's own command tables
 * (scripts/ganeti-commands.json, written by scripts/ganeti-commands.py) and Corral's command tree as yargs
 * holds it (src/cli/command-tree.ts). Run it on the build: `npm run parity`, or `node scripts/parity.mjs [--json]`
 * after `npm run build`.
 *
 * - A Ganeti subcommand is accepted when its name or one of Ganeti's aliases for it is a name or alias of a
 *   subcommand of the same Corral family; Ganeti names that Corral does not take are listed as missing aliases.
 * - Options are counted for the subcommands accepted only. Each form of a Ganeti option (`-f`, `--force`) is
 *   given to a yargs parser that knows the Corral subcommand's options, set up as run.ts sets it up (so yargs's
 *   boolean negation, aliases and camel-case expansion count, as they do for a real command line); the form is
 *   accepted when it sets one of those options and, as in Ganeti, that option takes a value exactly when
 *   Ganeti's does. A form that sets an option taking a value when Ganeti's takes none (or the reverse) is a
 *   mismatch, not accepted. An option is accepted when any of its forms is.
 * - Ganeti adds its COMMON_OPTS (--debug, --reason) to every subcommand; they are counted apart.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import yargs from 'yargs';

const here = dirname(fileURLToPath(import.meta.url));

/** scripts/ganeti-commands.json, parsed. */
export function loadGanetiCommands(path = join(here, 'ganeti-commands.json')) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** Which Corral option a command-line form sets, by asking yargs to parse it; undefined when none. */
function resolver(corralOptions) {
  const parser = yargs([]).help(false).version(false).exitProcess(false);
  for (const option of corralOptions) {
    const type = ['boolean', 'count', 'string', 'number', 'array'].includes(option.type)
      ? option.type
      : undefined;
    parser.option(option.name, { alias: [...option.aliases], ...(type && { type }) });
  }
  // A count is 0 when not given: an option is set when its value differs from an empty command line's.
  const unset = parser.parseSync([]);
  return (form, takesValue) => {
    const argv = parser.parseSync(takesValue ? [form, 'x'] : [form]);
    const option = corralOptions.find((candidate) => argv[candidate.name] !== unset[candidate.name]);
    if (option === undefined) return undefined;
    // `--no-x` of a boolean takes no value even where the option would, and a value left over was not taken.
    const value = argv._.length > 0 ? false : takesValue ? true : option.takesValue;
    return { option: option.name, takesValue: value };
  };
}

function names(option) {
  return [...option.long, ...option.short];
}

function checkOptions(ganetiOptions, resolve) {
  const result = { total: ganetiOptions.length, accepted: 0, missing: [], mismatched: [], partial: [] };
  for (const option of ganetiOptions) {
    const forms = names(option).map((form) => ({ form, hit: resolve(form, option.takesValue) }));
    const good = forms.filter(({ hit }) => hit !== undefined && hit.takesValue === option.takesValue);
    const label = names(option).join('/');
    if (good.length > 0) {
      result.accepted++;
      const targets = [...new Set(good.map(({ hit }) => hit.option))];
      if (targets.length > 1)
        result.partial.push(
          `${label}: ${good.map(({ form, hit }) => `${form} is --${hit.option}`).join(', ')}`,
        );
      else if (good.length < forms.length) {
        const other = option.long.includes(`--${targets[0]}`) ? '' : ` (Corral's --${targets[0]})`;
        result.partial.push(`${label}: only ${good.map(({ form }) => form).join(', ')}${other}`);
      }
    } else if (forms.some(({ hit }) => hit !== undefined)) {
      const hit = forms.find(({ hit }) => hit !== undefined).hit;
      result.mismatched.push(
        `${label} (Ganeti's ${option.takesValue ? 'takes' : 'takes no'} value; Corral's --${hit.option} ${hit.takesValue ? 'takes' : 'takes no'} value)`,
      );
    } else result.missing.push(label);
  }
  return result;
}

/**
 * The parity report: per family, Ganeti's subcommands and how many Corral accepts, and for those, Ganeti's
 * options and how many Corral accepts; then the totals. `tree` is commandTree()'s answer.
 */
export function computeParity(ganeti, tree) {
  const families = [];
  for (const [family, table] of Object.entries(ganeti.families)) {
    const corral = tree.find((node) => node.name === family);
    const corralSubs = corral?.subcommands ?? [];
    const byName = new Map();
    for (const sub of corralSubs) for (const name of [sub.name, ...sub.aliases]) byName.set(name, sub);
    const entry = {
      family,
      tool: table.tool,
      subcommands: { ganeti: 0, accepted: 0 },
      options: { ganeti: 0, accepted: 0, inAllSubcommands: 0 },
      commonOptions: { ganeti: 0, accepted: 0 },
      missingSubcommands: [],
      missingAliases: [],
      corralOnly: [],
      details: [],
    };
    const matched = new Set();
    for (const [name, sub] of Object.entries(table.subcommands)) {
      entry.subcommands.ganeti++;
      entry.options.inAllSubcommands += sub.options.length;
      const ganetiNames = [name, ...sub.aliases];
      const corralSub = ganetiNames.map((n) => byName.get(n)).find((s) => s !== undefined);
      if (corralSub === undefined) {
        entry.missingSubcommands.push(name);
        continue;
      }
      matched.add(corralSub);
      entry.subcommands.accepted++;
      for (const n of ganetiNames) if (!byName.has(n)) entry.missingAliases.push(n);
      const resolve = resolver(corralSub.options);
      const options = checkOptions(sub.options, resolve);
      const common = checkOptions(ganeti.commonOptions, resolve);
      entry.options.ganeti += options.total;
      entry.options.accepted += options.accepted;
      entry.commonOptions.ganeti += common.total;
      entry.commonOptions.accepted += common.accepted;
      entry.details.push({
        subcommand: name,
        corral: corralSub.name,
        options: { ganeti: options.total, accepted: options.accepted },
        commonOptions: { ganeti: common.total, accepted: common.accepted },
        missingOptions: options.missing,
        mismatchedOptions: options.mismatched,
        partialOptions: options.partial,
        missingCommonOptions: [...common.missing, ...common.mismatched],
      });
    }
    entry.corralOnly = corralSubs.filter((sub) => !matched.has(sub)).map((sub) => sub.name);
    families.push(entry);
  }
  const sum = (pick) => families.reduce((total, entry) => total + pick(entry), 0);
  return {
    ganeti: ganeti.source.split(',')[0],
    families,
    totals: {
      subcommands: { ganeti: sum((f) => f.subcommands.ganeti), accepted: sum((f) => f.subcommands.accepted) },
      options: {
        ganeti: sum((f) => f.options.ganeti),
        accepted: sum((f) => f.options.accepted),
        inAllSubcommands: sum((f) => f.options.inAllSubcommands),
      },
      commonOptions: {
        ganeti: sum((f) => f.commonOptions.ganeti),
        accepted: sum((f) => f.commonOptions.accepted),
      },
    },
  };
}

const percent = (part, whole) => (whole === 0 ? '-' : `${Math.round((100 * part) / whole)}%`);
const ratio = ({ accepted, ganeti }) => `${accepted}/${ganeti} (${percent(accepted, ganeti)})`;

/** The report as text: the table, then what is missing, family by family. */
export function formatParity(report) {
  const rows = [
    ['family', 'subcommands', 'options', 'of all options', 'common options'],
    ...report.families.map((f) => [
      f.tool,
      ratio(f.subcommands),
      ratio(f.options),
      String(f.options.inAllSubcommands),
      ratio(f.commonOptions),
    ]),
    [
      'total',
      ratio(report.totals.subcommands),
      ratio(report.totals.options),
      String(report.totals.options.inAllSubcommands),
      ratio(report.totals.commonOptions),
    ],
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = [
    `Corral against ${report.ganeti}'s command tables (scripts/ganeti-commands.json)`,
    "options: those of the subcommands Corral accepts; of all options: in all of Ganeti's subcommands;",
    'common options: --debug and --reason, which Ganeti adds to every subcommand',
    '',
    ...rows.map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    ),
  ];
  for (const f of report.families) {
    lines.push('', `${f.tool}:`);
    if (f.missingSubcommands.length > 0)
      lines.push(`  missing subcommands: ${f.missingSubcommands.join(', ')}`);
    if (f.missingAliases.length > 0) lines.push(`  missing aliases: ${f.missingAliases.join(', ')}`);
    if (f.corralOnly.length > 0) lines.push(`  Corral only: ${f.corralOnly.join(', ')}`);
    for (const d of f.details) {
      const problems = [
        ...d.missingOptions.map((o) => `    missing ${o}`),
        ...d.mismatchedOptions.map((o) => `    mismatched ${o}`),
        ...d.partialOptions.map((o) => `    partly ${o}`),
      ];
      if (problems.length > 0) lines.push(`  ${d.subcommand}: options ${ratio(d.options)}`, ...problems);
    }
  }
  return `${lines.join('\n')}\n`;
}

async function main(argv) {
  const ganeti = loadGanetiCommands();
  const { commandTree } = await import(pathToFileURL(join(here, '../dist/src/cli/command-tree.js')).href);
  const report = computeParity(ganeti, await commandTree(Object.keys(ganeti.families)));
  process.stdout.write(
    argv.includes('--json') ? `${JSON.stringify(report, null, 2)}\n` : formatParity(report),
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  await main(process.argv.slice(2));
