import { describe, expect, it } from 'vitest';
import { errorLines, ganetiArgv } from '../../src/cli/parser.js';
import { CorralError } from '../../src/common/errors.js';
import { fileWith, runLine } from './ganeti-command-lines.js';

/**
 * Ganeti's command lines, unchanged, through Corral's own parser and handlers (a fake daemon records the
 * jobs). Each row: the line, then the opcodes of each job it submits (compared as a subset), or the one-line
 * refusal a user sees.
 */

interface Accepted {
  readonly line: string;
  /** Each job's opcodes, as partial objects. */
  readonly jobs: readonly (readonly Record<string, unknown>[])[];
  readonly priority?: number;
  readonly stdout?: RegExp;
  /** The answer to a confirmation: true (yes) or false (no); absent: no terminal. */
  readonly answer?: boolean;
}

const accepted: readonly Accepted[] = [
  // instance add: Ganeti's long names, both --opt=value and --opt value, and its no-op DNS checks.
  {
    line: 'instance add -t plain -s 10G -o debootstrap+default -n n1 web9',
    jobs: [
      [
        {
          OP_ID: 'OP_INSTANCE_CREATE',
          instance_name: 'web9',
          disk_template: 'plain',
          disks: [{ size: 10_240 }],
          os_type: 'debootstrap+default',
          pnode: 'n1',
          start: true,
        },
      ],
    ],
  },
  {
    line: 'instance add -t drbd --disk 0:size=10G --disk 1:size=512M,mode=ro -n n1:n2 --backend-parameters memory=1G,vcpus=2 --hypervisor-parameters fake:boot_order=disk --os-parameters dhcp=yes --net 0:mode=bridged,link=br0 --no-name-check --no-ip-check --no-conflicts-check --ignore-ipolicy --no-wait-for-sync --no-start web9',
    jobs: [
      [
        {
          OP_ID: 'OP_INSTANCE_CREATE',
          disk_template: 'drbd',
          disks: [{ size: 10_240 }, { size: 512, mode: 'ro' }],
          pnode: 'n1',
          snode: 'n2',
          beparams: { memory: 1024, vcpus: 2 },
          hypervisor: 'fake',
          hvparams: { boot_order: 'disk' },
          osparams: { dhcp: 'yes' },
          nics: [{ mode: 'bridged', link: 'br0' }],
          wait_for_sync: false,
          start: false,
        },
      ],
    ],
  },
  {
    line: 'instance add --disk-template=file --os-size=2g --os-type=noop --node-group=default --iallocator=. web9',
    jobs: [
      [
        {
          OP_ID: 'OP_INSTANCE_CREATE',
          disk_template: 'file',
          disks: [{ size: 2048 }],
          group_name: 'default',
          iallocator: '.',
        },
      ],
    ],
  },
  {
    line: 'instance add -t file -s 1G -g default -B memory=256M -H boot_order=disk --no-install web9',
    jobs: [
      [
        {
          OP_ID: 'OP_INSTANCE_CREATE',
          group_name: 'default',
          beparams: { memory: 256 },
          hvparams: { boot_order: 'disk' },
          no_install: true,
          start: false,
        },
      ],
    ],
  },
  // The global options: --reason, --priority, --submit, --print-jobid, --dry-run, -d.
  {
    line: 'instance startup web1 --reason "maintenance over"',
    jobs: [
      [
        {
          OP_ID: 'OP_INSTANCE_STARTUP',
          instance_name: 'web1',
          reason: [['gnt:user', 'maintenance over', expect.any(Number)]],
        },
      ],
    ],
  },
  {
    line: 'instance start --priority=high --submit web1',
    jobs: [[{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'web1' }]],
    priority: -10,
    stdout: /^JobID: 100\n$/,
  },
  {
    line: 'instance start --priority low --print-jobid -d web1',
    jobs: [[{ OP_ID: 'OP_INSTANCE_STARTUP' }]],
    priority: 10,
    stdout: /^100\n/,
  },
  {
    line: 'instance reboot --dry-run -t soft --shutdown-timeout 30 web1',
    jobs: [[{ OP_ID: 'OP_INSTANCE_REBOOT', reboot_type: 'soft', shutdown_timeout: 30, dry_run: true }]],
    stdout: /Dry run: nothing was changed/,
  },
  {
    line: 'instance stop --no-remember --timeout=10 web1',
    jobs: [[{ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: 'web1', timeout: 10, no_remember: true }]],
  },
  { line: 'instance startup -f web1', jobs: [[{ OP_ID: 'OP_INSTANCE_STARTUP', force: true }]] },
  // remove and reinstall ask first, unless -f.
  {
    line: 'instance remove -f --ignore-failures --shutdown-timeout 5 web1',
    jobs: [
      [{ OP_ID: 'OP_INSTANCE_REMOVE', instance_name: 'web1', ignore_failures: true, shutdown_timeout: 5 }],
    ],
  },
  { line: 'instance remove --force web1', jobs: [[{ OP_ID: 'OP_INSTANCE_REMOVE' }]] },
  { line: 'instance remove web1', answer: true, jobs: [[{ OP_ID: 'OP_INSTANCE_REMOVE' }]] },
  {
    line: 'instance reinstall -f -o noop -O dhcp=no web1',
    jobs: [[{ OP_ID: 'OP_INSTANCE_REINSTALL', os_type: 'noop', osparams: { dhcp: 'no' } }]],
  },
  { line: 'instance reinstall web1', answer: true, jobs: [[{ OP_ID: 'OP_INSTANCE_REINSTALL' }]] },
  // Selectors: one job per instance, after a confirmation unless --force-multiple or -f.
  {
    line: 'instance startup --all --force-multiple',
    jobs: ['db', 'idle', 'web1', 'web2'].map((name) => [
      { OP_ID: 'OP_INSTANCE_STARTUP', instance_name: name },
    ]),
    stdout: /Submitted jobs 100, 101, 102, 103/,
  },
  {
    line: 'instance shutdown --node n1 -f',
    jobs: ['db', 'web1'].map((name) => [{ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: name }]),
  },
  {
    line: 'instance shutdown --node n2 --force-multiple',
    jobs: ['db', 'web2'].map((name) => [{ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: name }]),
  },
  {
    line: 'instance reboot --primary n1 --force-multiple --submit',
    jobs: ['db', 'web1'].map((name) => [{ OP_ID: 'OP_INSTANCE_REBOOT', instance_name: name }]),
    stdout: /^100: db\n101: web1\n$/,
  },
  {
    line: 'instance reboot --secondary n2 --force-multiple',
    jobs: [[{ OP_ID: 'OP_INSTANCE_REBOOT', instance_name: 'db' }]],
  },
  {
    line: 'instance startup --tags web --force-multiple',
    jobs: ['web1', 'web2'].map((name) => [{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: name }]),
  },
  {
    line: 'instance startup --node-tags rack2 --force-multiple',
    jobs: ['db', 'web2'].map((name) => [{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: name }]),
  },
  {
    line: 'instance startup --pri-node-tags rack2 --force-multiple',
    jobs: [[{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'web2' }]],
  },
  {
    line: 'instance startup --sec-node-tags rack2 --force-multiple',
    jobs: [[{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'db' }]],
  },
  {
    line: 'instance startup --instance web1 web2',
    answer: true,
    jobs: ['web1', 'web2'].map((name) => [{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: name }]),
  },
  {
    line: 'instance reinstall --all --force-multiple -o noop',
    jobs: ['db', 'idle', 'web1', 'web2'].map((name) => [
      { OP_ID: 'OP_INSTANCE_REINSTALL', instance_name: name, os_type: 'noop' },
    ]),
  },
  // The other instance commands.
  {
    line: 'instance modify --backend-parameters vcpus=2 --hypervisor-parameters boot_order=cdrom --disk add:size=1G -f --no-wait-for-sync --ignore-ipolicy web1',
    jobs: [
      [
        {
          OP_ID: 'OP_INSTANCE_SET_PARAMS',
          beparams: { vcpus: 2 },
          hvparams: { boot_order: 'cdrom' },
          disks: [['add', -1, { size: 1024 }]],
          force: true,
        },
      ],
    ],
  },
  {
    line: 'instance modify --disk 1:add,size=512M,mode=ro web1',
    jobs: [[{ OP_ID: 'OP_INSTANCE_SET_PARAMS', disks: [['add', 1, { size: 512, mode: 'ro' }]] }]],
  },
  {
    line: 'instance modify --net 0:mode=routed web1',
    jobs: [[{ OP_ID: 'OP_INSTANCE_SET_PARAMS', nics: [['modify', 0, { mode: 'routed' }]] }]],
  },
  {
    line: 'instance rename -f --no-name-check --no-ip-check web1 web9',
    jobs: [[{ OP_ID: 'OP_INSTANCE_RENAME', instance_name: 'web1', new_name: 'web9' }]],
  },
  {
    line: 'instance grow-disk --no-wait-for-sync --ignore-ipolicy web1 0 2G',
    jobs: [[{ OP_ID: 'OP_INSTANCE_GROW_DISK', disk: 0, amount: 2048 }]],
  },
  {
    line: 'instance migrate -f --ignore-ipolicy --non-live web1',
    jobs: [[{ OP_ID: 'OP_INSTANCE_MIGRATE', mode: 'non-live' }]],
  },
  {
    line: 'instance failover -f --ignore-ipolicy -n n2 web1',
    jobs: [[{ OP_ID: 'OP_INSTANCE_FAILOVER', target_node: 'n2' }]],
  },
  {
    line: 'instance move -f --node n2 web1',
    jobs: [[{ OP_ID: 'OP_INSTANCE_MOVE', target_node: 'n2' }]],
  },
  {
    line: `instance add-tags --from ${fileWith(['a', '', 'b'])} web1 c`,
    jobs: [[{ OP_ID: 'OP_TAGS_SET', kind: 'instance', name: 'web1', tags: ['c', 'a', 'b'] }]],
  },
  // Other families.
  {
    line: 'node migrate -f --ignore-ipolicy n1',
    jobs: [[{ OP_ID: 'OP_NODE_MIGRATE', node_name: 'n1', mode: 'live' }]],
  },
  {
    line: 'node evacuate -f -p n1 --reason drain',
    jobs: [
      [{ OP_ID: 'OP_NODE_EVACUATE', mode: 'primary', reason: [['gnt:user', 'drain', expect.any(Number)]] }],
    ],
  },
  {
    line: 'group assign-nodes -f default n3',
    jobs: [[{ OP_ID: 'OP_GROUP_ASSIGN_NODES', group_name: 'default', nodes: ['n3'], force: true }]],
  },
  {
    line: 'backup export -f -n n2 --noshutdown web1',
    jobs: [[{ OP_ID: 'OP_BACKUP_EXPORT', target_node: 'n2', shutdown: false }]],
  },
  {
    line: 'backup import -t file -n n1 -g default --no-name-check --no-ip-check --src-node n2 web1',
    jobs: [
      [
        {
          OP_ID: 'OP_INSTANCE_CREATE',
          mode: 'import',
          src_node: 'n2',
          src_path: 'web1',
          group_name: 'default',
        },
      ],
    ],
  },
];

