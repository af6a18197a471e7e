import { z } from 'zod';

/**
 * Ganeti mond's HTTP interface (ganeti-os-hooks-mond reference §3) as pure functions: which report a path
 * names, how collectors are listed, and which 404 text an unknown path gets. The server only routes and
 * writes what these return.
 */

/** ganeti-mond's default port. */
export const MOND_PORT = 1815;

/** What `/` answers: the API versions served. */
export const MOND_API_VERSIONS: readonly number[] = [1];

/** mond's 404 texts, sent as plain text with no Content-Type (Snap's writeBS). */
export const MOND_NOT_FOUND_TEXT = 'Resource not found';
export const MOND_NO_REPORT_TEXT = 'Unable to produce a report for the requested resource';

export const reportCategories = ['instance', 'storage', 'daemon', 'hypervisor'] as const;
export type ReportCategory = (typeof reportCategories)[number] | null;

/** The URL name of the null category. */
export const DEFAULT_CATEGORY = 'default';

/** One collector's report, in Ganeti's shape; `data` is the collector's own. */
export const mondReportSchema = z.object({
  name: z.string().min(1),
  version: z.string(),
  format_version: z.number().int(),
  /** Nanoseconds since the epoch. */
  timestamp: z.number(),
  category: z.enum(reportCategories).nullable(),
  kind: z.union([z.literal(0), z.literal(1)]),
  data: z.unknown(),
});
export type MondReport = z.infer<typeof mondReportSchema>;

/** A `/1/list/collectors` entry: name, category (null listed as "default"), kind, in that order. */
export type CollectorListItem = readonly [name: string, category: string, kind: 0 | 1];

/**
 * The reports of a `monitor-reports` answer that have Ganeti's shape, as they came (data untouched), and
 * how many did not: a malformed one is a collector's bug, not something to serve.
 */
export function wellFormedReports(reports: readonly unknown[]): {
  readonly reports: MondReport[];
  readonly malformed: number;
} {
  const good = reports.filter((report): report is MondReport => mondReportSchema.safeParse(report).success);
  return { reports: good, malformed: reports.length - good.length };
}

/** The category a URL segment names: `default` is null; undefined when it names none (mond's catFromName). */
export function categoryFromUrl(segment: string): ReportCategory | undefined {
  if (segment === DEFAULT_CATEGORY) return null;
  return (reportCategories as readonly string[]).includes(segment) ? (segment as ReportCategory) : undefined;
}

export function collectorList(reports: readonly MondReport[]): CollectorListItem[] {
  return reports.map((report) => [report.name, report.category ?? DEFAULT_CATEGORY, report.kind] as const);
}

/**
 * The report `/1/report/<category>/<collector>` names: the collector must be in that category, so
 * `/1/report/hypervisor/inst-status` finds nothing when inst-status is an instance collector.
 */
export function findReport(
  reports: readonly MondReport[],
  categorySegment: string,
  collector: string,
): MondReport | undefined {
  const category = categoryFromUrl(categorySegment);
  if (category === undefined) return undefined;
  return reports.find((report) => report.category === category && report.name === collector);
}

/**
 * The 404 text mond gives a path nothing serves: anything under `/1/report` is a report it cannot produce;
 * anything else (another version, `/1/list` alone, a typo) is a resource it does not have.
 */
export function notFoundText(url: string): string {
  const path = url.split('?', 1)[0] ?? '';
  const segments = path.split('/').filter((segment) => segment !== '');
  return segments[0] === '1' && segments[1] === 'report' ? MOND_NO_REPORT_TEXT : MOND_NOT_FOUND_TEXT;
}
