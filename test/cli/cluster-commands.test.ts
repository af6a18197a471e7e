import { describe, expect, it } from 'vitest';
import { ctime, parseTimespecMs } from '../../src/cli/cluster-params.js';
import type { ControlRequest } from '../../src/daemon/control-protocol.js';
import { fakeCluster, fakeInstance, fakeNode, restoreAfterEach, runCli, times } from './fake-daemon.js';

/**
 * gnt-cluster's commands through the CLI's own parser and handlers, with a fake daemon behind them: what
 * each prints, what it asks of the daemon, and its one-line refusal of bad input. The effects themselves are
 * tested on the simulated cluster (simulations/cluster-ops.test.ts) and on real daemons
 * (test/cluster/cluster-ops-daemons.test.ts).
 */

function configWith(cluster: Record<string, unknown> = {}) {
  return {
    cluster: fakeCluster({ tags: ['site:ams', 'prod'], ...cluster }),
    serial: 7,
    master: 'peer-n1',
    groups: [
      { uuid: 'g1', name: 'default', allocPolicy: 'preferred', tags: ['rack:1'], serial: 1, ...times },
    ],
    nodes: [fakeNode('n2', 'g1', ['rack:2', 'ssd']), fakeNode('n1', 'g1', ['rack:1'])],
    instances: [fakeInstance({ name: 'web', adminState: 'up', disksActive: true, tags: ['rack:1', 'web'] })],
  };
}

/** The daemon's answers to what cluster commands ask besides config and jobs. */
function clusterAnswer(request: ControlRequest): unknown {
  switch (request.op) {
    case 'status':
      return {
        nodeId: 'peer-n1',
        name: 'n1',
        version: '0.1.0',
        addresses: [],
        uptimeMs: 1,
        members: [],
        memory: { rssBytes: 1, heapUsedBytes: 1 },
      };
    case 'cluster-init':
      return { name: request.name };
    case 'master':
      if (request.request.op === 'cluster-flags')
        return {
          watcherPauseUntilMs:
            typeof request.request.watcherPauseMs === 'number'
              ? Date.now() + request.request.watcherPauseMs
              : null,
        };
      if (request.request.op === 'ping') return {};
      return undefined;
    default:
      return undefined;
  }
}

/**
 * Runs `corral <words>` against a fake daemon holding `config`; each job it is given ends at once in success,
 * its first opcode's result being `result`.
 */
const run = (words: string[], config = configWith(), result: unknown = null) =>
  runCli(words, { config, result, answer: clusterAnswer });

restoreAfterEach();

describe('gnt-cluster version, master-ping, search-tags, show-ispecs-cmd', () => {
  it("prints the version in Ganeti's layout, with the Ganeti release Corral follows", async () => {
    const { stdout } = await run(['cluster', 'version']);
    expect(stdout.split('\n')).toEqual([
      'Software version: 0.1.0',
      'Internode protocol: 3000000',
      'Configuration format: 3000000',
      'OS api version: 20',
      'Export interface: 0',
      'VCS version: (corral) version 0.1.0',
      'Compatible with: Ganeti 3.0.2',
      '',
    ]);
  });

  it('master-ping asks the master through the daemon, briefly, and prints nothing', async () => {
    const { stdout, error, requests } = await run(['cluster', 'master-ping']);
    expect(error).toBeUndefined();
    expect(stdout).toBe('');
    expect(requests).toEqual([{ op: 'master', request: { op: 'ping' }, deadlineMs: 5000 }]);
  });

  it("search-tags prints Ganeti's /path tag lines, sorted, and exits 1 when nothing matches", async () => {
    const { stdout, exitCode } = await run(['cluster', 'search-tags', '^rack']);
    expect(stdout).toBe(
      ['/instances/web rack:1', '/nodegroup/default rack:1', '/nodes/n1 rack:1', '/nodes/n2 rack:2', ''].join(
        '\n',
      ),
    );
    expect(exitCode).toBeUndefined();
    expect((await run(['cluster', 'search-tags', 'pro'])).stdout).toBe('/cluster prod\n');
    const none = await run(['cluster', 'search-tags', 'nothing-like-this']);
    expect(none.stdout).toBe('');
    expect(none.exitCode).toBe(1);
  });

  it('search-tags refuses a pattern that is no regular expression', async () => {
    expect((await run(['cluster', 'search-tags', 'rack('])).error).toMatch(
      /^corral: Invalid search pattern 'rack\(': /,
    );
  });

  it('show-ispecs-cmd prints the init command line of the instance policy', async () => {
    const { stdout } = await run(['cluster', 'show-ispecs-cmd']);
    expect(stdout).toBe(
      'gnt-cluster init --ipolicy-std-specs cpu-count=1,disk-count=1,disk-size=1024,memory-size=128,nic-count=1,spindle-use=1' +
        ' --ipolicy-bounds-specs min:cpu-count=0,disk-count=0,disk-size=0,memory-size=0,nic-count=0,spindle-use=0' +
        '/max:cpu-count=8,disk-count=16,disk-size=1048576,memory-size=32768,nic-count=8,spindle-use=12 c1.example.com\n',
    );
  });
});

