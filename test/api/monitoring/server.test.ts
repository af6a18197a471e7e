import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createMonitoringServer, MOND_PORT } from '../../../src/api/monitoring/server.js';
import { CorralError } from '../../../src/common/errors.js';
import { fakeDaemon, healthyAnswers, recordingLogger, reportsAnswer, silentLogger } from './fixtures.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('the monitoring server when things go wrong', () => {
  it("listens on mond's port by default", () => {
    expect(MOND_PORT).toBe(1815);
  });

  it.each(['/metrics', '/1/report/all', '/1/list/collectors', '/1/report/default/cpu-avg-load'])(
    '%s: a control call that throws answers 500 with a JSON error, and the next request is served',
    async (url) => {
      const daemon = fakeDaemon({ ...healthyAnswers(), health: new Error('socket closed') });
      daemon.answers['monitor-reports'] = new Error('socket closed');
      const log = recordingLogger();
      app = createMonitoringServer({ call: daemon.call, log });
      const failed = await app.inject({ method: 'GET', url });
      expect(failed.statusCode).toBe(500);
      expect(failed.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(failed.json()).toEqual({
        code: 500,
        message: 'socket closed',
        explain: 'Server got itself in trouble',
      });
      expect(log.lines).toEqual([
        {
          level: 'error',
          fields: { method: 'GET', url, status: 500, reason: 'socket closed' },
          message: 'monitoring: request failed',
        },
      ]);

      daemon.answers = healthyAnswers();
      const served = await app.inject({ method: 'GET', url });
      expect(served.statusCode).toBe(200);
      expect(log.lines.filter((line) => line.level !== 'debug')).toHaveLength(1);
    },
  );

  it('answers 500 when the daemon gives a configuration without its shape', async () => {
    const daemon = fakeDaemon({ ...healthyAnswers(), config: { self: 'peer-n1', config: { serial: 'x' } } });
    app = createMonitoringServer({ call: daemon.call, log: silentLogger });
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toMatchObject({ code: 500 });
  });

  it.each(['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const)(
    '%s gets 405 with Allow: GET, HEAD, on known and unknown paths alike',
    async (method) => {
      const log = recordingLogger();
      app = createMonitoringServer({ call: fakeDaemon(healthyAnswers()).call, log });
      for (const url of ['/', '/metrics', '/1/report/all', '/nonexistent']) {
        const response = await app.inject({
          method,
          url,
          ...(method !== 'OPTIONS' && { payload: { ask: 'nothing' } }),
        });
        expect(response.statusCode).toBe(405);
        expect(response.headers.allow).toBe('GET, HEAD');
        expect(response.json()).toMatchObject({ code: 405 });
      }
      expect(log.lines.map((line) => [line.level, line.message, line.fields.status])).toEqual(
        Array(4).fill(['info', 'monitoring: refused', 405]),
      );
    },
  );

  it('logs one line per refused request and none at info for served ones', async () => {
    const log = recordingLogger();
    app = createMonitoringServer({ call: fakeDaemon(healthyAnswers()).call, log });
    await app.inject({ method: 'GET', url: '/' });
    await app.inject({ method: 'GET', url: '/metrics' });
    await app.inject({ method: 'GET', url: '/nonexistent' });
    const loud = log.lines.filter((line) => line.level !== 'debug');
    expect(loud).toEqual([
      {
        level: 'info',
        fields: { method: 'GET', url: '/nonexistent', status: 404 },
        message: 'monitoring: refused',
      },
    ]);
    expect(log.lines.filter((line) => line.level === 'debug')).toHaveLength(2);
  });

  it('leaves out reports without Ganeti’s shape, and says so', async () => {
    const log = recordingLogger();
    const daemon = fakeDaemon({
      'monitor-reports': { node: 'n1', reports: [...reportsAnswer.reports, { name: 'broken' }] },
    });
    app = createMonitoringServer({ call: daemon.call, log });
    const response = await app.inject({ method: 'GET', url: '/1/list/collectors' });
    expect(response.json()).toHaveLength(reportsAnswer.reports.length);
    expect(log.lines.filter((line) => line.level === 'warn')).toHaveLength(1);
  });

  it('keeps the default prom-client registry empty: each server has its own', async () => {
    const { register } = await import('prom-client');
    const first = createMonitoringServer({ call: fakeDaemon(healthyAnswers()).call, log: silentLogger });
    const second = createMonitoringServer({ call: fakeDaemon(healthyAnswers()).call, log: silentLogger });
    expect((await first.inject({ url: '/metrics' })).statusCode).toBe(200);
    expect((await second.inject({ url: '/metrics' })).statusCode).toBe(200);
    expect(register.getMetricsAsArray()).toEqual([]);
    await Promise.all([first.close(), second.close()]);
  });

  it('refuses an unknown raft-status failure rather than hiding it', async () => {
    const daemon = fakeDaemon({
      ...healthyAnswers(),
      'raft-status': new CorralError('timeout', 'raft is stuck'),
    });
    app = createMonitoringServer({ call: daemon.call, log: silentLogger });
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toMatchObject({ message: 'raft is stuck' });
  });
});
