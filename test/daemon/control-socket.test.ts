import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/wait.js';
import { CONTROL_REQUEST_TIMEOUT_MS, MAX_CONTROL_CONNECTIONS } from '../../src/daemon/control-server.js';
import { SECRET_FILES } from '../../src/daemon/file-modes.js';
import { cliEntryPoint, DaemonProcess } from '../../src/daemon/local-cluster.js';
import { IDENTITY_FILE } from '../../src/peer/identity.js';

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end, failed or not. */
async function ran(command: string, args: readonly string[], timeoutMs = 30_000): Promise<Ran> {
  try {
    const { stdout, stderr } = await run(command, [...args], { timeout: timeoutMs });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** The CLI as the unprivileged user nobody, with no supplementary groups. */
const asNobody = (...args: string[]) =>
  ran('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, ...args]);

/**
 * One real daemon on 127.0.0.64, run as root under umask 000 in a directory anyone may traverse: its control
 * socket and secrets must still be root's alone, its socket must shed idle clients, cluster verify must report
 * loosened modes, and it must refuse to start on a key others can read.
 */
describe.skipIf(!isRoot)(
  'the control socket and secret files (needs root: it runs clients as nobody)',
  () => {
    let baseDir: string;
    let dataDir: string;
    let daemon: DaemonProcess;
    const listen = '/ip4/127.0.0.64/tcp/7400';

    beforeAll(async () => {
      baseDir = await mkdtemp(join(tmpdir(), 'corral-control-'));
      // What umask 000 would give a fresh directory, all the way down.
      await chmod(baseDir, 0o755);
      dataDir = join(baseDir, 'node1');
      await mkdir(dataDir);
      await chmod(dataDir, 0o777);
      daemon = await DaemonProcess.spawn({
        dataDir,
        listen,
        name: 'node1',
        launcher: ['sh', '-c', 'umask 000 && exec "$0" "$@"'],
      });
    });

    afterAll(async () => {
      await daemon?.stop('SIGKILL');
      await rm(baseDir, { recursive: true, force: true });
    });

    const cli = (...args: string[]) =>
      ran(process.execPath, [cliEntryPoint(), ...args, '--socket', daemon.socketPath]);
    const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

    it('keeps the socket 0600 and the data dir 0700 under umask 000, so nobody cannot use it', async () => {
      expect((await modeOf(daemon.socketPath)).toString(8)).toBe('600');
      expect((await modeOf(dataDir)).toString(8)).toBe('700');
      expect(await readFile(daemon.logPath, 'utf8')).toContain(
        'the data dir was open to others; made it 0700',
      );
      for (const name of SECRET_FILES) {
        const mode = await modeOf(join(dataDir, name)).catch(() => undefined);
        if (mode !== undefined) expect(mode.toString(8), name).toBe('600');
      }
      const refused = await asNobody(
        cliEntryPoint(),
        'cluster',
        'init',
        'rogue.example',
        '--socket',
        daemon.socketPath,
      );
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/cannot reach the local daemon .*EACCES/);

      // With the data dir opened up, nobody reaches the socket itself (it can see it) and is still refused.
      await chmod(dataDir, 0o755);
      try {
        const seen = await asNobody(
          '-e',
          `require('node:fs').statSync(${JSON.stringify(daemon.socketPath)})`,
        );
        expect(seen.code, seen.stderr).toBe(0);
        const again = await asNobody(
          cliEntryPoint(),
          'cluster',
          'init',
          'rogue.example',
          '--socket',
          daemon.socketPath,
        );
        expect(again.code).toBe(1);
        expect(again.stderr).toMatch(/cannot reach the local daemon .*EACCES/);
      } finally {
        await chmod(dataDir, 0o700);
      }
      expect(await daemon.call({ op: 'config', consistent: false })).not.toHaveProperty('config');
    }, 60_000);

    it(`drops ${200} idle connections after ${CONTROL_REQUEST_TIMEOUT_MS} ms and keeps answering`, async () => {
      interface Client {
        readonly openedMs: number;
        closedMs?: number;
        received: Buffer;
      }
      const clients: Client[] = [];
      const sockets: Socket[] = [];
      await Promise.all(
        Array.from(
          { length: 200 },
          () =>
            new Promise<void>((resolve, reject) => {
              const socket = connect({ path: daemon.socketPath });
              sockets.push(socket);
              socket.once('connect', () => {
                const client: Client = { openedMs: performance.now(), received: Buffer.alloc(0) };
                clients.push(client);
                socket.on('data', (chunk: Buffer) => {
                  client.received = Buffer.concat([client.received, chunk]);
                });
                socket.once('close', () => {
                  client.closedMs = performance.now();
                });
                resolve();
              });
              socket.once('error', reject);
            }),
        ),
      );
      try {
        // Past the cap, a connection is answered at once that the daemon is busy, the CLI's included.
        await expect(daemon.status()).rejects.toThrow(/already serving 128 control connections/);
        const all = await waitFor(
          () => (clients.every((client) => client.closedMs !== undefined) ? clients : undefined),
          {
            timeoutMs: CONTROL_REQUEST_TIMEOUT_MS + 15_000,
            what: 'every idle connection to be dropped',
          },
        );
        const refused = all.filter((client) => client.received.byteLength > 0);
        const idle = all.filter((client) => client.received.byteLength === 0);
        expect(idle).toHaveLength(MAX_CONTROL_CONNECTIONS);
        expect(refused).toHaveLength(200 - MAX_CONTROL_CONNECTIONS);
        for (const client of refused) {
          expect(client.received.toString('latin1')).toContain('already serving 128 control connections');
          expect(client.closedMs! - client.openedMs).toBeLessThan(CONTROL_REQUEST_TIMEOUT_MS);
        }
        // The idle ones were held for the whole timeout, not a moment less (the daemon's clock starts later).
        for (const client of idle)
          expect(client.closedMs! - client.openedMs).toBeGreaterThanOrEqual(CONTROL_REQUEST_TIMEOUT_MS - 50);
      } finally {
        for (const socket of sockets) socket.destroy();
      }
      expect((await daemon.status()).name).toBe('node1');
      // Logged once per reason, not once per connection.
      const lines = (await readFile(daemon.logPath, 'utf8')).split('\n');
      expect(lines.filter((line) => line.includes('"reason":"idle"'))).toHaveLength(1);
      expect(lines.filter((line) => line.includes('"reason":"busy"'))).toHaveLength(1);
    }, 60_000);

    it('creates everything with umask 077, and cluster verify reports secrets and dirs others may use', async () => {
      expect((await cli('cluster', 'init', 'modes.example')).code).toBe(0);
      await waitFor(
        async () => ((await daemon.call({ op: 'config', consistent: true })).config ? true : undefined),
        {
          timeoutMs: 10_000,
          what: 'the cluster to be founded',
        },
      );
      // daemon.log is the test's own, made before the daemon started.
      const loose = await looseEntries(dataDir, new Set([join(dataDir, 'daemon.log')]));
      expect(loose).toEqual([]);

      const key = join(dataDir, IDENTITY_FILE);
      await chmod(key, 0o644);
      await chmod(dataDir, 0o751);
      try {
        const reported = await waitFor(
          async () => {
            const verify = await cli('cluster', 'verify');
            return verify.stdout.includes('node.key') && verify.stdout.includes('data dir')
              ? verify
              : undefined;
          },
          { timeoutMs: 30_000, intervalMs: 500, what: 'cluster verify to report the loosened modes' },
        );
        expect(reported.code).toBe(1);
        expect(reported.stdout).toContain(
          'ERROR: node node1: its node.key is open to group or others (mode 0644); chmod 600 it there',
        );
        expect(reported.stdout).toContain(
          'ERROR: node node1: its data dir is open to group or others (mode 0751); chmod 700 it there',
        );
      } finally {
        await chmod(key, 0o600);
        await chmod(dataDir, 0o700);
      }
      await waitFor(
        async () => {
          const verify = await cli('cluster', 'verify');
          return verify.stdout.includes('ENODEFILECHECK') || verify.stdout.includes('open to group')
            ? undefined
            : verify;
        },
        { timeoutMs: 30_000, intervalMs: 500, what: 'cluster verify to stop reporting them' },
      );
    }, 90_000);

    it('refuses to start on a node.key others can read, in one line that gives the fix', async () => {
      expect(await daemon.stop('SIGTERM')).toBe(0);
      const key = join(dataDir, IDENTITY_FILE);
      await chmod(key, 0o644);
      const started = await ran(process.execPath, [
        cliEntryPoint(),
        'daemon',
        '--data-dir',
        dataDir,
        '--listen',
        listen,
        '--name',
        'node1',
      ]);
      expect(started.code).toBe(1);
      expect(started.stderr).toBe(
        `corral: refusing to start: ${key} is open to group or others (mode 0644): chmod 600 ${key}\n`,
      );
      await chmod(key, 0o600);
    }, 60_000);
  },
);

/** Every file and dir under `dir` (itself included) that group or others may use, but for those excepted. */
async function looseEntries(dir: string, except: ReadonlySet<string>): Promise<string[]> {
  const loose: string[] = [];
  const visit = async (path: string): Promise<void> => {
    const info = await stat(path);
    if (!except.has(path) && (info.mode & 0o077) !== 0)
      loose.push(`${path} ${(info.mode & 0o777).toString(8)}`);
    if (info.isDirectory()) for (const entry of await readdir(path)) await visit(join(path, entry));
  };
  await visit(dir);
  return loose;
}
