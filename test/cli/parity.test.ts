import { beforeAll, describe, expect, it } from 'vitest';
import {
  computeParity,
  formatParity,
  type GanetiCommands,
  loadGanetiCommands,
  type ParityReport,
} from '../../scripts/parity.mjs';
import { type CommandNode, type CommandOption, commandTree } from '../../src/cli/command-tree.js';

const ganeti = loadGanetiCommands();
const families = ['cluster', 'node', 'instance', 'group', 'job', 'os', 'backup', 'debug'];

/** A one-family tree written by hand, to pin down how names, aliases and options are matched. */
function tree(subcommands: { name: string; aliases?: string[]; options?: Partial<CommandOption>[] }[]) {
  return [
    {
      name: 'instance',
      aliases: [],
      positionals: [],
      options: [],
      subcommands: subcommands.map((sub) => ({
        name: sub.name,
        aliases: sub.aliases ?? [],
        positionals: ['instance'],
        options: (sub.options ?? []).map((option) => ({
          name: option.name!,
          aliases: option.aliases ?? [],
          type: option.type ?? 'string',
          takesValue: option.takesValue ?? !['boolean', 'count'].includes(option.type ?? 'string'),
        })),
        subcommands: [],
      })),
    },
  ] satisfies CommandNode[];
}

/** Ganeti's instance family cut down to startup, with these options. */
function startupOnly(options: GanetiCommands['commonOptions']): GanetiCommands {
  const startup = ganeti.families.instance!.subcommands.startup!;
  return {
    ...ganeti,
    families: { instance: { tool: 'gnt-instance', subcommands: { startup: { ...startup, options } } } },
  };
}

describe("Ganeti's command tables (scripts/ganeti-commands.json)", () => {
  it('has the eight families Corral maps, with their subcommands, aliases and options', () => {
    expect(Object.keys(ganeti.families).sort()).toEqual([...families].sort());
    const instance = ganeti.families.instance!.subcommands;
    expect(instance.add).toBeDefined();
    expect(instance.startup).toBeDefined();
    expect(instance.startup!.aliases).toContain('start');
    expect(ganeti.families.cluster!.subcommands['master-failover']!.aliases).toContain('masterfailover');
    const force = instance.startup!.options.find((option) => option.long.includes('--force'));
    expect(force).toMatchObject({ short: ['-f'], takesValue: false });
    const disk = instance.add!.options.find((option) => option.long.includes('--disk'));
    expect(disk?.takesValue).toBe(true);
    expect(ganeti.commonOptions.flatMap((option) => option.long)).toEqual(['--debug', '--reason']);
    for (const family of Object.values(ganeti.families))
      for (const sub of Object.values(family.subcommands))
        for (const option of sub.options) {
          expect(option.long.length + option.short.length).toBeGreaterThan(0);
          for (const form of option.long) expect(form).toMatch(/^--[a-z0-9][a-z0-9-]*$/);
          for (const form of option.short) expect(form).toMatch(/^-[A-Za-z0-9]$/);
        }
  });
});