describe("Ganeti's command lines that Corral takes", () => {
  it.each(accepted)('$line', async ({ line, jobs, priority, stdout, answer }) => {
    const outcome = await runLine(line, answer);
    expect(outcome.error).toBeUndefined();
    expect(outcome.jobs.map((job) => job.ops)).toMatchObject(jobs);
    if (priority !== undefined) for (const job of outcome.jobs) expect(job.priority).toBe(priority);
    if (stdout !== undefined) expect(outcome.stdout).toMatch(stdout);
  });
});

interface Refused {
  readonly line: string;
  readonly error: string | RegExp;
  readonly answer?: boolean;
  /** A command line yargs refuses (exit 2) rather than the command. */
  readonly usage?: boolean;
}

const refused: readonly Refused[] = [
  { line: 'instance add -t file -s -5G web9', error: 'corral: -s: a size must be positive, not -5G' },
  { line: 'instance add -t file -s 0 web9', error: 'corral: -s: a size must be positive, not 0' },
  {
    line: 'instance add -t file --disk 0:size=-1G web9',
    error: 'corral: --disk size: a size must be positive, not -1G',
  },
  {
    line: 'instance remove web1',
    error: 'corral: instance remove deletes the disks of web1: give -f to remove it without being asked',
  },
  { line: 'instance remove web1', answer: false, error: 'corral: not confirmed: nothing was done' },
  { line: 'instance remove web7', answer: true, error: 'corral: instance web7 does not exist' },
  { line: 'instance reinstall web7', answer: true, error: 'corral: instance web7 does not exist' },
  {
    line: 'instance reinstall web1',
    error: 'corral: instance reinstall erases the data of web1: give -f to reinstall it without being asked',
  },
  {
    line: 'instance startup --all',
    error:
      'corral: startup would act on 4 instances (db, idle, web1, web2): give --force-multiple to go ahead without being asked',
  },
  {
    line: 'instance shutdown web1 web2',
    error:
      'corral: shutdown would act on 2 instances (web1, web2): give --force-multiple to go ahead without being asked',
  },
  { line: 'instance startup --all web1', error: 'corral: --all takes no arguments (web1 given)' },
  { line: 'instance startup --all --node n1', error: 'corral: give one of --all, --node, not 2' },
  { line: 'instance startup --node n9 -f', error: 'corral: node n9 does not exist' },
  { line: 'instance startup --tags nosuch -f', error: 'corral: the selection matches no instance' },
  {
    line: 'instance startup',
    error: 'corral: name an instance, or select some with --all, --node or --tags',
  },
  {
    line: 'instance startup -H boot_order=cdrom web1',
    error:
      'corral: Corral cannot start an instance with one-off -H/-B parameters: change them with instance modify, then start it',
  },
  {
    line: 'instance startup --all -B memory=1G',
    answer: true,
    error:
      'corral: Corral cannot start an instance with one-off -H/-B parameters: change them with instance modify, then start it',
  },
  {
    line: 'instance modify --net 0:mode=tap web1',
    error: 'corral: --net 0:mode=tap: mode is bridged, routed, openvswitch or none, not tap',
  },
  { line: 'instance add-tags web1', error: 'corral: name the tags, or give --from FILE' },
  { line: 'instance startup --bogus web1', usage: true, error: /^corral: Unknown argument: bogus$/ },
  {
    line: 'instance list --units x',
    usage: true,
    error: 'corral: Invalid values: Argument: units, Given: "x", Choices: "h", "m", "g", "t"',
  },
];

