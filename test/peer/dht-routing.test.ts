import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/wait.js';
import type { Libp2pTransport } from '../../src/peer/libp2p-transport.js';
import { startOpenPeer } from '../helpers/test-peer.js';

const running: Libp2pTransport[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((transport) => transport.stop()));
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function peer(
  host: number,
  options: { dataDir?: string; admits?: (peer: string) => boolean } = {},
): Promise<Libp2pTransport> {
  const transport = await startOpenPeer({ listen: `/ip4/127.0.0.${host}/tcp/0`, ...options });
  running.push(transport);
  return transport;
}

/** Asks until the DHT answers: a peer enters the routing tables only once identify has run. */
function findThrough(transport: Libp2pTransport, target: Libp2pTransport, what: string) {
  return waitFor(
    async () => {
      const found = await transport.findPeer(target.self, { timeoutMs: 2_000 });
      return found.some((address) => target.listenAddresses().includes(address)) ? found : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 200, what },
  );
}

/** Three peers on 127.0.0.224–226: the one that knows a single bootstrap address finds the third by its ID. */
describe('kad-dht peer routing', () => {
  it("finds a peer's addresses by its ID through a bootstrap peer, without being connected to it", async () => {
    const [bootstrap, joiner, third] = [await peer(224), await peer(225), await peer(226)];
    await third.connect(bootstrap.listenAddresses()[0]!);
    await joiner.connect(bootstrap.listenAddresses()[0]!);
    expect(joiner.connectedPeers()).not.toContain(third.self);

    const found = await findThrough(joiner, third, 'the joiner to find the third peer through the DHT');
    expect(found).toContain(third.listenAddresses()[0]);
    expect(await joiner.connect(found[0]!)).toBe(third.self);
    expect(await joiner.ping(third.self, { timeoutMs: 5_000 })).toBeGreaterThanOrEqual(0);
  }, 40_000);

  it('finds a member that came back at another address, past the old addresses this node holds', async () => {
    const thirdDir = await mkdtemp(join(tmpdir(), 'corral-dht-'));
    dirs.push(thirdDir);
    const [bootstrap, joiner] = [await peer(224), await peer(225)];
    const before = await peer(226, { dataDir: thirdDir });
    const oldAddresses = before.listenAddresses();
    await joiner.connect(bootstrap.listenAddresses()[0]!);
    await joiner.connect(oldAddresses[0]!);
    await before.stop();
    running.splice(running.indexOf(before), 1);

    // The same identity on a new port; only the bootstrap peer, which it calls, learns where it is now.
    const after = await peer(226, { dataDir: thirdDir });
    expect(after.self).toBe(before.self);
    expect(after.listenAddresses()).not.toEqual(oldAddresses);
    await after.connect(bootstrap.listenAddresses()[0]!);

    const found = await findThrough(joiner, after, 'the joiner to find the moved peer through the DHT');
    expect(found).not.toContain(oldAddresses[0]);
    await joiner.keepConnected(after.self, oldAddresses);
    await waitFor(() => (joiner.connectedPeers().includes(after.self) ? true : undefined), {
      timeoutMs: 30_000,
      what: 'the joiner to reach the moved peer at its new address',
    });
  }, 60_000);
});