describe('gnt-cluster queue and watcher', () => {
  it('queue drain and undrain set the flag through the master; info reads it', async () => {
    expect((await run(['cluster', 'queue', 'drain'])).requests).toEqual([
      { op: 'master', request: { op: 'cluster-flags', queueDrained: true } },
    ]);
    expect((await run(['cluster', 'queue', 'undrain'])).requests).toEqual([
      { op: 'master', request: { op: 'cluster-flags', queueDrained: false } },
    ]);
    expect((await run(['cluster', 'queue', 'info'])).stdout).toBe('The drain flag is unset\n');
    expect((await run(['cluster', 'queue', 'info'], configWith({ queueDrained: true }))).stdout).toBe(
      'The drain flag is set\n',
    );
  });

  it('queue refuses anything but drain, undrain and info', async () => {
    expect((await run(['cluster', 'queue', 'flush'])).error).toBe(
      "corral: Command 'flush' is not valid: use drain, undrain or info",
    );
  });

  it('watcher pause sends the duration; continue clears it; info says until when', async () => {
    const paused = await run(['cluster', 'watcher', 'pause', '2h']);
    expect(paused.requests).toEqual([
      { op: 'master', request: { op: 'cluster-flags', watcherPauseMs: 7_200_000 } },
    ]);
    expect(paused.stdout).toMatch(
      /^The watcher is paused until \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\.\n$/,
    );
    const resumed = await run(['cluster', 'watcher', 'continue']);
    expect(resumed.requests).toEqual([
      { op: 'master', request: { op: 'cluster-flags', watcherPauseMs: null } },
    ]);
    expect(resumed.stdout).toBe('The watcher is no longer paused.\n');
    expect((await run(['cluster', 'watcher', 'info'])).stdout).toBe('The watcher is not paused.\n');
    const untilMs = Date.now() + 3_600_000;
    expect(
      (await run(['cluster', 'watcher', 'info'], configWith({ watcherPauseUntilMs: untilMs }))).stdout,
    ).toBe(`The watcher is paused until ${ctime(untilMs)}.\n`);
    // A pause that has run out is no pause.
    expect(
      (await run(['cluster', 'watcher', 'info'], configWith({ watcherPauseUntilMs: Date.now() - 1 }))).stdout,
    ).toBe('The watcher is not paused.\n');
  });

  it("takes Ganeti's time specs: s, m, h, d, w, seconds without a unit", () => {
    expect([
      parseTimespecMs('90'),
      parseTimespecMs('5m'),
      parseTimespecMs('1d'),
      parseTimespecMs('2w'),
    ]).toEqual([90_000, 300_000, 86_400_000, 1_209_600_000]);
  });

  it('watcher refuses a pause without a duration, a bad duration, and another command', async () => {
    expect((await run(['cluster', 'watcher', 'pause'])).error).toBe(
      'corral: Missing pause duration: say how long, e.g. watcher pause 30m',
    );
    expect((await run(['cluster', 'watcher', 'pause', 'soon'])).error).toMatch(
      /^corral: invalid time specification 'soon': /,
    );
    expect((await run(['cluster', 'watcher', 'stop'])).error).toBe(
      "corral: Command 'stop' is not valid: use pause DURATION, continue or info",
    );
  });
});