describe("Ganeti's command lines that Corral refuses, in one line", () => {
  it.each(refused)('$line', async ({ line, error, answer, usage }) => {
    const outcome = await runLine(line, answer);
    expect(outcome.jobs).toEqual([]);
    expect(outcome.error?.split('\n')).toHaveLength(1);
    if (typeof error === 'string') expect(outcome.error).toBe(error);
    else expect(outcome.error).toMatch(error);
    expect(outcome.usage).toBe(usage === true);
  });

  it('asks the question Ganeti asks, listing the instances affected', async () => {
    const outcome = await runLine('instance startup --tags web', true);
    expect(outcome.asked).toEqual([
      'The startup will operate on 2 instances.\nDo you want to continue?\nAffected instances:\n  web1\n  web2',
    ]);
    expect(outcome.jobs).toHaveLength(2);
    // One instance named is not asked about; --force-multiple or -f answers for several.
    for (const line of [
      'instance startup web1',
      'instance startup --all --force-multiple',
      'instance stop -f --all',
    ]) {
      const quiet = await runLine(line, false);
      expect(quiet.error, line).toBeUndefined();
      expect(quiet.asked, line).toEqual([]);
    }
  });
});

describe('list and list-fields options', () => {
  it('prints sizes in --units, h by default and MiB with a separator', async () => {
    const sizes = (options: string) =>
      runLine(`instance list -o name,be/maxmem,disk.size/0 --no-headers ${options} web1`).then(
        (outcome) => outcome.stdout,
      );
    expect(await sizes('')).toBe('web1 1.5G 10.0G\n');
    expect(await sizes('--separator=|')).toBe('web1|1536|10240\n');
    expect(await sizes('--separator | --units g')).toBe('web1|1.5|10.0\n');
    expect(await sizes('--units=m')).toBe('web1 1536 10240\n');
    expect(await sizes('--units h --separator :')).toBe('web1:1.5G:10.0G\n');
    expect(await sizes('--units t --separator :')).toBe('web1:0.0:0.0\n');
  });

  it('adds -o +fields to the default ones, and -v spells out missing values', async () => {
    const plus = await runLine('instance list -o +tags,disk.size/1 --separator , --no-headers -v web1');
    expect(plus.error).toBeUndefined();
    // No node answered the fake's live query: the primary counts as down, its live memory as no data.
    expect(plus.stdout).toBe('web1,fake,noop,n1,ERROR_nodedown,(nodata),web,(unavail)\n');
  });

  it('takes --no-headers and --separator in list-fields of every family', async () => {
    for (const [family, field] of [
      ['instance', 'name'],
      ['node', 'name'],
      ['group', 'name'],
      ['backup', 'node'],
    ]) {
      const outcome = await runLine(`${family} list-fields --no-headers --separator=| ${field}`);
      expect(outcome.error).toBeUndefined();
      expect(outcome.stdout).toMatch(new RegExp(`^${field}\\|text\\|[A-Za-z]+\\|[^|]+\n$`));
    }
  });
});

