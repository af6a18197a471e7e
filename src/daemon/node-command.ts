import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type ConfigData, findNode } from '../cluster/config.js';
import {
  NODE_COMMAND_OUTPUT_BYTES,
  NODE_COMMAND_TIMEOUT_MS,
  type NodeCommandResult,
  nodeCommandProtocol,
} from '../cluster/node-command-protocol.js';
import { CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import type { Transport } from '../peer/transport.js';
import type { ControlHandlers } from './control-server.js';

/** What the command finds in its environment: a root login's basics, nothing of the daemon's own. */
const COMMAND_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  LANG: 'C.UTF-8',
  SHELL: '/bin/sh',
};
const TRUNCATED = '\n[output cut: more than 1 MiB]';

/**
 * Runs a shell command on this node, as the daemon's user (root), in its own process group so that a timeout
 * kills whatever it started; stdout and stderr come back together, as over SSH.
 */
export function runLocalCommand(
  command: string,
  timeoutMs = NODE_COMMAND_TIMEOUT_MS,
): Promise<NodeCommandResult> {
  const child = spawn('/bin/sh', ['-c', command], {
    cwd: '/',
    env: COMMAND_ENV,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const chunks: Buffer[] = [];
  let kept = 0;
  let truncated = false;
  const collect = (chunk: Buffer) => {
    const room = NODE_COMMAND_OUTPUT_BYTES - kept;
    if (chunk.length > room) truncated = true;
    if (room <= 0) return;
    chunks.push(chunk.subarray(0, room));
    kept += Math.min(chunk.length, room);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }, timeoutMs);
  return new Promise((resolve) => {
    let startError: Error | undefined;
    child.once('error', (error) => {
      startError = error;
    });
    child.once('close', (exitCode: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      const output = Buffer.concat(chunks).toString('utf8') + (truncated ? TRUNCATED : '');
      resolve({
        ...(exitCode !== null && { exitCode }),
        ...(signal !== null && { signal }),
        timedOut,
        output: startError === undefined ? output : `cannot run /bin/sh: ${startError.message}`,
      });
    });
  });
}

/**
 * Writes a file copied from another node at its path here, with its mode, whole or not at all: under a
 * temporary name first, synced, then renamed over. Its directory must exist, as scp would need it to.
 */
export async function writeLocalFile(path: string, data: Uint8Array, mode: number): Promise<void> {
  const partial = `${dirname(path)}/.${path.split('/').pop()}.corral-copy-${randomBytes(4).toString('hex')}`;
  try {
    const handle = await open(partial, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CorralError('not_found', `${dirname(path)} does not exist on this node`);
    throw new CorralError('unavailable', `could not write ${path}: ${(error as Error).message}`);
  }
}

/** Serves the node-command protocol: what a member's local root asks of this node. */
export function serveNodeCommands(transport: Transport, log: Logger): void {
  transport.handle(nodeCommandProtocol, async (request, { from }) => {
    if (request.action === 'run') {
      log.warn(
        { from, command: request.command.slice(0, 200) },
        'running a command for a member (cluster command)',
      );
      return runLocalCommand(request.command);
    }
    log.warn({ from, path: request.path }, 'writing a file for a member (cluster copyfile)');
    await writeLocalFile(request.path, request.data, request.mode);
    return {};
  });
}

export interface NodeCommandControlDeps {
  readonly self: NodeId;
  readonly transport: Pick<Transport, 'request'>;
  /** This node's replica of the configuration: where the named node is. */
  config(): ConfigData | undefined;
}

/** The control socket's side: local root names a node; this daemon runs there itself or asks that node. */
export function nodeCommandControls(
  deps: NodeCommandControlDeps,
): Pick<ControlHandlers, 'node-command' | 'node-copy-file'> {
  const target = (name: string) => {
    const config = deps.config();
    if (config === undefined) throw new CorralError('unavailable', 'this node belongs to no cluster yet');
    const node = findNode(config, name);
    if (node === undefined) throw new CorralError('not_found', `node ${name} is not in the cluster`);
    if (node.offline) throw new CorralError('conflict', `${name} is offline; set it online first`);
    return node.id;
  };
  return {
    async 'node-command'(request) {
      const peer = target(request.node);
      if (peer === deps.self) return runLocalCommand(request.command);
      return deps.transport.request(peer, nodeCommandProtocol, { action: 'run', command: request.command });
    },
    async 'node-copy-file'(request) {
      const peer = target(request.node);
      if (peer === deps.self) throw new CorralError('bad_request', 'the file is on this node already');
      await deps.transport.request(peer, nodeCommandProtocol, {
        action: 'write-file',
        path: request.path,
        mode: request.mode,
        data: request.data,
      });
      return {};
    },
  };
}
