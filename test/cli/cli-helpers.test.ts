import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDurationMs } from '../../src/cli/duration.js';
import { renderTable } from '../../src/cli/table.js';
import { CORRAL_VERSION } from '../../src/common/version.js';

describe('durations', () => {
  it('reads what operators write', () => {
    expect(parseDurationMs('90s')).toBe(90_000);
    expect(parseDurationMs('30m')).toBe(1_800_000);
    expect(parseDurationMs('1h')).toBe(3_600_000);
    expect(parseDurationMs('7d')).toBe(604_800_000);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(parseDurationMs('15')).toBe(15_000);
  });

  it('refuses anything else with an example', () => {
    for (const text of ['', 'h', '1 hour', '-5s', '1w']) {
      expect(() => parseDurationMs(text)).toThrow(/not a duration: .* \(write e.g. 90s/);
    }
  });
});

describe('tables', () => {
  const rows = [
    ['node1', 'Y'],
    ['node-two', 'N'],
  ];

  it('aligns columns under a header, without borders, as Ganeti lists do', () => {
    expect(renderTable(['Node', 'Up'], rows)).toBe('Node     Up\nnode1    Y\nnode-two N');
  });

  it('honours --no-headers and --separator', () => {
    expect(renderTable(['Node', 'Up'], rows, { noHeaders: true, separator: ':' })).toBe(
      'node1:Y\nnode-two:N',
    );
  });
});

describe('version', () => {
  it('matches package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(CORRAL_VERSION).toBe(pkg.version);
  });
});
