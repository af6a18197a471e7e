import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { CorralError } from '../src/common/errors.js';
import { blockedPeers, type Link, range } from './partition-links.js';

/** Node i listens on 127.0.0.(FIRST_HOST + i); the range 240–254 is kept for these simulations. */
export const FIRST_HOST = 240;
export const MAX_NODES = 15;
const CHAIN = 'CORRAL-PART';

export type PartitionMode = 'netns' | 'gater';

/** What the gater needs of a running node: its peer ID and a way to ask its daemon. */
export interface GatedNode {
  readonly id: string;
  block(peers: readonly string[]): Promise<void>;
}

/** How a simulation cuts links between its nodes. */
export interface PartitionNet {
  readonly mode: PartitionMode;
  /** Why this mode was chosen, for the run's first line. */
  readonly reason: string;
  /** What each daemon is started under (`ip netns exec NS`), if anything. */
  readonly launcher: readonly string[] | undefined;
  /** Puts exactly these links in place, replacing the previous ones. */
  apply(links: readonly Link[], nodes: readonly GatedNode[]): Promise<void>;
  /** Removes what the net made (the namespace); safe to call twice. */
  close(): Promise<void>;
}

export function hostAddress(index: number): string {
  return `127.0.0.${FIRST_HOST + index}`;
}

/**
 * The namespace and iptables when run as root with both tools present, the connection gater otherwise; a
 * mode asked for by name is used or refused with the reason.
 */
export async function openPartitionNet(nodes: number, wanted?: PartitionMode): Promise<PartitionNet> {
  if (nodes > MAX_NODES)
    throw new CorralError('bad_request', `at most ${MAX_NODES} nodes (addresses 127.0.0.240-254)`);
  const missing = await netnsMissing();
  if (wanted === 'gater') return gaterNet('asked for');
  if (missing === undefined) return openNetns(nodes);
  if (wanted === 'netns') throw new CorralError('unavailable', `cannot partition with iptables: ${missing}`);
  return gaterNet(`the namespace path is not usable: ${missing}`);
}

/** Why the namespace path cannot run here, or undefined when it can. */
export async function netnsMissing(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'not running as root';
  for (const tool of ['ip', 'iptables-restore']) {
    const found = await runTool('sh', ['-c', `command -v ${tool}`]).then(
      () => true,
      () => false,
    );
    if (!found) return `${tool} is not installed (apt-get install iproute2 iptables)`;
  }
  return undefined;
}

function gaterNet(reason: string): PartitionNet {
  return {
    mode: 'gater',
    reason,
    launcher: undefined,
    async apply(links, nodes) {
      // A libp2p connection carries both ways, so a link cut one way cuts the pair's connection both ways.
      const blocked = blockedPeers(links, nodes.length);
      await Promise.all(
        nodes.map((node, i) => node.block((blocked[i] ?? []).map((peer) => nodes[peer]!.id))),
      );
    },
    async close() {},
  };
}

async function openNetns(nodes: number): Promise<PartitionNet> {
  const name = `corral-part-${randomBytes(4).toString('hex')}`;
  const inside = ['ip', 'netns', 'exec', name];
  await runTool('ip', ['netns', 'add', name]);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await runTool('ip', ['netns', 'del', name]);
  };
  try {
    await runTool(inside[0]!, [...inside.slice(1), 'ip', 'link', 'set', 'lo', 'up']);
    for (const i of range(nodes))
      await runTool(inside[0]!, [
        ...inside.slice(1),
        'ip',
        'addr',
        'add',
        `${hostAddress(i)}/32`,
        'dev',
        'lo',
      ]);
    // Dropped on input: the sender sees silence, as across a real partition (an output drop fails at once).
    await restore(inside, [`:${CHAIN} - [0:0]`, `-A INPUT -j ${CHAIN}`]);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    mode: 'netns',
    reason: `root: namespace ${name}, iptables`,
    launcher: inside,
    async apply(links) {
      await restore(inside, [
        `-F ${CHAIN}`,
        ...links.map(
          ({ from, to }) => `-A ${CHAIN} -s ${hostAddress(from)}/32 -d ${hostAddress(to)}/32 -j DROP`,
        ),
      ]);
    },
    close,
  };
}

/** Applies rule lines in one iptables-restore call, so a partition changes at once. */
function restore(inside: readonly string[], rules: readonly string[]): Promise<string> {
  const input = ['*filter', ...rules, 'COMMIT', ''].join('\n');
  return runTool(inside[0]!, [...inside.slice(1), 'iptables-restore', '--noflush'], input);
}

/** Runs a tool to its end: its output, or a CorralError with the output when it fails. */
export function runTool(command: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve(output)
        : reject(
            new CorralError('internal', `${command} ${args.join(' ')} failed (${code}): ${output.trim()}`),
          ),
    );
    // A tool that exits before reading its input reports why through its exit code, not EPIPE.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}
