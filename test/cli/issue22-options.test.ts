import { describe, expect, it } from 'vitest';
import { setChooserForTests } from '../../src/cli/confirm.js';
import { fakeCluster, fakeConfig, fakeInstance, restoreAfterEach, runCli } from './fake-daemon.js';

/**
 * Issue 22's remaining gnt-instance and gnt-node options through the CLI's parser and handlers, with a fake
 * daemon: the opcode fields each sets, and its one-line refusals. Their effects are tested on simulated nodes
 * (test/master/issue22-options.test.ts).
 */

function config() {
  return fakeConfig([
    fakeInstance({
      name: 'web',
      serial: 14,
      diskTemplate: 'file',
      disks: [{ uuid: 'd0', sizeMiB: 1024, mode: 'rw', format: 'raw' }],
      nics: [{ uuid: 'n0', mac: 'aa:00:00:00:00:01', mode: 'bridged', link: 'br0' }],
    }),
  ]);
}

const run = (words: string[]) => runCli(words, { config: config(), result: null });
const ops = async (words: string[]) => {
  const { jobs, error } = await run(words);
  expect(error).toBeUndefined();
  return jobs.flat();
};

restoreAfterEach();

describe('failover and migrate', () => {
  it('-I names the allocator that picks the target; --cleanup, --no-runtime-changes, --ignore-hvversions', async () => {
    expect(await ops(['instance', 'failover', '-I', 'hail', '--cleanup', 'web'])).toEqual([
      { OP_ID: 'OP_INSTANCE_FAILOVER', instance_name: 'web', iallocator: 'hail', cleanup: true },
    ]);
    expect(
      await ops([
        'instance',
        'migrate',
        '--iallocator',
        '.',
        '--no-runtime-changes',
        '--ignore-hvversions',
        'web',
      ]),
    ).toEqual([
      {
        OP_ID: 'OP_INSTANCE_MIGRATE',
        instance_name: 'web',
        mode: 'live',
        iallocator: '.',
        allow_runtime_changes: false,
        ignore_hvversions: true,
      },
    ]);
  });

  it('refuses -n with -I in one line, submitting nothing', async () => {
    const refused = await run(['instance', 'migrate', '-n', 'n2', '-I', 'hail', 'web']);
    expect(refused.error).toBe('corral: give a target node (-n) or an iallocator (-I), not both');
    expect(refused.jobs).toEqual([]);
  });

  it('node migrate --no-runtime-changes', async () => {
    const { jobs } = await runCli(['node', 'migrate', '--no-runtime-changes', 'n1'], {
      config: config(),
      result: { jobs: [] },
    });
    expect(jobs).toEqual([
      [{ OP_ID: 'OP_NODE_MIGRATE', node_name: 'n1', mode: 'live', allow_runtime_changes: false }],
    ]);
  });
});

describe('startup, shutdown, reboot, move, activate-disks', () => {
  it('--ignore-offline, --ignore-secondaries', async () => {
    expect(await ops(['instance', 'startup', '--ignore-offline', 'web'])).toEqual([
      { OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'web', ignore_offline_nodes: true },
    ]);
    expect(await ops(['instance', 'shutdown', '--ignore-offline', 'web'])).toEqual([
      { OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: 'web', ignore_offline_nodes: true },
    ]);
    expect(await ops(['instance', 'reboot', '-t', 'full', '--ignore-secondaries', 'web'])).toEqual([
      { OP_ID: 'OP_INSTANCE_REBOOT', instance_name: 'web', reboot_type: 'full', ignore_secondaries: true },
    ]);
  });

  it("move takes --ignore-consistency and Ganeti's compression tools, and refuses others", async () => {
    expect(
      await ops(['instance', 'move', '-n', 'n2', '--ignore-consistency', '--compress', 'gzip-fast', 'web']),
    ).toEqual([
      {
        OP_ID: 'OP_INSTANCE_MOVE',
        instance_name: 'web',
        target_node: 'n2',
        ignore_consistency: true,
        compress: 'gzip-fast',
      },
    ]);
    const refused = await run(['instance', 'move', '-n', 'n2', '--compress', 'zstd', 'web']);
    expect(refused.error).toBe(
      'corral: --compress: unknown compression tool zstd; known: none, gzip, gzip-fast, gzip-slow, lzop',
    );
    expect(refused.jobs).toEqual([]);
  });

  it('activate-disks --wait-for-sync --ignore-size', async () => {
    expect(await ops(['instance', 'activate-disks', '--wait-for-sync', '--ignore-size', 'web'])).toEqual([
      { OP_ID: 'OP_INSTANCE_ACTIVATE_DISKS', instance_name: 'web', wait_for_sync: true, ignore_size: true },
    ]);
  });
});