describe('gnt-cluster refusals of bad input, one line each', () => {
  const refusals: [string[], RegExp][] = [
    [
      ['cluster', 'destroy'],
      /^corral: Destroying a cluster is irreversible\. .* supply the --yes-do-it option\.$/,
    ],
    [['cluster', 'rename', 'c2.example.com'], /^corral: renaming the cluster asks for confirmation: add -f/],
    [['cluster', 'rename', '-f', 'not a name'], /^corral: name: a name is letters, digits/],
    [['cluster', 'master-failover', '--no-voting', '--yes-do-it'], /^corral: --no-voting is refused: /],
    [['cluster', 'repair-disk-sizes', 'bad/name'], /^corral: instances\.0: a name is letters/],
    [['cluster', 'modify', '-B', 'memory=lots'], /^corral: -B memory: lots is not a size/],
    [['cluster', 'modify', '-B', 'colour=red'], /^corral: -B: unknown key colour/],
    [['cluster', 'modify', '-N', 'vlan=7'], /^corral: -N vlan: Corral has no VLAN parameter/],
    [['cluster', 'modify', '-N', 'mode=tunnel'], /^corral: -N mode: tunnel is not one of/],
    [
      ['cluster', 'modify', '--mac-prefix', 'zz:00:00'],
      /^corral: --mac-prefix: zz:00:00 is not three hex pairs/,
    ],
    [
      ['cluster', 'modify', '--prealloc-wipe-disks', 'yes'],
      /^corral: --prealloc-wipe-disks yes: Corral does not wipe/,
    ],
    [
      ['cluster', 'modify', '--maintain-node-health', 'no'],
      /^corral: --maintain-node-health no: Corral's lease fencing/,
    ],
    [
      ['cluster', 'modify', '--uid-pool', '1000-2000'],
      /^corral: --uid-pool 1000-2000: Corral does not run KVM guests/,
    ],
    [
      ['cluster', 'modify', '--ipolicy-std-specs', 'memory-size=256'],
      /^corral: --ipolicy-std-specs memory-size=256: Corral's instance policy is fixed at /,
    ],
    [['cluster', 'modify'], /^corral: no change was asked for/],
    [['cluster', 'command'], /^corral: say which command to run, e\.g\. cluster command uptime$/],
    [
      ['cluster', 'copyfile', '/nonexistent/corral-file'],
      /^corral: No such filename '\/nonexistent\/corral-file'$/,
    ],
    [['cluster', 'command', '-n', 'n9', 'uptime'], /^corral: node n9 is not in the cluster$/],
    [['cluster', 'init', 'c9', '-B', 'vcpus=many'], /^corral: -B vcpus: many is not a whole number/],
  ];
  for (const [words, message] of refusals)
    it(words.slice(1).join(' '), async () => {
      const { error, requests } = await run(words);
      expect(error).toMatch(message);
      expect(error?.split('\n')).toHaveLength(1);
      // Refused before anything was changed: nothing was submitted, nothing founded.
      expect(requests.filter((r) => r.op !== 'config' && r.op !== 'status')).toEqual([]);
    });
});

describe('gnt-cluster init and modify options', () => {
  it('notes an option Corral has no use for, and does not submit a job for the fixed policy alone', async () => {
    const std = 'cpu-count=1,disk-count=1,disk-size=1G,memory-size=128,nic-count=1,spindle-use=1';
    const { error, stderr, requests } = await run([
      'cluster',
      'modify',
      '--ipolicy-std-specs',
      std,
      '--drbd-usermode-helper',
      '/bin/true',
    ]);
    expect(error).toBeUndefined();
    expect(stderr).toMatch(/^note: --drbd-usermode-helper changes nothing: /);
    expect(requests.map((r) => r.op)).toEqual(['config']);
  });
});

