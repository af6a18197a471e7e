import type { z } from 'zod';
import type { osDiagnosisSchema } from './node-status.js';

export type OsDiagnosis = z.infer<typeof osDiagnosisSchema>;

/** One node's answer to an OS diagnosis: its OS definitions, or none when it did not answer. */
export interface NodeOses {
  readonly name: string;
  readonly oses?: readonly OsDiagnosis[];
}

/** An OS is usable when every node that answered has it valid, and every node answered (Ganeti's gnt-os list). */
export function validEverywhere(nodes: readonly NodeOses[]): Map<string, OsDiagnosis> {
  const answered = nodes.filter((node) => node.oses !== undefined);
  const result = new Map<string, OsDiagnosis>();
  if (answered.length === 0 || answered.length < nodes.length) return result;
  for (const entry of answered[0]?.oses ?? []) {
    if (answered.every((node) => node.oses?.some((o) => o.name === entry.name && o.valid)))
      result.set(entry.name, entry);
  }
  return result;
}

/** Ganeti's names of the usable OSes: `name+variant` for each variant, or the bare name, sorted. */
export function usableOsNames(nodes: readonly NodeOses[]): string[] {
  return [...validEverywhere(nodes).values()]
    .flatMap((os) =>
      os.variants.length > 0 ? os.variants.map((variant) => `${os.name}+${variant}`) : [os.name],
    )
    .sort();
}
