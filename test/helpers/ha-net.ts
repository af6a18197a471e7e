import { randomBytes } from 'node:crypto';
import { netnsMissing, runTool } from '../../simulations/partition-net.js';
import { CorralError } from '../../src/common/errors.js';

/**
 * One network namespace per node, for the HA proofs (bench:ha, test/vm/ha-kvm.test.ts): each node's daemon,
 * its fence watchdog and its QEMUs run in a namespace of their own, whose `eth0` is one end of a veth pair;
 * the other ends hang on a bridge in a namespace of their own (the switch). Node i has 10.231.47.(i + 1)/24 on
 * its eth0, an address that exists only inside these namespaces: nothing touches the host's network, and the
 * host's loopback is not used.
 *
 * Faults, as the issue names them:
 * - `cut`: iptables in the node's namespace drops everything in and out of its eth0 (its loopback and the
 *   unix sockets in its data dir still work, so its QEMUs run on);
 * - power loss: every process in the namespace is killed with SIGKILL at once (daemon, watchdog, QEMUs).
 *
 * Everything is removed by close(), which kills what still runs in the namespaces first; it is safe to call
 * twice and after a failed open().
 */

const SUBNET = '10.231.47';
const NIC = 'eth0';

/** Why the namespaces cannot be made here (not root, no ip/iptables, no bridge or veth), or undefined. */
export async function haNetMissing(): Promise<string | undefined> {
  const missing = await netnsMissing();
  if (missing !== undefined) return missing;
  const probe = `corral-hap-${randomBytes(3).toString('hex')}`;
  try {
    await runTool('ip', ['netns', 'add', probe]);
    await runTool('ip', ['-n', probe, 'link', 'add', 'br0', 'type', 'bridge']);
    await runTool('ip', ['-n', probe, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb']);
    await runTool('ip', ['netns', 'exec', probe, 'iptables-restore'], rules([]));
    return undefined;
  } catch (error) {
    return `cannot make a namespace with a bridge, a veth pair and iptables: ${(error as Error).message}`;
  } finally {
    await runTool('ip', ['netns', 'del', probe]).catch(() => undefined);
  }
}

export class HaNet {
  private closed = false;

  private constructor(
    /** The namespace of each node, by index. */
    readonly namespaces: readonly string[],
    private readonly switchNs: string,
  ) {}

  /** Makes the switch and one namespace per node; on a failure removes what it made. */
  static async open(nodes: number): Promise<HaNet> {
    if (nodes > 200) throw new CorralError('bad_request', 'at most 200 nodes');
    const tag = randomBytes(3).toString('hex');
    const net = new HaNet(
      Array.from({ length: nodes }, (_, i) => `corral-ha-${tag}-n${i + 1}`),
      `corral-ha-${tag}-sw`,
    );
    try {
      await runTool('ip', ['netns', 'add', net.switchNs]);
      await runTool('ip', ['-n', net.switchNs, 'link', 'add', 'br0', 'type', 'bridge']);
      await runTool('ip', ['-n', net.switchNs, 'link', 'set', 'br0', 'up']);
      for (const [i, ns] of net.namespaces.entries()) {
        const port = `p${i + 1}`;
        await runTool('ip', ['netns', 'add', ns]);
        // Made inside the switch's namespace with its peer moved straight into the node's: the host's own
        // namespace never holds either end.
        await runTool('ip', [
          '-n',
          net.switchNs,
          'link',
          'add',
          port,
          'type',
          'veth',
          'peer',
          'name',
          NIC,
          'netns',
          ns,
        ]);
        await runTool('ip', ['-n', net.switchNs, 'link', 'set', port, 'master', 'br0', 'up']);
        await runTool('ip', ['-n', ns, 'addr', 'add', `${net.address(i)}/24`, 'dev', NIC]);
        await runTool('ip', ['-n', ns, 'link', 'set', NIC, 'up']);
        await runTool('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
        await runTool('ip', ['netns', 'exec', ns, 'iptables-restore'], rules([]));
      }
    } catch (error) {
      await net.close();
      throw error;
    }
    return net;
  }

  address(index: number): string {
    return `${SUBNET}.${index + 1}`;
  }

  /** What a node's daemon runs under: it execs the daemon in its place, inside the node's namespace. */
  launcher(index: number): string[] {
    return ['ip', 'netns', 'exec', this.namespaces[index]!];
  }

  /** Drops every packet in and out of the node's eth0, in one iptables-restore. */
  async cut(index: number): Promise<void> {
    await runTool('ip', ['netns', 'exec', this.namespaces[index]!, 'iptables-restore'], rules(cutRules));
  }

  async heal(index: number): Promise<void> {
    await runTool('ip', ['netns', 'exec', this.namespaces[index]!, 'iptables-restore'], rules([]));
  }

  /** The processes that run in the node's namespace now. */
  async pids(index: number): Promise<number[]> {
    const out = await runTool('ip', ['netns', 'pids', this.namespaces[index]!]);
    return out
      .split(/\s+/)
      .filter((word) => /^\d+$/.test(word))
      .map(Number);
  }

  /** Removes the namespaces, killing what still runs in them first; safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [i, ns] of this.namespaces.entries()) {
      const pids = await this.pids(i).catch(() => []);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
      await runTool('ip', ['netns', 'del', ns]).catch(() => undefined);
    }
    await runTool('ip', ['netns', 'del', this.switchNs]).catch(() => undefined);
  }
}

const cutRules = [`-A INPUT -i ${NIC} -j DROP`, `-A OUTPUT -o ${NIC} -j DROP`];

/** The whole filter table of a namespace of ours (iptables-restore without --noflush replaces it). */
function rules(lines: readonly string[]): string {
  return [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ...lines,
    'COMMIT',
    '',
  ].join('\n');
}
