import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CorralError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/log.js';
import { ControlConnection } from '../../src/daemon/control-client.js';
import type { ControlHandlers } from '../../src/daemon/control-server.js';
import { serveControl } from '../../src/daemon/control-server.js';
import { decodeFrame, encodeFrame } from '../../src/peer/codec.js';
import { replySchema } from '../../src/peer/envelope.js';
import { FrameReader, lengthPrefixed } from '../../src/peer/socket-framing.js';

const FRAME = 1024 * 1024;

/** Handlers for the two ops these tests ask: a write that counts, and one that is always refused. */
function handlers(state: { puts: string[] }): ControlHandlers {
  return {
    'kv-put': async (request) => {
      if (request.key === 'refused') throw new CorralError('not_leader', 'this node is not the leader');
      state.puts.push(request.key);
      return { revision: state.puts.length };
    },
  } as Partial<ControlHandlers> as ControlHandlers;
}

describe('the control socket carries one request after another', () => {
  let dir: string;
  let server: Server;
  let path: string;
  const state = { puts: [] as string[] };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'corral-control-'));
    path = join(dir, 'corral.sock');
    state.puts = [];
    server = await serveControl(path, handlers(state), silentLogger);
  });

  afterEach(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('answers each request on one connection in turn, a refused one included', async () => {
    const connection = await ControlConnection.open(path);
    try {
      const value = new Uint8Array([1]);
      const answers = await Promise.all([
        connection.call({ op: 'kv-put', key: 'a', value }),
        connection.call({ op: 'kv-put', key: 'refused', value }).catch((error: CorralError) => error.code),
        connection.call({ op: 'kv-put', key: 'b', value }),
      ]);
      expect(answers).toEqual([{ revision: 1 }, 'not_leader', { revision: 2 }]);
      expect(state.puts).toEqual(['a', 'b']);
      expect(connection.open).toBe(true);
    } finally {
      connection.close();
    }
  });

  it('answers a request it cannot read, then closes the connection and reads nothing after it', async () => {
    const socket: Socket = connect(path);
    await new Promise((resolve) => socket.once('connect', resolve));
    const reader = new FrameReader(socket, FRAME);
    socket.write(
      Buffer.concat([
        lengthPrefixed(encodeFrame({ op: 'no-such-op' }, FRAME)),
        lengthPrefixed(encodeFrame({ op: 'kv-put', key: 'after', value: new Uint8Array([1]) }, FRAME)),
      ]),
    );
    const answer = decodeFrame((await reader.next())!, replySchema, FRAME);
    expect(answer).toMatchObject({ ok: false, error: { code: 'bad_frame' } });
    expect(await reader.next()).toBeUndefined();
    expect(state.puts).toEqual([]);
    socket.destroy();
  });
});