describe('gnt-cluster verify options', () => {
  const findings = [
    {
      severity: 'ERROR',
      code: 'ECLUSTERCFG',
      domain: 'cluster',
      name: 'c1.example.com',
      message: 'pool short',
    },
    { severity: 'ERROR', code: 'ENODETIME', domain: 'node', name: 'n2', message: 'clock off' },
    { severity: 'WARNING', code: 'EINSTANCEDOWN', domain: 'instance', name: 'web', message: 'down' },
  ];

  it('-I reports the errors of a code as warnings; the exit code follows what is left', async () => {
    const ignored = await run(
      ['cluster', 'verify', '--error-codes', '-I', 'ENODETIME'],
      configWith(),
      findings,
    );
    expect(ignored.stdout.split('\n')).toEqual([
      'ERROR:ECLUSTERCFG:cluster:c1.example.com:pool short',
      'WARNING:ENODETIME:node:n2:clock off',
      'WARNING:EINSTANCEDOWN:instance:web:down',
      '',
    ]);
    expect(ignored.exitCode).toBe(1);
    const both = await run(
      ['cluster', 'verify', '-I', 'ENODETIME', '--ignore-errors', 'ECLUSTERCFG'],
      configWith(),
      findings,
    );
    expect(both.exitCode).toBeUndefined();
  });

  it("-g reports only the group's nodes and instances, as Ganeti verifies that group alone", async () => {
    const grouped = await run(
      ['cluster', 'verify', '--error-codes', '-g', 'default'],
      configWith(),
      findings,
    );
    expect(grouped.stdout.split('\n')).toEqual([
      'ERROR:ENODETIME:node:n2:clock off',
      'WARNING:EINSTANCEDOWN:instance:web:down',
      '',
    ]);
    expect((await run(['cluster', 'verify', '-g', 'nogroup'])).error).toBe(
      'corral: node group nogroup does not exist',
    );
  });

  it('refuses --debug-simulate-errors, and takes the options that change nothing', async () => {
    expect((await run(['cluster', 'verify', '--debug-simulate-errors'])).error).toMatch(
      /^corral: --debug-simulate-errors is refused: /,
    );
    const quiet = await run(
      ['cluster', 'verify', '-v', '--no-nplus1-mem', '--verify-ssh-clutter'],
      configWith(),
      [],
    );
    expect(quiet.error).toBeUndefined();
    expect(quiet.stdout).toBe('Cluster verify found no problems\n');
  });
});

describe('the fixed instance policy', () => {
  it('takes back what show-ispecs-cmd prints, and no job is needed for it', async () => {
    const { stdout } = await run(['cluster', 'show-ispecs-cmd']);
    const options = stdout.trim().split(' ').slice(2, -1);
    const modify = await run(['cluster', 'modify', ...options]);
    expect(modify.error).toBeUndefined();
    expect(modify.requests.map((r) => r.op)).toEqual(['config']);
  });

  it('takes --specs-* and the ratios as they are, and refuses other values', async () => {
    const same = await run([
      'cluster',
      'modify',
      '--specs-mem-size',
      'min=0,max=32G,std=128',
      '--ipolicy-vcpu-ratio',
      '4',
      '--ipolicy-disk-templates',
      'diskless,file',
    ]);
    expect(same.error).toBeUndefined();
    expect((await run(['cluster', 'modify', '--specs-cpu-count', 'max=16'])).error).toBe(
      "corral: --specs-cpu-count max=16: Corral's instance policy is fixed at min=0,max=8,std=1 (show-ispecs-cmd prints it); it cannot be changed yet",
    );
    expect((await run(['cluster', 'modify', '--ipolicy-spindle-ratio', '16'])).error).toMatch(
      /^corral: --ipolicy-spindle-ratio 16: Corral's instance policy is fixed at 32 /,
    );
  });

  it('modify submits the parameter families Corral stores', async () => {
    const { requests } = await run([
      'cluster',
      'modify',
      '-B',
      'memory=1G,vcpus=2',
      '-N',
      'mode=bridged,link=br0',
      '-m',
      'AA:00:01',
      '-I',
      'hail',
      '-C',
      '5',
      '--max-running-jobs',
      '7',
      '-f',
    ]);
    const submit = requests.find((r) => r.op === 'master');
    expect(submit?.op === 'master' && submit.request.op === 'submit' && submit.request.ops).toEqual([
      {
        OP_ID: 'OP_CLUSTER_SET_PARAMS',
        candidate_pool_size: 5,
        max_running_jobs: 7,
        beparams: { memory: 1024, vcpus: 2 },
        nicparams: { mode: 'bridged', link: 'br0' },
        mac_prefix: 'aa:00:01',
        default_iallocator: 'hail',
      },
    ]);
  });
});

