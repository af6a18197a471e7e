import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rapiContext } from '../../../src/api/rapi/context.js';
import { createRapiServer } from '../../../src/api/rapi/server.js';
import { parseUsers } from '../../../src/api/rapi/users.js';
import type { LogFields, Logger } from '../../../src/common/log.js';
import { silentLogger } from '../../../src/common/log.js';
import type { DaemonCall } from '../../../src/daemon/job-client.js';
import { config } from '../../cluster/query/fixture.js';

/** Hostile clients on a real socket: slow senders, path tricks, garbage. Each is refused and the server goes on. */
describe('RAPI against hostile clients', () => {
  const lines: { message: string; fields: LogFields }[] = [];
  const log: Logger = {
    ...silentLogger,
    info: (fields, message) => void lines.push({ fields, message }),
    warn: (fields, message) => void lines.push({ fields, message }),
    child: () => log,
  };
  const submitted: unknown[] = [];
  const call = (async (request: { op: string }) => {
    if (request.op === 'config') return { config, self: 'peer1' };
    if (request.op === 'master') {
      submitted.push(request);
      return { job: 1 };
    }
    return { nodes: [] };
  }) as DaemonCall;
  const app = createRapiServer({
    context: rapiContext(call),
    users: async () => parseUsers('admin pw write\n'),
    log,
    timeouts: { headersMs: 300, requestMs: 600 },
  });
  let port = 0;
  beforeAll(async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
  });
  afterAll(() => app.close());

  /** Sends raw bytes; resolves with what came back once the server closes the connection. */
  function raw(chunks: string[], keepOpen = true): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let answer = '';
      socket.on('data', (data) => {
        answer += data.toString('latin1');
      });
      socket.on('close', () => resolve(answer));
      socket.on('error', reject);
      for (const chunk of chunks) socket.write(chunk);
      if (!keepOpen) socket.end();
    });
  }

  const status = (answer: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
  const body = (answer: string) => answer.slice(answer.indexOf('\r\n\r\n') + 4);
  const stillServes = async () => {
    const answer = await raw(['GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    expect(status(answer)).toBe(200);
    expect(body(answer)).toBe('2');
  };

  it('drops a client that never finishes its headers, or its body', async () => {
    expect(await raw(['GET /version HTTP/1.1\r\nHost: x\r\nX-Slow: '])).not.toMatch(/^HTTP\/1\.1 200/);
    const slowBody = await raw([
      'PUT /2/instances/inst1/modify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n',
      `Authorization: Basic ${Buffer.from('admin:pw').toString('base64')}\r\n\r\n{"beparams":`,
    ]);
    expect(status(slowBody)).not.toBe(200);
    expect(submitted).toEqual([]);
    await stillServes();
  });

  it('answers path tricks with 404 in JSON, and garbage with 400', async () => {
    for (const path of [
      '/2/instances/..%2Finfo',
      '/2/instances/%2e%2e',
      '/2//instances',
      '/2/instances/a%00b',
      '/2/jobs/-1',
    ]) {
      const answer = await raw([`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`]);
      expect(status(answer), path).toBe(404);
      expect(JSON.parse(body(answer)), path).toMatchObject({ code: 404, message: 'Not Found' });
    }
    expect(status(await raw(['NOT HTTP AT ALL\r\n\r\n']))).toBe(400);
    expect(
      status(await raw([`GET /${'a'.repeat(70_000)} HTTP/1.1\r\nHost: x\r\n\r\n`])),
    ).toBeGreaterThanOrEqual(400);
    await stillServes();
  });

  it('logs one line per refusal, naming the request', async () => {
    lines.length = 0;
    await raw(['GET /2/nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    expect(lines).toHaveLength(1);
    expect(lines[0]?.fields).toMatchObject({ method: 'GET', path: '/2/nowhere', status: 404 });
  });
});
