import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createMonitoringServer } from '../../../src/api/monitoring/server.js';
import { CorralError } from '../../../src/common/errors.js';
import { diskstatsReport } from '../../../src/membership/monitor-reports.js';
import { fakeDaemon, NOW_MS, reportsAnswer, silentLogger } from './fixtures.js';

/**
 * Ganeti 3.0.2's mond, captured (test/api/monitoring/golden/, a copy of the shared reference captures), against
 * Corral's answers to the same paths: same status, same JSON structure, the same 404 texts and headers.
 */

interface Golden {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
  readonly request: { readonly method: string; readonly path: string };
}

const goldenDir = fileURLToPath(new URL('./golden/', import.meta.url));
const goldens = readdirSync(goldenDir)
  .filter((file) => file.endsWith('.json'))
  .sort()
  .map((file) => ({ file, golden: JSON.parse(readFileSync(goldenDir + file, 'utf8')) as Golden }));

function goldenBody(file: string): unknown {
  const found = goldens.find((g) => g.file === file);
  if (found === undefined) throw new Error(`no golden file ${file}`);
  return found.golden.body;
}

/**
 * The reports each captured mond had: the off-drbd-diskstats mond's are its /1/report/all; the default mond
 * also had diskstats and drbd (whose reports failed at request time in the capture), here given realistic data.
 */
const scenarioReports: Record<'default' | 'off-drbd-diskstats', unknown[]> = {
  'off-drbd-diskstats': goldenBody('off-drbd-diskstats-report-all.json') as unknown[],
  default: [
    goldenBody('default-report-default-cpu-avg-load.json'),
    goldenBody('default-report-default-xen-cpu-avg-load.json'),
    diskstatsReport('   8       0 sda 4823 1020 311098 2345 9823 4410 734002 88123 0 40213 90468\n', NOW_MS),
    {
      name: 'drbd',
      version: 'B',
      format_version: 1,
      timestamp: NOW_MS * 1e6,
      category: 'storage',
      kind: 1,
      data: {
        status: { code: 0, message: '' },
        versionInfo: { version: '8.4.11', api: '1', proto: '86-101' },
        deviceInfos: [],
      },
    },
    goldenBody('default-report-storage-lv.json'),
  ],
};

function scenarioOf(file: string): keyof typeof scenarioReports {
  return file.startsWith('off-drbd-diskstats-') ? 'off-drbd-diskstats' : 'default';
}

/** The structure of a JSON value: key sets, value types and nesting; array elements as the set of their shapes. */
function shapeOf(value: unknown): unknown {
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    const shapes = [...new Set(value.map((element) => JSON.stringify(shapeOf(element))))].sort();
    return { array: shapes };
  }
  if (typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, child]) => [key, shapeOf(child)]),
    );
  return typeof value;
}

function withoutTimestamps(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (key, child: unknown) => (key === 'timestamp' ? undefined : child)),
  );
}

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe("Corral's mond answers the captured Ganeti paths as Ganeti did", () => {
  it.each(goldens.filter(({ golden }) => golden.status === 200))(
    '$file: 200 with the same JSON structure',
    async ({ file, golden }) => {
      const daemon = fakeDaemon({
        'monitor-reports': { node: 'node1', reports: scenarioReports[scenarioOf(file)] },
      });
      app = createMonitoringServer({ call: daemon.call, log: silentLogger });
      const response = await app.inject({ method: 'GET', url: golden.request.path });
      expect(response.statusCode).toBe(200);
      const body: unknown = response.json();
      expect(shapeOf(body)).toEqual(shapeOf(golden.body));
      // The canned reports are the captured ones, so the values match too, but for when each was sampled.
      if (file.endsWith('list-collectors.json') || file.endsWith('root.json') || file.startsWith('off-drbd'))
        expect(withoutTimestamps(body)).toEqual(withoutTimestamps(golden.body));
      expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    },
  );

  it.each(goldens.filter(({ golden }) => golden.status === 404))(
    "$file: 404 with mond's text and no Content-Type",
    async ({ file, golden }) => {
      const daemon = fakeDaemon({
        'monitor-reports': { node: 'node1', reports: scenarioReports[scenarioOf(file)] },
      });
      app = createMonitoringServer({ call: daemon.call, log: silentLogger });
      const response = await app.inject({ method: 'GET', url: golden.request.path });
      expect(response.statusCode).toBe(404);
      expect(response.payload).toBe(golden.body);
      expect(response.headers['content-type']).toBe(golden.headers['content-type']);
      expect(golden.headers['content-type']).toBeUndefined();
    },
  );

  it.each(goldens.filter(({ golden }) => golden.status === 500))(
    '$file: 500 when the reports cannot be had (Ganeti: its collector threw), with a JSON error body',
    async ({ golden }) => {
      const daemon = fakeDaemon({
        'monitor-reports': new CorralError('unavailable', 'the daemon is shutting down'),
      });
      app = createMonitoringServer({ call: daemon.call, log: silentLogger });
      const response = await app.inject({ method: 'GET', url: golden.request.path });
      expect(response.statusCode).toBe(golden.status);
      expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(response.json()).toEqual({
        code: 500,
        message: 'the daemon is shutting down',
        explain: 'Server got itself in trouble',
      });
    },
  );

  it('covers every captured file', () => {
    expect(goldens.length).toBe(21);
    expect(goldens.every(({ golden }) => [200, 404, 500].includes(golden.status))).toBe(true);
  });
});