describe('the master IP', () => {
  it('modify sets it, and a device alone takes the address of the cluster name, as Ganeti does', async () => {
    const given = await run(['cluster', 'modify', '--master-ip', '10.0.0.9', '--master-netdev', 'br0']);
    expect(given.jobs).toEqual([
      [{ OP_ID: 'OP_CLUSTER_SET_PARAMS', master_ip: '10.0.0.9', master_netdev: 'br0' }],
    ]);
    const resolved = await run(
      ['cluster', 'modify', '--master-netdev', 'br0', '--use-external-mip-script', 'yes'],
      configWith({ name: 'localhost' }),
    );
    expect(resolved.jobs).toEqual([
      [
        {
          OP_ID: 'OP_CLUSTER_SET_PARAMS',
          master_netdev: 'br0',
          use_external_mip_script: true,
          master_ip: expect.stringMatching(/^(127\.0\.0\.1|::1)$/),
        },
      ],
    ]);
  });

  it('info shows it; deactivate asks first, activate does not', async () => {
    const config = configWith({
      masterIp: { address: '10.0.0.9', netmask: 24, netdev: 'br0', external: false },
    });
    const { stdout } = await run(['cluster', 'info'], config);
    expect(stdout).toContain(
      '  master IP: 10.0.0.9\n  master netdev: br0\n  master netmask: 24\n  use external master IP address setup script: False\n',
    );
    const asked = await run(['cluster', 'deactivate-master-ip'], config);
    expect(asked.error).toBe(
      'corral: deactivate-master-ip asks for confirmation: give --yes to run it without a terminal',
    );
    expect(asked.jobs).toEqual([]);
    expect((await run(['cluster', 'deactivate-master-ip', '--yes'], config)).jobs).toEqual([
      [{ OP_ID: 'OP_CLUSTER_DEACTIVATE_MASTER_IP' }],
    ]);
    expect((await run(['cluster', 'activate-master-ip'], config)).jobs).toEqual([
      [{ OP_ID: 'OP_CLUSTER_ACTIVATE_MASTER_IP' }],
    ]);
  });
});

describe('gnt-cluster upgrade', () => {
  const health = (versions: Record<string, string | undefined>) => (request: ControlRequest) =>
    request.op === 'health'
      ? {
          rows: Object.entries(versions).map(([node, version]) => ({
            node,
            ...(version !== undefined && { health: { version } }),
          })),
        }
      : clusterAnswer(request);
  const upgrade = (words: string[], versions: Record<string, string | undefined>) =>
    runCli(['cluster', 'upgrade', ...words], { config: configWith(), answer: health(versions) });

  it('says when every node runs the version, and names those that do not', async () => {
    expect((await upgrade(['--to', '0.1.0'], { n1: '0.1.0', n2: '0.1.0' })).stdout).toBe(
      'Every node runs corral 0.1.0\n',
    );
    expect((await upgrade(['--to', '0.2.0'], { n1: '0.2.0', n2: '0.1.0', n3: undefined })).error).toBe(
      'corral: not every node runs corral 0.2.0: n2 (0.1.0), n3 (not heard from); install it on each and restart its daemon, one node at a time',
    );
  });

  it('refuses --resume, and both or neither option', async () => {
    expect((await upgrade(['--resume'], {})).error).toMatch(/^corral: there is no upgrade to resume/);
    expect((await upgrade([], {})).error).toBe('corral: exactly one of --to and --resume must be given');
  });
});

