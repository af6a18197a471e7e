import { CorralError } from '../common/errors.js';

const unitsMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses durations as operators write them: 90s, 30m, 1h, 7d (a bare number is seconds, as in Ganeti). */
export function parseDurationMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new CorralError('bad_request', `not a duration: ${text} (write e.g. 90s, 30m, 1h or 7d)`);
  return Math.round(Number(match[1]) * (unitsMs[match[2] ?? 's'] as number));
}