describe("mond's API over Corral's own collectors", () => {
  async function get(url: string, method: 'GET' | 'HEAD' = 'GET') {
    const daemon = fakeDaemon({ 'monitor-reports': reportsAnswer });
    app = createMonitoringServer({ call: daemon.call, log: silentLogger });
    return app.inject({ method, url });
  }

  it('lists each collector as [name, category, kind], null categories as "default"', async () => {
    const response = await get('/1/list/collectors');
    expect(response.json()).toEqual([
      ['cpu-avg-load', 'default', 0],
      ['inst-status', 'instance', 1],
      ['node-memory', 'default', 0],
      ['storage-dirs', 'storage', 1],
    ]);
  });

  it('reports one collector under its category, null ones under default', async () => {
    const memory = await get('/1/report/default/node-memory');
    expect(memory.statusCode).toBe(200);
    expect(memory.json()).toMatchObject({
      name: 'node-memory',
      category: null,
      kind: 0,
      version: 'B',
      format_version: 1,
      data: { mtotal: 16_384, mfree: 10_240, minstances: 256, mnode: 5_888 },
    });
    const status = await get('/1/report/instance/inst-status');
    expect(status.json()).toMatchObject({ name: 'inst-status', category: 'instance', kind: 1 });
  });

  it('gives /1/report/all every report, timestamps in integer nanoseconds', async () => {
    const response = await get('/1/report/all');
    expect(response.json()).toEqual(reportsAnswer.reports);
    expect(response.payload).toContain(`"timestamp":${NOW_MS}000000`);
  });

  it.each([
    ['/1/report/hypervisor/inst-status', 'Unable to produce a report for the requested resource'],
    ['/1/report/storage/node-memory', 'Unable to produce a report for the requested resource'],
    ['/1/report/bogus/node-memory', 'Unable to produce a report for the requested resource'],
    ['/1/report/default', 'Unable to produce a report for the requested resource'],
    ['/1/report', 'Unable to produce a report for the requested resource'],
    ['/1/list', 'Resource not found'],
    ['/1/list/nothing', 'Resource not found'],
    ['/1/nothing', 'Resource not found'],
    ['/3', 'Resource not found'],
  ])('%s: 404 %s', async (url, text) => {
    const response = await get(url);
    expect(response.statusCode).toBe(404);
    expect(response.payload).toBe(text);
    expect(response.headers['content-type']).toBeUndefined();
  });

  it('answers /1 with null, ignores a trailing slash and the query string (verbose=1)', async () => {
    expect((await get('/1')).payload).toBe('null');
    expect((await get('/1/')).payload).toBe('null');
    expect((await get('/1/list/collectors/')).statusCode).toBe(200);
    const verbose = await get('/1/report/default/cpu-avg-load?verbose=1');
    expect(verbose.json()).toMatchObject({ name: 'cpu-avg-load' });
  });

  it('serves HEAD like GET, without a body', async () => {
    const response = await get('/1/report/all', 'HEAD');
    expect(response.statusCode).toBe(200);
    expect(response.payload).toBe('');
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
  });
});
