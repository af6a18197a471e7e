import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/wait.js';
import { loadOs, type OsDefinition } from '../../src/vm/os-definitions.js';
import { type OsInstance, osEnvironment, runOsScript } from '../../src/vm/os-scripts.js';
import { api20Files, makeOs } from './os-fixtures.js';

const instance: OsInstance = {
  name: 'web1.example.com',
  uuid: '4b3c-uuid',
  os: 'debootstrap+minimal',
  hypervisor: 'kvm',
  primaryNode: 'node-a-uuid',
  secondaryNodes: ['node-b-uuid', 'node-c-uuid'],
  ctimeMs: 1_700_000_000_250,
  mtimeMs: 1_700_000_100_000,
  disks: [
    {
      path: '/srv/ganeti/file-storage/4b3c/d0',
      uuid: 'd0-uuid',
      name: 'root',
      sizeMiB: 10240,
      access: 'rw',
      backendType: 'file:loop',
    },
    { uri: 'rbd:pool/volume', uuid: 'd1-uuid', sizeMiB: 512, access: 'ro' },
  ],
  nics: [
    {
      mac: 'aa:00:00:11:22:33',
      ip: '192.0.2.10',
      mode: 'bridged',
      link: 'br0',
      uuid: 'n0-uuid',
      name: 'public',
    },
    { mac: 'aa:00:00:44:55:66', mode: 'routed', link: '', uuid: 'n1-uuid' },
  ],
  beParams: { maxmem: 1024, minmem: 512, vcpus: 2, auto_balance: true, always_failover: false },
  hvParams: {
    kernel_path: '/boot/vmlinuz',
    disk_type: 'paravirtual',
    nic_type: 'e1000',
    serial_console: 'true',
  },
  osParams: { filesystem: 'ext4', 'root-size': '8G' },
};

function definition(overrides: Partial<OsDefinition> = {}): OsDefinition {
  return {
    name: 'debootstrap',
    dir: '/usr/share/ganeti/os/debootstrap',
    apiVersions: [20, 15, 10],
    apiVersion: 20,
    variants: ['default', 'minimal'],
    parameters: [],
    ...overrides,
  };
}

describe('osEnvironment', () => {
  it("sets exactly Ganeti's variables, one by one", () => {
    expect(osEnvironment(definition(), 'minimal', instance, { INSTANCE_REINSTALL: '1' }, 1)).toEqual({
      OS_API_VERSION: '20',
      OS_NAME: 'debootstrap',
      INSTANCE_OS: 'debootstrap+minimal',
      OS_VARIANT: 'minimal',
      DEBUG_LEVEL: '1',
      INSTANCE_NAME: 'web1.example.com',
      INSTANCE_UUID: '4b3c-uuid',
      INSTANCE_CTIME: '1700000000.25',
      INSTANCE_MTIME: '1700000100.0',
      INSTANCE_PRIMARY_NODE: 'node-a-uuid',
      INSTANCE_SECONDARY_NODES: 'node-b-uuid node-c-uuid',
      HYPERVISOR: 'kvm',
      DISK_COUNT: '2',
      DISK_0_PATH: '/srv/ganeti/file-storage/4b3c/d0',
      DISK_0_ACCESS: 'rw',
      DISK_0_UUID: 'd0-uuid',
      DISK_0_NAME: 'root',
      DISK_0_SIZE: '10240',
      DISK_0_FRONTEND_TYPE: 'paravirtual',
      DISK_0_BACKEND_TYPE: 'file:loop',
      DISK_1_URI: 'rbd:pool/volume',
      DISK_1_ACCESS: 'ro',
      DISK_1_UUID: 'd1-uuid',
      DISK_1_SIZE: '512',
      DISK_1_FRONTEND_TYPE: 'paravirtual',
      NIC_COUNT: '2',
      NIC_0_MAC: 'aa:00:00:11:22:33',
      NIC_0_UUID: 'n0-uuid',
      NIC_0_NAME: 'public',
      NIC_0_IP: '192.0.2.10',
      NIC_0_MODE: 'bridged',
      NIC_0_BRIDGE: 'br0',
      NIC_0_LINK: 'br0',
      NIC_0_FRONTEND_TYPE: 'e1000',
      NIC_1_MAC: 'aa:00:00:44:55:66',
      NIC_1_UUID: 'n1-uuid',
      NIC_1_MODE: 'routed',
      NIC_1_FRONTEND_TYPE: 'e1000',
      INSTANCE_BE_maxmem: '1024',
      INSTANCE_BE_minmem: '512',
      INSTANCE_BE_vcpus: '2',
      INSTANCE_BE_auto_balance: 'True',
      INSTANCE_BE_always_failover: 'False',
      INSTANCE_HV_kernel_path: '/boot/vmlinuz',
      INSTANCE_HV_disk_type: 'paravirtual',
      INSTANCE_HV_nic_type: 'e1000',
      INSTANCE_HV_serial_console: 'True',
      OSP_FILESYSTEM: 'ext4',
      OSP_ROOT_SIZE: '8G',
      INSTANCE_REINSTALL: '1',
    });
  });

  it('uses the first variant when none is given, and none below API 15 or without variants', () => {
    expect(osEnvironment(definition(), undefined, instance).OS_VARIANT).toBe('default');
    expect(osEnvironment(definition({ variants: [] }), undefined, instance).OS_VARIANT).toBe('');
    const api10 = osEnvironment(definition({ apiVersions: [10], apiVersion: 10 }), 'minimal', instance);
    expect(api10).toMatchObject({ OS_API_VERSION: '10', OS_VARIANT: '', DEBUG_LEVEL: '0' });
  });

  it('refuses an extra variable that would replace one of the interface', () => {
    expect(() => osEnvironment(definition(), undefined, instance, { INSTANCE_NAME: 'other' })).toThrow(
      /OS script variable INSTANCE_NAME/,
    );
  });
});

