import Table from 'cli-table3';

export interface TableOptions {
  readonly noHeaders?: boolean;
  /** Ganeti's --separator: fields joined by this string instead of aligned columns. */
  readonly separator?: string | undefined;
}

const borderless = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: '',
};

/** Ganeti's list layout: a header line, then aligned columns, no borders. */
export function renderTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  options: TableOptions = {},
): string {
  const all = options.noHeaders ? rows : [headers, ...rows];
  if (options.separator !== undefined) return all.map((row) => row.join(options.separator)).join('\n');
  const table = new Table({
    chars: borderless,
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 1 },
  });
  for (const row of all) table.push([...row]);
  return table
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}