describe('global options', () => {
  it('-d adds the error code and the causes to a failure', () => {
    const failure = new CorralError('unavailable', 'the daemon is down', {
      cause: new Error('connect ENOENT /run/corral.sock'),
    });
    expect(errorLines(failure, 0)).toEqual(['corral: the daemon is down']);
    expect(errorLines(failure, 1)).toEqual([
      'corral: the daemon is down',
      '  error code: unavailable',
      '  caused by: Error: connect ENOENT /run/corral.sock',
    ]);
    expect(errorLines(new Error('plain'), 1)).toEqual([
      'corral: plain',
      '  error code: internal',
      '  caused by: Error: plain',
    ]);
    expect(errorLines(failure, 2).length).toBeGreaterThan(3);
  });

  it('gives a value that looks like a negative size to the option before it', () => {
    expect(ganetiArgv(['-s', '-5G', 'web1'])).toEqual(['-s=-5G', 'web1']);
    expect(ganetiArgv(['--os-size', '-1.5g'])).toEqual(['--os-size=-1.5g']);
    expect(ganetiArgv(['-s', '5G', '--', '-s', '-5G'])).toEqual(['-s', '5G', '--', '-s', '-5G']);
    expect(ganetiArgv(['--priority', '-5'])).toEqual(['--priority', '-5']);
  });

  it('takes -d, --debug and --reason on every command', async () => {
    for (const line of [
      'instance list -d --reason why web1',
      'node list --debug --debug',
      'group list-fields --reason=x',
      'instance info -dd --priority low --static web1',
    ]) {
      const outcome = await runLine(line);
      expect(outcome.usage, line).toBe(false);
    }
  });
});
