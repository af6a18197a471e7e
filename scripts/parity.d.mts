import type { CommandNode } from '../src/cli/command-tree.js';

/** Types of scripts/parity.mjs, for the tests that call it. */

export interface GanetiOption {
  readonly short: readonly string[];
  readonly long: readonly string[];
  readonly takesValue: boolean;
  readonly help: string;
  readonly choices?: readonly string[];
  readonly hidden?: boolean;
}

export interface GanetiSubcommand {
  readonly aliases: readonly string[];
  readonly usage: string;
  readonly description: string;
  readonly options: readonly GanetiOption[];
}

/** scripts/ganeti-commands.json */
export interface GanetiCommands {
  readonly source: string;
  readonly commonOptions: readonly GanetiOption[];
  readonly families: Readonly<
    Record<
      string,
      { readonly tool: string; readonly subcommands: Readonly<Record<string, GanetiSubcommand>> }
    >
  >;
}

export interface Count {
  readonly ganeti: number;
  readonly accepted: number;
}

export interface SubcommandParity {
  readonly subcommand: string;
  /** The Corral subcommand that takes it. */
  readonly corral: string;
  readonly options: Count;
  readonly commonOptions: Count;
  readonly missingOptions: readonly string[];
  readonly mismatchedOptions: readonly string[];
  readonly partialOptions: readonly string[];
  readonly missingCommonOptions: readonly string[];
}

export interface FamilyParity {
  readonly family: string;
  readonly tool: string;
  readonly subcommands: Count;
  readonly options: Count & { readonly inAllSubcommands: number };
  readonly commonOptions: Count;
  readonly missingSubcommands: readonly string[];
  readonly missingAliases: readonly string[];
  readonly corralOnly: readonly string[];
  readonly details: readonly SubcommandParity[];
}

export interface ParityReport {
  readonly ganeti: string;
  readonly families: readonly FamilyParity[];
  readonly totals: {
    readonly subcommands: Count;
    readonly options: Count & { readonly inAllSubcommands: number };
    readonly commonOptions: Count;
  };
}

export function loadGanetiCommands(path?: string): GanetiCommands;
export function computeParity(ganeti: GanetiCommands, tree: readonly CommandNode[]): ParityReport;
export function formatParity(report: ParityReport): string;
