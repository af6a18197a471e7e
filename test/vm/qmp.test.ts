import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectQmp, qmpErrorCode, qmpLineBytesMax } from '../../src/vm/qmp.js';

/** A QMP peer scripted by the test: it greets, then hands every command to `answer`. */
type Answer = (
  command: { execute: string; arguments: Record<string, unknown>; id: number },
  peer: Socket,
) => void;

let dir: string;
let server: Server;
let path: string;

async function serve(answer: Answer, greeting = '{"QMP": {"version": {}, "capabilities": []}}\n') {
  server = createServer((peer) => {
    peer.write(greeting);
    let buffered = '';
    peer.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
        const command = JSON.parse(buffered.slice(0, end));
        buffered = buffered.slice(end + 1);
        if (command.execute === 'qmp_capabilities') peer.write(`{"return": {}, "id": ${command.id}}\n`);
        else answer(command, peer);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'corral-qmp-'));
  path = join(dir, 'qmp.sock');
});

afterEach(async () => {
  await new Promise((resolve) => (server?.listening ? server.close(resolve) : resolve(undefined)));
  await rm(dir, { recursive: true, force: true });
});

describe('QMP client', () => {
  it('negotiates, then matches answers to commands by id, in any order', async () => {
    const held: [number, Socket][] = [];
    await serve((command, peer) => {
      held.push([command.id, peer]);
      if (held.length < 2) return;
      // Answer the second command first.
      for (const [id, p] of held.reverse()) p.write(`{"return": {"id": ${id}}, "id": ${id}}\n`);
    });
    const qmp = await connectQmp(path, { timeoutMs: 1_000 });
    const [first, second] = await Promise.all([qmp.execute('query-status'), qmp.execute('query-kvm')]);
    expect(first).not.toEqual(second);
    expect((first as { id: number }).id).toBeLessThan((second as { id: number }).id);
    qmp.close();
    await qmp.closed;
    expect(qmp.isClosed()).toBe(true);
  });

  it('turns QMP errors into CorralErrors with the class and description', async () => {
    await serve((command, peer) =>
      peer.write(
        `${JSON.stringify({ error: { class: 'DeviceNotFound', desc: 'Device nic9 not found' }, id: command.id })}\n`,
      ),
    );
    const qmp = await connectQmp(path, { timeoutMs: 1_000 });
    await expect(qmp.execute('device_del', { id: 'nic9' })).rejects.toMatchObject({
      name: 'CorralError',
      code: 'not_found',
      message: 'QMP device_del failed (DeviceNotFound): Device nic9 not found',
    });
    expect(qmpErrorCode('GenericError')).toBe('internal');
    expect(qmpErrorCode('DeviceNotActive')).toBe('conflict');
    qmp.close();
  });

  it('times a command out and drops its late answer', async () => {
    let late: (() => void) | undefined;
    await serve((command, peer) => {
      if (command.execute === 'slow') late = () => peer.write(`{"return": "late", "id": ${command.id}}\n`);
      else peer.write(`{"return": "quick", "id": ${command.id}}\n`);
    });
    const qmp = await connectQmp(path, { timeoutMs: 1_000 });
    await expect(qmp.execute('slow', {}, 50)).rejects.toMatchObject({
      code: 'timeout',
      message: /slow .* 50 ms/,
    });
    late?.();
    expect(await qmp.execute('quick')).toBe('quick');
    qmp.close();
  });

  it('hands events to whoever waits for them', async () => {
    await serve((command, peer) => {
      peer.write(`{"return": {}, "id": ${command.id}}\n`);
      peer.write('{"event": "POWERDOWN", "timestamp": {"seconds": 1, "microseconds": 0}}\n');
      peer.write(
        '{"event": "RESET", "data": {"guest": true, "reason": "guest-reset"}, "timestamp": {"seconds": 2, "microseconds": 500000}}\n',
      );
    });
    const qmp = await connectQmp(path, { timeoutMs: 1_000 });
    const reset = qmp.nextEvent('RESET', 1_000);
    await qmp.execute('send-key');
    expect(await reset).toEqual({
      event: 'RESET',
      data: { guest: true, reason: 'guest-reset' },
      timestampMs: 2_500,
    });
    await expect(qmp.nextEvent('SHUTDOWN', 50)).rejects.toMatchObject({ code: 'timeout' });
    qmp.close();
  });

  it('fails what is pending when QEMU goes away', async () => {
    await serve((_command, peer) => peer.destroy());
    const qmp = await connectQmp(path, { timeoutMs: 1_000 });
    const shutdown = qmp.nextEvent('SHUTDOWN', 1_000);
    await expect(qmp.execute('quit')).rejects.toMatchObject({ code: 'unavailable', message: /closed/ });
    await expect(shutdown).rejects.toMatchObject({ code: 'unavailable' });
    await expect(qmp.execute('query-status')).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('refuses a peer that is not QMP, and a socket nobody serves', async () => {
    await expect(connectQmp(path, { timeoutMs: 1_000 })).rejects.toMatchObject({
      code: 'unavailable',
      message: /accepts no connection \(ENOENT\)/,
    });
    await serve(() => {}, 'SSH-2.0-OpenSSH\n');
    await expect(connectQmp(path, { timeoutMs: 1_000 })).rejects.toMatchObject({ code: 'bad_frame' });
  });

  it('gives up on a peer that never greets, and on a line without end', async () => {
    await serve(() => {}, '');
    await expect(connectQmp(path, { timeoutMs: 100 })).rejects.toMatchObject({ code: 'timeout' });
    await new Promise((resolve) => server.close(resolve));
    await serve(() => {}, `{"QMP": "${'x'.repeat(qmpLineBytesMax)}`);
    await expect(connectQmp(path, { timeoutMs: 5_000 })).rejects.toMatchObject({ code: 'frame_too_large' });
  });
});