describe('gnt-cluster init', () => {
  it('founds the cluster, then sets what init itself does not take; notes the options that change nothing', async () => {
    const { stdout, stderr, requests, error } = await run([
      'cluster',
      'init',
      'c9.example.com',
      '--no-ssh-init',
      '--no-etc-hosts',
      '--vg-name',
      'xenvg',
      '-B',
      'memory=256',
      '-C',
      '3',
      '--enabled-disk-templates',
      'file,diskless',
    ]);
    expect(error).toBeUndefined();
    expect(stdout).toMatch(/^Cluster c9\.example\.com initialised; this node is its master\n/);
    expect(stderr.split('\n').filter(Boolean)).toEqual([
      'note: --no-ssh-init changes nothing: Corral uses no SSH: nodes reach each other over libp2p with their own keys',
      'note: --no-etc-hosts changes nothing: Corral never edits /etc/hosts',
      "note: --vg-name changes nothing: each node's plain disks use its own volume group: corral daemon --volume-group on that node",
    ]);
    expect(requests[0]).toEqual({
      op: 'cluster-init',
      name: 'c9.example.com',
      enabledDiskTemplates: ['file', 'diskless'],
      candidatePoolSize: 3,
    });
    const submit = requests[1];
    expect(submit?.op === 'master' && submit.request.op === 'submit' && submit.request.ops).toEqual([
      { OP_ID: 'OP_CLUSTER_SET_PARAMS', beparams: { memory: 256 } },
    ]);
  });
});

describe('gnt-cluster info', () => {
  it('shows the parameter families Corral stores, and Roman numerals with --roman', async () => {
    const config = configWith({ defaultIallocator: 'hail', macPrefix: 'aa:00:01' });
    const { stdout } = await run(['cluster', 'info'], config);
    expect(stdout).toMatch(/^ {2}mac prefix: aa:00:01$/m);
    expect(stdout).toMatch(/^ {2}default instance allocator: hail$/m);
    expect(stdout).toMatch(/^Default instance parameters:\n {2}- default:\n {6}always_failover: False\n/m);
    expect(stdout).toMatch(/^Default nic parameters:\n {2}- default:\n {6}link: \n {6}mode: none$/m);
    const romanOut = (await run(['cluster', 'info', '--roman'], config)).stdout;
    expect(romanOut).toMatch(/^Configuration serial number: VII$/m);
    expect(romanOut).toMatch(/^ {6}maxmem: CXXVIII$/m);
  });
});

describe('gnt-cluster renew-crypto', () => {
  it('renews nothing for what Corral has not (SSH keys), and refuses secrets handed to a job', async () => {
    const ssh = await run(['cluster', 'renew-crypto', '--new-ssh-keys', '--no-ssh-key-check', '-f']);
    expect(ssh.error).toBeUndefined();
    expect(ssh.requests).toEqual([]);
    expect(ssh.stderr).toMatch(/^note: --new-ssh-keys changes nothing: Corral uses no SSH/m);
    expect((await run(['cluster', 'renew-crypto', '--rapi-certificate', '/tmp/rapi.pem'])).error).toMatch(
      /^corral: --rapi-certificate \/tmp\/rapi\.pem: a secret given to a job would be kept in its record, .*: use --new-rapi-certificate$/,
    );
    expect((await run(['cluster', 'renew-crypto', '--new-cluster-certificate'])).error).toMatch(
      /^corral: --new-cluster-certificate: each node's identity is its own libp2p key/,
    );
  });
});