describe('runOsScript', () => {
  let root: string;
  let logDir: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'corral-os-run-'));
    logDir = join(root, 'log');
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  async function fixture(
    scripts: Record<string, string | undefined>,
    apiVersions = '20\n',
  ): Promise<OsDefinition> {
    await makeOs(join(root, 'os'), 'fixture', {
      ...api20Files(),
      ganeti_api_version: apiVersions,
      ...scripts,
    });
    return (await loadOs([join(root, 'os')], 'fixture')).os;
  }

  it('runs with only the given variables and PATH, no arguments, in the OS dir; logs like Ganeti', async () => {
    const os = await fixture({
      create: '#!/bin/sh\necho "args=$#"\necho "cwd=$(pwd)"\nenv | sort\necho to-stderr >&2\nexit 3\n',
    });
    const env = osEnvironment(os, undefined, { ...instance, os: 'fixture+default' });
    const lines: string[] = [];
    const result = await runOsScript(os, 'create', env, {
      timeoutMs: 10_000,
      logDir,
      onLine: (line) => lines.push(line),
    });
    expect(result).toMatchObject({ exitCode: 3, timedOut: false });
    expect(result.signal).toBeUndefined();
    expect(lines).toContain('args=0');
    expect(lines).toContain(`cwd=${os.dir}`);
    expect(lines).toContain('to-stderr');
    // The shell adds PWD, SHLVL and _ itself; everything else is ours.
    const seen = Object.fromEntries(
      lines
        .filter((line) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(line) && !/^(args|cwd|PWD|SHLVL|_)=/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    expect(seen).toEqual({ ...env, PATH: '/sbin:/bin:/usr/sbin:/usr/bin' });
    expect(result.output).toBe(`${lines.join('\n')}\n`);
    const [logName] = await readdir(logDir);
    expect(logName).toMatch(/^add-fixture\+default-web1\.example\.com-\d{4}-\d\d-\d\d_\d\d_\d\d_\d\d\.log$/);
    expect(result.logFile).toBe(join(logDir, logName!));
    expect(await readFile(result.logFile!, 'utf8')).toBe(result.output);
  });

  it('gives verify the argument "parameters" and the OSP_ variables', async () => {
    const os = await fixture({
      verify:
        '#!/bin/sh\n[ "$1" = parameters ] || exit 2\ncase "$OSP_FILESYSTEM" in ext*) exit 0;; esac\necho "bad filesystem $OSP_FILESYSTEM" >&2\nexit 1\n',
    });
    const good = osEnvironment(os, undefined, instance);
    expect(await runOsScript(os, 'verify', good, { timeoutMs: 10_000 })).toMatchObject({ exitCode: 0 });
    const bad = osEnvironment(os, undefined, { ...instance, osParams: { filesystem: 'zfs' } });
    expect(await runOsScript(os, 'verify', bad, { timeoutMs: 10_000 })).toMatchObject({
      exitCode: 1,
      output: 'bad filesystem zfs\n',
    });
  });

  it('does not run verify for definitions older than API 20', async () => {
    const os = await fixture({ verify: '#!/bin/sh\nexit 1\n' }, '15\n');
    expect(await runOsScript(os, 'verify', {}, { timeoutMs: 10_000 })).toEqual({
      exitCode: 0,
      timedOut: false,
      output: 'OS fixture declares API 15, which has no verify script: nothing to check',
    });
  });

  it('kills the script and what it started after the timeout', async () => {
    const pidFile = join(root, 'child.pid');
    const os = await fixture({
      create: '#!/bin/sh\nsleep 60 &\necho $! > "$PID_FILE"\necho started\nsleep 60\n',
    });
    const started = performance.now();
    const result = await runOsScript(os, 'create', { PID_FILE: pidFile }, { timeoutMs: 500 });
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(result).toMatchObject({
      exitCode: undefined,
      signal: 'SIGKILL',
      timedOut: true,
      output: 'started\n',
    });
    const orphan = Number(await readFile(pidFile, 'utf8'));
    await waitFor(async () => ((await isAlive(orphan)) ? undefined : true), {
      timeoutMs: 5_000,
      what: 'the background sleep to die',
    });
  });

  it('stops waiting for a process the script left behind in a session of its own', async () => {
    const pidFile = join(root, 'escaped.pid');
    const os = await fixture({ create: '#!/bin/sh\nsetsid sleep 60 &\necho $! > "$PID_FILE"\necho done\n' });
    try {
      const result = await runOsScript(os, 'create', { PID_FILE: pidFile }, { timeoutMs: 500 });
      expect(result).toMatchObject({ exitCode: 0, timedOut: false });
      expect(result.output).toBe(
        'done\n[the script exited, but a process it left running kept its output open until the 500 ms timeout; output after that is not kept]\n',
      );
    } finally {
      process.kill(Number(await readFile(pidFile, 'utf8')), 'SIGKILL');
    }
  });

  it('stops when aborted, and rejects as aborted', async () => {
    const os = await fixture({ create: '#!/bin/sh\necho started\nexec sleep 60\n' });
    const controller = new AbortController();
    const run = runOsScript(
      os,
      'create',
      {},
      {
        timeoutMs: 60_000,
        signal: controller.signal,
        onLine: (line) => {
          if (line === 'started') controller.abort();
        },
      },
    );
    await expect(run).rejects.toMatchObject({
      code: 'aborted',
      message: 'create of OS fixture was canceled; the script was killed',
    });
  });

  it('keeps the tail of a long output and says it was cut; the log file has all of it', async () => {
    const os = await fixture({ create: '#!/bin/sh\nseq 1 100000\n' });
    const lines: string[] = [];
    const result = await runOsScript(
      os,
      'create',
      {},
      { timeoutMs: 10_000, logDir, onLine: (l) => lines.push(l) },
    );
    const all = `${Array.from({ length: 100_000 }, (_, i) => i + 1).join('\n')}\n`;
    expect(lines).toHaveLength(100_000);
    expect(await readFile(result.logFile!, 'utf8')).toBe(all);
    const [notice, ...rest] = result.output.split('\n');
    const dropped = all.length - 256 * 1024;
    expect(notice).toBe(
      `[output cut: the first ${dropped} bytes are not shown; all of it is in ${result.logFile}]`,
    );
    expect(rest.join('\n')).toBe(all.slice(dropped));
  });

  it('pipes the dump out of export and into import', async () => {
    const source = join(root, 'source.img');
    const target = join(root, 'target.img');
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(source, bytes);
    const os = await fixture({
      export: '#!/bin/sh\necho "exporting disk $EXPORT_INDEX" >&2\ncat "$EXPORT_DISK_PATH"\n',
      import: '#!/bin/sh\ncat > "$IMPORT_DISK_PATH"\necho imported\n',
    });
    const dump: Uint8Array[] = [];
    const exported = await runOsScript(
      os,
      'export',
      { EXPORT_INDEX: '0', EXPORT_DISK_PATH: source },
      {
        timeoutMs: 10_000,
        logDir,
        // A slow consumer: the script waits for it rather than filling memory.
        stdout: (chunk) =>
          new Promise<void>((resolve) =>
            setImmediate(() => {
              dump.push(chunk);
              resolve();
            }),
          ),
      },
    );
    expect(exported).toMatchObject({ exitCode: 0, output: 'exporting disk 0\n' });
    expect(Buffer.concat(dump).equals(bytes)).toBe(true);
    const imported = await runOsScript(
      os,
      'import',
      { IMPORT_INDEX: '0', IMPORT_DISK_PATH: target },
      {
        timeoutMs: 10_000,
        logDir,
        stdin: (async function* () {
          yield* dump;
        })(),
      },
    );
    expect(imported).toMatchObject({ exitCode: 0, output: 'imported\n' });
    expect((await readFile(target)).equals(bytes)).toBe(true);
    expect((await readdir(logDir)).sort()).toEqual([
      expect.stringMatching(/^export-fixture-unknown-0-.*\.log$/),
      expect.stringMatching(/^import-fixture-unknown-0-.*\.log$/),
    ]);
  });

  it('kills import when its dump fails midway, and says so', async () => {
    const os = await fixture({ import: '#!/bin/sh\ncat > /dev/null\necho finished\n' });
    const failing = (async function* () {
      yield new Uint8Array(1024);
      throw new Error('the source node went away');
    })();
    await expect(runOsScript(os, 'import', {}, { timeoutMs: 10_000, stdin: failing })).rejects.toThrow(
      'import of OS fixture stopped: the source node went away',
    );
  });

  it('says when a script cannot start, and refuses an OS with only create_untrusted', async () => {
    const os = await fixture({ rename: '#!/nonexistent/interpreter\n' });
    await expect(runOsScript(os, 'rename', {}, { timeoutMs: 10_000 })).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringMatching(/^cannot run rename of OS fixture: /),
    });
    await rm(join(root, 'os'), { recursive: true });
    const untrusted = await fixture({ create: undefined, create_untrusted: '#!/bin/sh\n' });
    await expect(runOsScript(untrusted, 'create', {}, { timeoutMs: 10_000 })).rejects.toMatchObject({
      code: 'unavailable',
    });
  });
});

