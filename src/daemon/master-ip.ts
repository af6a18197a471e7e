import { execFile } from 'node:child_process';
import { ipVersion, type MasterIpSpec } from '../cluster/master-ip.js';
import { asCorralError, CorralError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { DEFAULT_TOOL_PATH, runTool } from '../storage/run-tool.js';

/**
 * The floating master IP on this node: added when this node becomes the master, removed when it stops being
 * it, as Ganeti's master-ip-setup script does (`ip address add|del`, then gratuitous ARP so that neighbours
 * learn the new holder at once).
 */

export interface MasterIpDevice {
  /** Adds the address; says what it did. Adding one already there changes nothing. */
  start(spec: MasterIpSpec): Promise<string>;
  /** Removes the address; says what it did. Removing one not there changes nothing. */
  stop(spec: MasterIpSpec): Promise<string>;
}

const IP_HINT = 'install iproute2';

/** Corral's own setup: `ip` on the node's network device. */
export function ipCommandDevice(toolPath: string = DEFAULT_TOOL_PATH): MasterIpDevice {
  const ip = (args: readonly string[]) => runTool('ip', args, { toolPath, installHint: IP_HINT });
  const cidr = (spec: MasterIpSpec) => `${spec.address}/${spec.netmask}`;
  /** The devices that hold the address now (with any prefix). */
  const holders = async (spec: MasterIpSpec): Promise<{ device: string; cidr: string }[]> => {
    const out = await ip(['-o', `-${ipVersion(spec.address)}`, 'address', 'show']);
    return out.split('\n').flatMap((line) => {
      // "2: eth0    inet 10.0.0.5/24 brd … scope global eth0:0\ …"
      const match = /^\d+:\s+(\S+)\s+inet6?\s+(\S+)/.exec(line);
      if (match === null || match[2]!.split('/')[0] !== spec.address) return [];
      return [{ device: match[1]!.replace(/@.*$/, ''), cidr: match[2]! }];
    });
  };
  return {
    async start(spec) {
      const held = await holders(spec);
      if (held.some((entry) => entry.device === spec.netdev && entry.cidr === cidr(spec)))
        return `${cidr(spec)} is already on ${spec.netdev}`;
      if (held.length > 0)
        throw new CorralError(
          'conflict',
          `${spec.address} is configured on ${held.map((entry) => `${entry.device} as ${entry.cidr}`).join(', ')} of this node, not as ${cidr(spec)} on ${spec.netdev}; remove it there first`,
        );
      // Ganeti labels it <dev>:0, which only IPv4 has and only a short device name leaves room for.
      const label =
        ipVersion(spec.address) === 4 && spec.netdev.length <= 13 ? ['label', `${spec.netdev}:0`] : [];
      await ip(['address', 'add', cidr(spec), 'dev', spec.netdev, ...label]);
      const announced = await announce(spec, toolPath);
      return `added ${cidr(spec)} on ${spec.netdev}${announced}`;
    },
    async stop(spec) {
      const held = await holders(spec);
      const here = held.find((entry) => entry.device === spec.netdev);
      if (here === undefined)
        return held.length > 0
          ? `${spec.address} is not on ${spec.netdev} (it is on ${held.map((entry) => entry.device).join(', ')}); left as it is`
          : `${spec.address} is not configured on this node`;
      await ip(['address', 'del', here.cidr, 'dev', spec.netdev]);
      return `removed ${here.cidr} from ${spec.netdev}`;
    },
  };
}

/**
 * Gratuitous ARP (IPv4) or an unsolicited neighbour advertisement (IPv6), as Ganeti's script sends; best
 * effort, as there: without the tool, neighbours learn the new holder when their cache entry expires.
 */
async function announce(spec: MasterIpSpec, toolPath: string): Promise<string> {
  const [tool, args] =
    ipVersion(spec.address) === 4
      ? ['arping', ['-q', '-U', '-c', '3', '-I', spec.netdev, '-s', spec.address, spec.address]]
      : ['ndisc6', ['-q', '-r', '3', spec.address, spec.netdev]];
  try {
    await runTool(tool, args, {
      toolPath,
      installHint: `install ${tool === 'arping' ? 'iputils-arping' : 'ndisc6'}`,
    });
    return `; announced with ${tool}`;
  } catch (error) {
    return `; not announced (${asCorralError(error).message})`;
  }
}

/** The administrator's script (Ganeti's --use-external-mip-script): `SCRIPT start|stop` with Ganeti's variables. */
export function scriptDevice(script: string): MasterIpDevice {
  const run = (spec: MasterIpSpec, action: 'start' | 'stop') =>
    new Promise<string>((resolve, reject) => {
      const env = {
        PATH: DEFAULT_TOOL_PATH,
        MASTER_NETDEV: spec.netdev,
        MASTER_IP: spec.address,
        MASTER_NETMASK: String(spec.netmask),
        CLUSTER_IP_VERSION: String(ipVersion(spec.address)),
      };
      execFile(
        script,
        [action],
        { env, timeout: 60_000, killSignal: 'SIGKILL', encoding: 'utf8' },
        (error, stdout, stderr) => {
          const said = `${stdout}${stderr}`.trim().split('\n').join('; ').slice(0, 500);
          if (error === null) resolve(said || `${script} ${action} succeeded`);
          else
            reject(
              new CorralError(
                'unavailable',
                `${script} ${action} failed: ${said || ((error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : error.message)}`,
              ),
            );
        },
      );
    });
  return { start: (spec) => run(spec, 'start'), stop: (spec) => run(spec, 'stop') };
}

const same = (a: MasterIpSpec | undefined, b: MasterIpSpec | undefined) =>
  a?.address === b?.address &&
  a?.netmask === b?.netmask &&
  a?.netdev === b?.netdev &&
  a?.external === b?.external;

/**
 * Keeps this node holding the address it should: the cluster's while it is the master (and the address was
 * not deactivated), none otherwise. Changes run one at a time; each call brings the node to what it asks.
 * What a node held before a restart is not known, so the first change also removes the configured address.
 */
export class MasterIpKeeper {
  /** What this node holds; 'unknown' until a change succeeded (a crash may have left one behind). */
  private held: MasterIpSpec | undefined | 'unknown' = 'unknown';
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly deps: {
      readonly device: (spec: MasterIpSpec) => MasterIpDevice;
      readonly log: Logger;
    },
  ) {}

  /** Holds `wanted` (undefined: none); `configured` is the cluster's address, to clean up after a restart. */
  reconcile(wanted: MasterIpSpec | undefined, configured: MasterIpSpec | undefined): Promise<string[]> {
    const next = this.queue.then(() => this.apply(wanted, configured));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async apply(
    wanted: MasterIpSpec | undefined,
    configured: MasterIpSpec | undefined,
  ): Promise<string[]> {
    const { held } = this;
    if (held !== 'unknown' && same(held, wanted)) return [];
    // Before the configuration is known (a restarted daemon replaying its log) there is nothing to clean up
    // yet, and nothing learnt: the next change, with the configuration, cleans up.
    if (held === 'unknown' && configured === undefined && wanted === undefined) return [];
    const said: string[] = [];
    this.held = 'unknown';
    try {
      const stale = held === 'unknown' ? configured : held;
      if (stale !== undefined && !same(stale, wanted)) said.push(await this.deps.device(stale).stop(stale));
      if (wanted !== undefined) said.push(await this.deps.device(wanted).start(wanted));
      this.held = wanted;
    } catch (error) {
      this.deps.log.warn({ err: asCorralError(error) }, 'could not set up the master IP');
      throw error;
    }
    for (const line of said) this.deps.log.info({ masterIp: wanted?.address ?? configured?.address }, line);
    return said;
  }
}