describe("Corral's command tree", () => {
  let corral: CommandNode[];
  beforeAll(async () => {
    corral = await commandTree(families);
  });

  it('lists the families asked for, with subcommands, aliases and options as yargs holds them', () => {
    expect(corral.map((node) => node.name).sort()).toEqual([...families].sort());
    const instance = corral.find((node) => node.name === 'instance')!;
    const startup = instance.subcommands.find((sub) => sub.name === 'startup')!;
    expect(startup.aliases).toContain('start');
    expect(startup.positionals).toContain('instances');
    expect(startup.options.map((option) => option.name)).toContain('dry-run');
    expect(startup.options.find((option) => option.name === 'dry-run')).toMatchObject({ takesValue: false });
    const add = instance.subcommands.find((sub) => sub.name === 'add')!;
    expect(add.options.find((option) => option.name === 'disk-template')?.aliases).toContain('t');
    expect(add.options.find((option) => option.name === 'disk-template')?.takesValue).toBe(true);
    // An alias is shown under its option, not as an option of its own; yargs's --help is left out.
    expect(add.options.map((option) => option.name)).not.toContain('t');
    expect(add.options.map((option) => option.name)).not.toContain('help');
  });

  describe('against Ganeti', () => {
    let report: ParityReport;
    beforeAll(() => {
      report = computeParity(ganeti, corral);
    });

    it('finds instance add and startup on both sides', () => {
      const instance = report.families.find((family) => family.family === 'instance')!;
      const accepted = instance.details.map((detail) => detail.subcommand);
      expect(accepted).toContain('add');
      expect(accepted).toContain('startup');
      expect(instance.missingSubcommands).not.toContain('startup');
      expect(instance.missingAliases).not.toContain('start');
    });

    it('adds up', () => {
      expect(report.families.map((family) => family.family)).toEqual(Object.keys(ganeti.families));
      const sum = (pick: (family: ParityReport['families'][number]) => number) =>
        report.families.reduce((total, family) => total + pick(family), 0);
      expect(report.totals.subcommands.ganeti).toBe(sum((f) => f.subcommands.ganeti));
      expect(report.totals.subcommands.accepted).toBe(sum((f) => f.subcommands.accepted));
      expect(report.totals.options.ganeti).toBe(sum((f) => f.options.ganeti));
      expect(report.totals.options.accepted).toBe(sum((f) => f.options.accepted));
      expect(report.totals.commonOptions.accepted).toBe(sum((f) => f.commonOptions.accepted));
      expect(report.totals.subcommands.ganeti).toBe(
        Object.values(ganeti.families).reduce(
          (total, family) => total + Object.keys(family.subcommands).length,
          0,
        ),
      );
      for (const family of report.families) {
        const table = ganeti.families[family.family]!.subcommands;
        expect(family.subcommands.ganeti).toBe(Object.keys(table).length);
        expect(family.subcommands.accepted + family.missingSubcommands.length).toBe(
          family.subcommands.ganeti,
        );
        expect(family.details.length).toBe(family.subcommands.accepted);
        expect(family.options.ganeti).toBe(family.details.reduce((t, d) => t + d.options.ganeti, 0));
        expect(family.options.accepted).toBe(family.details.reduce((t, d) => t + d.options.accepted, 0));
        expect(family.options.ganeti).toBeLessThanOrEqual(family.options.inAllSubcommands);
        for (const detail of family.details) {
          expect(detail.options.ganeti).toBe(table[detail.subcommand]!.options.length);
          expect(
            detail.options.accepted + detail.missingOptions.length + detail.mismatchedOptions.length,
          ).toBe(detail.options.ganeti);
          expect(detail.commonOptions.ganeti).toBe(ganeti.commonOptions.length);
        }
      }
      expect(report.totals.subcommands.accepted).toBeGreaterThan(0);
      expect(report.totals.options.accepted).toBeGreaterThan(0);
      expect(report.totals.options.accepted).toBeLessThanOrEqual(report.totals.options.ganeti);
    });

    it('prints a table and the totals', () => {
      const text = formatParity(report);
      expect(text).toMatch(/^gnt-instance\s+\d+\/\d+/m);
      expect(text).toMatch(
        new RegExp(
          `^total\\s+${report.totals.subcommands.accepted}/${report.totals.subcommands.ganeti}\\b`,
          'm',
        ),
      );
    });
  });
});

describe('parity matching', () => {
  const startup = ganeti.families.instance!.subcommands.startup!;

  it("counts a subcommand Corral knows only by Ganeti's alias, and names the missing name", () => {
    const report = computeParity(startupOnly(startup.options), tree([{ name: 'start' }]));
    const family = report.families[0]!;
    expect(family.subcommands).toEqual({ ganeti: 1, accepted: 1 });
    expect(family.missingAliases).toEqual(['startup']);
    const none = computeParity(startupOnly(startup.options), tree([{ name: 'begin' }])).families[0]!;
    expect(none.subcommands.accepted).toBe(0);
    expect(none.missingSubcommands).toEqual(['startup']);
    expect(none.corralOnly).toEqual(['begin']);
  });

  it('accepts an option by either form, as yargs parses it', () => {
    const option = (long: string, short: string[], takesValue: boolean) => ({
      long: [long],
      short,
      takesValue,
      help: '',
    });
    const table = startupOnly([
      option('--force', ['-f'], false),
      option('--no-headers', [], false),
      option('--no-remember', [], false),
      option('--backend-parameters', ['-B'], true),
      option('--hypervisor-parameters', ['-H'], true),
      option('--verbose', ['-v'], false),
      option('--dry-run', [], false),
    ]);
    const detail = computeParity(
      table,
      tree([
        {
          name: 'startup',
          options: [
            { name: 'force', aliases: ['f'], type: 'boolean' },
            { name: 'headers', type: 'boolean' },
            // yargs reads --no-remember as "remember: false": a key spelled no-remember never gets it.
            { name: 'no-remember', type: 'boolean' },
            { name: 'backend', aliases: ['B'] },
            { name: 'hypervisor-parameters', type: 'boolean' },
            { name: 'verbose', aliases: ['v'], type: 'count' },
            { name: 'dryRun', type: 'boolean' },
          ],
        },
      ]),
    ).families[0]!.details[0]!;
    expect(detail.options).toEqual({ ganeti: 7, accepted: 5 });
    expect(detail.missingOptions).toEqual(['--no-remember']);
    expect(detail.mismatchedOptions).toHaveLength(1);
    expect(detail.mismatchedOptions[0]).toMatch(/^--hypervisor-parameters\/-H/);
    expect(detail.partialOptions).toEqual(["--backend-parameters/-B: only -B (Corral's --backend)"]);
    expect(detail.missingCommonOptions).toHaveLength(2);
  });
});
