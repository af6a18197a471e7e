import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/log.js';
import { connectDataPlane, DataPlaneServer } from '../../src/daemon/mirror-data-plane.js';

describe('the mirror data plane (TLS with a one-time pre-shared key)', () => {
  let server: DataPlaneServer | undefined;
  afterEach(async () => {
    await server?.stop();
  });

  it('carries frames both ways for the primary that shows the offer, once', async () => {
    server = new DataPlaneServer('127.0.0.1', 64 * 1024, silentLogger);
    await server.start();
    const { offer, connection } = server.offer();
    const primary = await connectDataPlane('127.0.0.1', offer, 64 * 1024);
    const secondary = await connection;
    primary.send(new Uint8Array([1, 2, 3]));
    const received = await secondary.frames[Symbol.asyncIterator]().next();
    expect([...received.value!]).toEqual([1, 2, 3]);
    secondary.send(new Uint8Array(40_000).fill(9));
    const answer = await primary.frames[Symbol.asyncIterator]().next();
    expect(answer.value!.byteLength).toBe(40_000);
    primary.close();
    // The offer was used: showing it again fails the handshake.
    await expect(connectDataPlane('127.0.0.1', offer, 64 * 1024)).rejects.toThrow(
      /cannot open the mirror data connection/,
    );
  });

  it('refuses a connection with the wrong key, and a frame over the cap', async () => {
    server = new DataPlaneServer('127.0.0.1', 1024, silentLogger);
    await server.start();
    const { offer, connection } = server.offer();
    await expect(connectDataPlane('127.0.0.1', { ...offer, key: new Uint8Array(32) }, 1024)).rejects.toThrow(
      /cannot open the mirror data connection/,
    );
    const primary = await connectDataPlane('127.0.0.1', offer, 1024);
    const secondary = await connection;
    primary.send(new Uint8Array(2048));
    await expect(secondary.frames[Symbol.asyncIterator]().next()).rejects.toThrow(/exceeds 1024/);
  });
});
