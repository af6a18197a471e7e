import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../src/common/clock.js';
import { type Logger, silentLogger } from '../../src/common/log.js';
import { waitFor } from '../../src/common/wait.js';
import type { CallerCheck } from '../../src/peer/callers.js';
import { createHost, type Host } from '../../src/peer/host.js';
import { loadOrCreateIdentity } from '../../src/peer/identity.js';
import { Libp2pTransport } from '../../src/peer/libp2p-transport.js';

/** Test peers judge no caller: what they serve is not what their tests are about. */
const admitsEveryCall: CallerCheck = () => undefined;

/**
 * A libp2p peer inside the test process, built from the daemon's own parts, with or without a join token;
 * with a fresh identity, or the key in `dataDir` (a daemon's, to act as that node).
 */
export async function startTestPeer(
  token?: (self: string) => Promise<string>,
  dataDir?: string,
): Promise<{
  host: Host;
  transport: Libp2pTransport;
}> {
  const identity = await loadOrCreateIdentity(
    dataDir ?? (await mkdtemp(join(tmpdir(), 'corral-test-peer-'))),
  );
  const joinToken = token ? await token(identity.nodeId) : undefined;
  const host = await createHost({
    identity,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    gate: {
      directory: { isMember: () => false, acceptsAnyone: () => false, clusterSecret: () => undefined },
      clock: systemClock,
      log: silentLogger,
      joinToken: () => joinToken,
    },
  });
  return { host, transport: new Libp2pTransport(host, silentLogger, admitsEveryCall) };
}

/**
 * A peer that lets anyone in (the gate is not what its tests are about), or only the peers `admits` names,
 * on the given address; the same data dir gives the same identity, so a peer can come back elsewhere as itself.
 * Its transport judges callers with `check` (by default it admits every call) and logs to `log`.
 */
export async function startOpenPeer(
  options: {
    readonly dataDir?: string;
    readonly listen?: string;
    readonly admits?: (peer: string) => boolean;
    readonly check?: CallerCheck;
    readonly log?: Logger;
  } = {},
): Promise<Libp2pTransport> {
  const identity = await loadOrCreateIdentity(
    options.dataDir ?? (await mkdtemp(join(tmpdir(), 'corral-open-peer-'))),
  );
  const host = await createHost({
    identity,
    listen: [options.listen ?? '/ip4/127.0.0.1/tcp/0'],
    gate: {
      directory: {
        isMember: options.admits ?? (() => true),
        acceptsAnyone: () => options.admits === undefined,
        clusterSecret: () => undefined,
      },
      clock: systemClock,
      log: silentLogger,
      joinToken: () => undefined,
    },
  });
  return new Libp2pTransport(host, options.log ?? silentLogger, options.check ?? admitsEveryCall);
}

/** Waits until a daemon's log has a line matching the pattern (logs are written asynchronously). */
export function waitForLog(logPath: string, pattern: RegExp, what: string): Promise<string> {
  return waitFor(
    async () => (await readFile(logPath, 'utf8')).split('\n').find((line) => pattern.test(line)),
    { timeoutMs: 10_000, what },
  );
}