describe('info --roman', () => {
  it("prints the numbers in roman numerals, as Ganeti's TryToRoman", async () => {
    const plain = (await run(['instance', 'info', '--static', 'web'])).stdout;
    const { stdout, error } = await run(['instance', 'info', '--static', '--roman', 'web']);
    expect(error).toBeUndefined();
    expect(plain).toContain('Serial number: 14\n');
    expect(stdout).toContain('Serial number: XIV\n');
    expect(stdout).toContain('    - maxmem: CXXVIII\n');
    expect(stdout).toContain('    - vcpus: I\n');
    expect(stdout).toContain('    - nic/0: MAC: aa:00:00:00:00:01');
    expect(stdout).toContain('    - disk/0: file, size MXXIVM, mode rw');
  });
});

describe("add, modify, reinstall and import: Ganeti's options Corral has no use for", () => {
  it('refuses each in one line that says why, submitting nothing', async () => {
    for (const [words, message] of [
      [
        ['--file-storage-dir', 'web'],
        /^corral: --file-storage-dir web: Corral keeps each instance's disk files/,
      ],
      [['--file-driver', 'blktap'], /^corral: --file-driver blktap: Corral has no blktap drivers/],
      [['--os-parameters-secret', 'pw=x'], /^corral: --os-parameters-secret pw=x: a job's opcodes are kept/],
      [['-c', 'yes'], /^corral: --communication yes: Corral has no instance communication network/],
      [['--helper-startup-timeout', '30'], /^corral: --helper-startup-timeout 30: Corral runs OS scripts/],
      [['--helper-shutdown-timeout', '30'], /^corral: --helper-shutdown-timeout 30: Corral runs OS scripts/],
      [['--opportunistic-locking'], /^corral: --opportunistic-locking: Corral takes all of a job's locks/],
      [['--forthcoming'], /^corral: --forthcoming: Corral reserves no resources/],
      [['--commit'], /^corral: --commit: Corral reserves no resources/],
    ] as const) {
      const refused = await run(['instance', 'add', '-t', 'file', '-s', '1G', '-o', 'noop', ...words, 'db']);
      expect(refused.error).toMatch(message);
      expect(refused.jobs).toEqual([]);
    }
  });

  it('--force-variant on add, modify and reinstall asks the master to let an unlisted variant through', async () => {
    const add = await run([
      'instance',
      'add',
      '-t',
      'file',
      '-s',
      '1G',
      '-o',
      'noop+new',
      '--force-variant',
      'db',
    ]);
    expect(add.error).toBeUndefined();
    expect(add.jobs[0]?.[0]).toMatchObject({
      OP_ID: 'OP_INSTANCE_CREATE',
      os_type: 'noop+new',
      force_variant: true,
    });
    const plain = await run(['instance', 'add', '-t', 'file', '-s', '1G', '-o', 'noop', 'db']);
    expect(plain.jobs[0]?.[0]).not.toHaveProperty('force_variant');
    const modify = await run(['instance', 'modify', '-o', 'noop+new', '--force-variant', 'web']);
    expect(modify.jobs[0]?.[0]).toMatchObject({ OP_ID: 'OP_INSTANCE_SET_PARAMS', force_variant: true });
    const reinstall = await run(['instance', 'reinstall', '-f', '-o', 'noop+new', '--force-variant', 'web']);
    expect(reinstall.jobs.flat()).toContainEqual(
      expect.objectContaining({ OP_ID: 'OP_INSTANCE_REINSTALL', os_type: 'noop+new', force_variant: true }),
    );
  });

  it('takes the values that ask for what Corral does, with a note on stderr', async () => {
    const { jobs, stderr, error } = await run([
      'instance',
      'add',
      '-t',
      'file',
      '-s',
      '1G',
      '-o',
      'noop',
      '--file-driver',
      'loop',
      '-c',
      'no',
      'db',
    ]);
    expect(error).toBeUndefined();
    expect(jobs[0]).toHaveLength(1);
    expect(stderr).toContain('note: --file-driver changes nothing:');
    expect(stderr).toContain('note: --communication changes nothing:');
  });

  it('--os-parameters-private on add, modify and reinstall; info shows them redacted', async () => {
    expect(
      await ops([
        'instance',
        'add',
        '-t',
        'file',
        '-s',
        '1G',
        '-o',
        'noop',
        '--os-parameters-private',
        'pw=x',
        'db',
      ]),
    ).toMatchObject([{ OP_ID: 'OP_INSTANCE_CREATE', osparams_private: { pw: 'x' } }]);
    expect(await ops(['instance', 'modify', '--os-parameters-private', 'pw=default', 'web'])).toEqual([
      { OP_ID: 'OP_INSTANCE_SET_PARAMS', instance_name: 'web', osparams_private: { pw: 'default' } },
    ]);
    expect(await ops(['instance', 'reinstall', '-f', '--os-parameters-private', 'pw=y', 'web'])).toEqual([
      { OP_ID: 'OP_INSTANCE_REINSTALL', instance_name: 'web', osparams_private: { pw: 'y' } },
    ]);
    const base = config();
    const shown = {
      ...base,
      instances: [{ ...base.instances[0]!, osParams: { dhcp: 'no' }, osParamsPrivate: { pw: '<redacted>' } }],
    };
    const { stdout } = await runCli(['instance', 'info', '--static', 'web'], { config: shown });
    expect(stdout).toContain('  OS parameters:\n    - dhcp: no\n    - pw: <redacted>\n');
  });

  it('modify -t drbd -I names the allocator that chooses the secondary', async () => {
    expect(await ops(['instance', 'modify', '-t', 'drbd', '-I', 'hail', 'web'])).toEqual([
      { OP_ID: 'OP_INSTANCE_SET_PARAMS', instance_name: 'web', disk_template: 'drbd', iallocator: 'hail' },
    ]);
  });

  it('modify takes --no-conflicts-check, refuses --ext-params and --file-storage-dir', async () => {
    expect(await ops(['instance', 'modify', '--no-conflicts-check', '-B', 'vcpus=2', 'web'])).toEqual([
      { OP_ID: 'OP_INSTANCE_SET_PARAMS', instance_name: 'web', beparams: { vcpus: 2 } },
    ]);
    const ext = await run(['instance', 'modify', '-e', 'size=1', 'web']);
    expect(ext.error).toMatch(/^corral: --ext-params size=1: Corral has no ext disk template/);
    expect(ext.jobs).toEqual([]);
    const dir = await run(['instance', 'modify', '--file-storage-dir', 'x', 'web']);
    expect(dir.error).toMatch(/^corral: --file-storage-dir x: /);
  });

  it('reinstall --select-os lists the OSes valid everywhere and takes the one chosen; no terminal, no choice', async () => {
    const oses = (name: string) => ({
      name,
      oses: ['debootstrap', 'noop'].map((os) => ({
        name: os,
        dir: `/os/${os}`,
        valid: true,
        apiVersions: [20],
        variants: os === 'debootstrap' ? ['default', 'minimal'] : [],
        parameters: [],
      })),
    });
    const answer = (request: { op: string }) =>
      request.op === 'os-diagnose' ? { nodes: [oses('n1'), oses('n2')] } : undefined;
    const refused = await runCli(['instance', 'reinstall', '-f', '--select-os', 'web'], {
      config: config(),
      answer,
    });
    expect(refused.error).toBe(
      'corral: --select-os asks which OS to install, and stdin is not a terminal: give the OS with -o',
    );
    expect(refused.jobs).toEqual([]);

    setChooserForTests(async (question, choices) => {
      expect(question).toBe('Enter OS template number (or x to abort):');
      return choices.indexOf('debootstrap+minimal');
    });
    const chosen = await runCli(['instance', 'reinstall', '-f', '--select-os', 'web'], {
      config: config(),
      answer,
    });
    setChooserForTests(undefined);
    expect(chosen.error).toBeUndefined();
    expect(chosen.stdout).toBe(
      'Available OS templates:\n  0: debootstrap+default\n  1: debootstrap+minimal\n  2: noop\n',
    );
    expect(chosen.jobs).toEqual([
      [{ OP_ID: 'OP_INSTANCE_REINSTALL', instance_name: 'web', os_type: 'debootstrap+minimal' }],
    ]);
  });

  it('import --identify-defaults and --compress; refuses an unknown tool', async () => {
    const words = [
      'backup',
      'import',
      '-t',
      'file',
      '-n',
      'n1',
      '--identify-defaults',
      '--compress',
      'lzop',
      'db',
    ];
    expect(await ops(words)).toMatchObject([
      { OP_ID: 'OP_INSTANCE_CREATE', mode: 'import', identify_defaults: true, compress: 'lzop' },
    ]);
    const refused = await run(['backup', 'import', '-t', 'file', '-n', 'n1', '--compress', 'xz', 'db']);
    expect(refused.error).toBe(
      'corral: --compress: unknown compression tool xz; known: none, gzip, gzip-fast, gzip-slow, lzop',
    );
  });
});

describe('backup export, node list-storage and add/modify, debug test-osparams', () => {
  it('export --transport-compression and --long-sleep; the zeroing options refused', async () => {
    expect(
      await ops(['backup', 'export', '-n', 'n2', '--transport-compression', 'gzip', '--long-sleep', 'web']),
    ).toEqual([
      {
        OP_ID: 'OP_BACKUP_EXPORT',
        instance_name: 'web',
        target_node: 'n2',
        shutdown: true,
        compress: 'gzip',
        long_sleep: true,
      },
    ]);
    for (const words of [
      ['--zero-free-space'],
      ['--zeroing-timeout-fixed', '10'],
      ['--zeroing-timeout-per-mib', '1'],
    ]) {
      const refused = await run(['backup', 'export', '-n', 'n2', ...words, 'web']);
      expect(refused.error).toMatch(/: Corral has no zeroing helper VM/);
      expect(refused.jobs).toEqual([]);
    }
  });

  it('list-storage submits its job at the priority given', async () => {
    const { requests, error } = await runCli(['node', 'list-storage', '--priority', 'high', '-t', 'file'], {
      config: config(),
      result: [],
    });
    expect(error).toBeUndefined();
    const submit = requests.find((r) => r.op === 'master' && r.request.op === 'submit');
    expect(submit).toMatchObject({ request: { priority: -10 } });
  });

  it('node add and modify refuse declared state, saying why', async () => {
    for (const words of [
      ['node', 'modify', '--hypervisor-state', 'kvm:mem_total=1024', 'n2'],
      ['node', 'add', '--disk-state', 'plain:xenvg:disk_total=100', 'n3'],
    ]) {
      const refused = await run(words);
      expect(refused.error).toMatch(
        /^corral: --(hypervisor|disk)-state .*: Corral measures each node's memory/,
      );
      expect(refused.jobs).toEqual([]);
    }
  });

  it('test-osparams takes the job options and still says why it cannot run', async () => {
    const refused = await run(['debug', 'test-osparams', '--submit', '--print-jobid']);
    expect(refused.usage).toBe(false);
    expect(refused.error).toMatch(/^corral: Corral has no secret OS parameters/);
  });
});

describe('cluster init and modify: allocator parameters and data collectors', () => {
  it('modify submits the parameters, the collectors to enable or disable and their intervals', async () => {
    expect(
      await ops([
        'cluster',
        'modify',
        '--default-iallocator-params',
        'no-capacity-checks=1',
        '--enabled-data-collectors',
        'diskstats=no,inst-status=yes',
        '--data-collector-interval',
        'cpu-avg-load=30',
      ]),
    ).toEqual([
      {
        OP_ID: 'OP_CLUSTER_SET_PARAMS',
        default_iallocator_params: { 'no-capacity-checks': '1' },
        enabled_data_collectors: { diskstats: false, 'inst-status': true },
        data_collector_interval: { 'cpu-avg-load': 30 },
      },
    ]);
    expect(await ops(['cluster', 'modify', '--default-iallocator-params', ''])).toEqual([
      { OP_ID: 'OP_CLUSTER_SET_PARAMS', default_iallocator_params: {} },
    ]);
  });

  it('refuses an unknown collector and an interval under the monitor tick, in one line', async () => {
    const unknown = await run(['cluster', 'modify', '--enabled-data-collectors', 'drbd=yes']);
    expect(unknown.error).toBe(
      'corral: --enabled-data-collectors: unknown data collector drbd; known: cpu-avg-load, inst-status, node-memory, storage-dirs, diskstats',
    );
    const fast = await run(['cluster', 'modify', '--data-collector-interval', 'diskstats=1']);
    expect(fast.error).toBe(
      "corral: --data-collector-interval diskstats: 1 is not a number of seconds from 5 (the monitor's tick) to 86400",
    );
    expect([...unknown.jobs, ...fast.jobs]).toEqual([]);
  });

  it('info shows the allocator parameters and each collector', async () => {
    const { stdout } = await runCli(['cluster', 'info'], {
      config: {
        ...config(),
        cluster: fakeCluster({
          defaultIallocator: 'hail',
          defaultIallocatorParams: { 'no-capacity-checks': '1' },
          dataCollectors: { diskstats: { active: false }, 'cpu-avg-load': { intervalMs: 30_000 } },
        }),
      },
    });
    expect(stdout).toContain('  default instance allocator parameters: no-capacity-checks=1\n');
    expect(stdout).toContain('  cpu-avg-load: active, every 30 s\n');
    expect(stdout).toContain('  diskstats: inactive, every 5 s\n');
  });
});