describe("Debian's ganeti-os-noop", () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'corral-noop-'));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('creates, and moves a disk through its export and import', async () => {
    const { os, variant } = await loadOs(['/usr/share/ganeti/os'], 'noop');
    const source = join(root, 'source.img');
    const target = join(root, 'target.img');
    const bytes = randomBytes(2 * 1024 * 1024);
    await writeFile(source, bytes);
    await writeFile(target, Buffer.alloc(bytes.length));
    const disk = { uuid: 'd0', sizeMiB: 2, access: 'rw' as const };
    const env = osEnvironment(os, variant, {
      ...instance,
      os: 'noop',
      disks: [{ ...disk, path: source }],
    });
    expect(await runOsScript(os, 'create', env, { timeoutMs: 10_000 })).toMatchObject({
      exitCode: 0,
      output: '',
    });
    const dump: Uint8Array[] = [];
    const exported = await runOsScript(
      os,
      'export',
      { ...env, EXPORT_INDEX: '0', EXPORT_DEVICE: source },
      {
        timeoutMs: 10_000,
        stdout: (chunk) => {
          dump.push(chunk);
        },
      },
    );
    expect(exported.exitCode).toBe(0);
    const imported = await runOsScript(
      os,
      'import',
      { ...env, IMPORT_INDEX: '0', IMPORT_DEVICE: target },
      {
        timeoutMs: 10_000,
        stdin: (async function* () {
          yield* dump;
        })(),
      },
    );
    expect(imported.exitCode).toBe(0);
    expect((await readFile(target)).equals(bytes)).toBe(true);
  });
});

/** Killed counts as dead: an orphan stays a zombie until whoever adopted it reaps it. */
async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
