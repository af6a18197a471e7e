import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  checkSecretFiles,
  daemonUid,
  describeUnsafe,
  findUnsafeFiles,
  healthReport,
  secureDataDir,
  unsafeFile,
} from '../../src/daemon/file-modes.js';
import { MEMBERS_FILE } from '../../src/membership/member-store.js';
import { IDENTITY_FILE } from '../../src/peer/identity.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'corral-modes-'));
  dirs.push(dir);
  return dir;
}

describe('the file mode check, from stat results', () => {
  const file = 0o100000;
  const dir = 0o040000;

  it('passes a secret that is 0600 or tighter and owned by the daemon', () => {
    for (const mode of [0o600, 0o400, 0o700, 0o200])
      expect(unsafeFile('/d/node.key', 'secret', { mode: file | mode, uid: 7 }, 7)).toBeUndefined();
    expect(unsafeFile('/d', 'data dir', { mode: dir | 0o700, uid: 7 }, 7)).toBeUndefined();
    expect(unsafeFile('/d/corral.sock', 'socket', { mode: 0o140000 | 0o600, uid: 7 }, 7)).toBeUndefined();
  });

  it('finds any read or write bit for group or others on a secret or the socket', () => {
    for (const mode of [0o644, 0o640, 0o604, 0o620, 0o602, 0o666, 0o777]) {
      expect(unsafeFile('/d/node.key', 'secret', { mode: file | mode, uid: 7 }, 7)).toEqual({
        path: '/d/node.key',
        guarded: 'secret',
        mode,
        uid: 7,
        wantMode: 0o600,
        wantUid: 7,
      });
      expect(unsafeFile('/d/corral.sock', 'socket', { mode, uid: 7 }, 7)?.wantMode).toBe(0o600);
    }
  });

  it('finds any bit at all for group or others on the data dir, traversal included', () => {
    for (const mode of [0o755, 0o750, 0o710, 0o701, 0o770])
      expect(unsafeFile('/d', 'data dir', { mode: dir | mode, uid: 7 }, 7)?.wantMode).toBe(0o700);
  });

  it("finds a file owned by anyone but the daemon's user, whatever its mode", () => {
    expect(unsafeFile('/d/members.cbor', 'secret', { mode: file | 0o600, uid: 0 }, 7)).toMatchObject({
      uid: 0,
      wantUid: 7,
    });
  });

  it('says in one line what is wrong and the command that fixes it', () => {
    const loose = unsafeFile('/var/lib/corral/node.key', 'secret', { mode: file | 0o644, uid: 0 }, 0)!;
    expect(describeUnsafe(loose)).toBe(
      '/var/lib/corral/node.key is open to group or others (mode 0644): chmod 600 /var/lib/corral/node.key',
    );
    const foreign = unsafeFile('/var/lib/corral', 'data dir', { mode: dir | 0o700, uid: 1000 }, 0)!;
    expect(describeUnsafe(foreign)).toBe(
      "/var/lib/corral is owned by uid 1000, not by the daemon's user (uid 0): chown 0 /var/lib/corral",
    );
  });

  it('reports a file in the health record by a short name', () => {
    const report = (path: string, guarded: 'secret' | 'socket' | 'data dir') =>
      healthReport(unsafeFile(path, guarded, { mode: 0o666, uid: 3 }, 3)!).name;
    expect(report('/a/very/long/data/dir/members.cbor', 'secret')).toBe('members.cbor');
    expect(report('/run/somewhere/else.sock', 'socket')).toBe('control socket');
    expect(report('/a/very/long/data/dir', 'data dir')).toBe('data dir');
  });
});

describe('the data dir and its secrets on disk', () => {
  const uid = daemonUid();

  it('creates a missing data dir 0700 whatever the umask, and tightens a loose one', async () => {
    const base = await tempDir();
    const fresh = join(base, 'fresh', 'data');
    const umask = process.umask(0);
    try {
      expect(await secureDataDir(fresh, uid)).toBeUndefined();
    } finally {
      process.umask(umask);
    }
    expect((await stat(fresh)).mode & 0o777).toBe(0o700);
    const loose = join(base, 'loose');
    await mkdir(loose);
    await chmod(loose, 0o755);
    expect(await secureDataDir(loose, uid)).toBe(0o755);
    expect((await stat(loose)).mode & 0o777).toBe(0o700);
  });

  it('refuses a data dir owned by another user, naming it and the fix', async () => {
    const dir = await tempDir();
    await expect(secureDataDir(dir, uid + 1)).rejects.toThrow(
      `refusing to start: ${dir} is owned by uid ${uid}, not by the daemon's user (uid ${uid + 1}): chown ${uid + 1} ${dir}`,
    );
  });

  it('refuses a secret file open to others, and lets missing ones be', async () => {
    const dir = await tempDir();
    await checkSecretFiles(dir, uid);
    const key = join(dir, IDENTITY_FILE);
    await writeFile(key, 'k', { mode: 0o600 });
    await checkSecretFiles(dir, uid);
    await chmod(key, 0o640);
    await expect(checkSecretFiles(dir, uid)).rejects.toThrow(
      `refusing to start: ${key} is open to group or others (mode 0640): chmod 600 ${key}`,
    );
  });

  it('lists every unsafe guarded file: the data dir, secrets and the control socket', async () => {
    const dir = await tempDir();
    await chmod(dir, 0o711);
    await writeFile(join(dir, IDENTITY_FILE), 'k', { mode: 0o600 });
    await writeFile(join(dir, MEMBERS_FILE), 'm');
    await chmod(join(dir, MEMBERS_FILE), 0o644);
    const socket = join(dir, 'corral.sock');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      await chmod(socket, 0o666);
      const found = await findUnsafeFiles({ dataDir: dir, socket }, uid);
      expect(found.map((file) => [file.path, file.mode])).toEqual([
        [dir, 0o711],
        [join(dir, MEMBERS_FILE), 0o644],
        [socket, 0o666],
      ]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
