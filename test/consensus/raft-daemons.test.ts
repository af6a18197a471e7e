import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CorralError } from '../../src/common/errors.js';
import { waitFor } from '../../src/common/wait.js';
import { DaemonProcess, startLocalCluster } from '../../src/daemon/local-cluster.js';

const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : new TextDecoder().decode(value);

/** Real daemons on loopback form a Raft group; the leader is killed with SIGKILL in the middle of writes. */
describe.each([3, 5])('a Raft group of %i daemons', (size) => {
  let baseDir: string;
  let daemons: DaemonProcess[] = [];

  afterEach(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    await rm(baseDir, { recursive: true, force: true });
  });

  async function leaderAmong(alive: DaemonProcess[]): Promise<DaemonProcess> {
    return waitFor(
      async () => {
        for (const daemon of alive) {
          const status = await daemon.call({ op: 'raft-status' }).catch(() => undefined);
          if (status?.role === 'leader' && status.voters.length === size) return daemon;
        }
        return undefined;
      },
      { timeoutMs: 30_000, what: 'a leader' },
    );
  }

  it('loses no acknowledged write when the leader is killed, and the killed node catches up', async () => {
    baseDir = await mkdtemp(join(tmpdir(), `corral-raft-${size}-`));
    daemons = await startLocalCluster({ baseDir, nodes: size, firstHost: size === 3 ? 100 : 110 });
    let leader = await leaderAmong(daemons);
    const acknowledged = new Map<string, string>();
    let killed: DaemonProcess | undefined;
    for (let i = 0; i < 200; i++) {
      const key = `key-${i % 50}`;
      const value = `value-${i}`;
      if (i === 80) {
        killed = leader;
        await killed.stop('SIGKILL');
      }
      // A client retries a write until some leader acknowledges it, as an etcd client would.
      await waitFor(
        async () => {
          try {
            await leader.call({ op: 'kv-put', key, value: new TextEncoder().encode(value) });
            return true;
          } catch (error) {
            if (!(error instanceof CorralError)) throw error;
            leader = await leaderAmong(daemons.filter((daemon) => daemon.isRunning()));
            return undefined;
          }
        },
        { timeoutMs: 30_000, what: `write ${i} to be acknowledged` },
      );
      acknowledged.set(key, value);
    }
    expect(killed).toBeDefined();
    expect(leader).not.toBe(killed);
    for (const [key, value] of acknowledged) {
      expect(text((await leader.call({ op: 'kv-get', key, linearizable: true })).value)).toBe(value);
    }

    if (killed === undefined) throw new Error('the leader was never killed');
    const restarted = await DaemonProcess.spawn(killed.options);
    daemons[daemons.indexOf(killed)] = restarted;
    const target = (await leader.call({ op: 'raft-status' })).commit;
    await waitFor(
      async () => ((await restarted.call({ op: 'raft-status' })).applied >= target ? true : undefined),
      { timeoutMs: 30_000, what: 'the restarted node to catch up' },
    );
    for (const [key, value] of acknowledged) {
      expect(text((await restarted.call({ op: 'kv-get', key, linearizable: false })).value)).toBe(value);
    }
  });
});
