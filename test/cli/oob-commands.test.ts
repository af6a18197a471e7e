import { describe, expect, it } from 'vitest';
import {
  captureCli,
  fakeCluster,
  fakeInstance,
  fakeNode,
  restoreAfterEach,
  runCli,
  times,
} from './fake-daemon.js';

/**
 * Node parameters and Ganeti's out-of-band commands on the command line (gnt-node health and power,
 * gnt-cluster epo, --node-parameters), with the shared fake daemon: options, opcodes, output layout and
 * one-line refusals. The master's side is tested in test/master/oob-ops.test.ts and simulations/oob.test.ts,
 * a real program on real daemons in test/cli/oob-daemons.test.ts.
 */

function config(overrides: { cluster?: Record<string, unknown>; n2?: Record<string, unknown> } = {}) {
  return {
    cluster: fakeCluster({ ndParams: { oob_program: '/usr/lib/oob' }, ...overrides.cluster }),
    serial: 7,
    master: 'peer-n1',
    groups: [
      { uuid: 'g1', name: 'default', allocPolicy: 'preferred', tags: [], serial: 1, ...times },
      {
        uuid: 'g2',
        name: 'rack2',
        allocPolicy: 'preferred',
        ndParams: { spindle_count: 4, oob_program: '' },
        tags: [],
        serial: 1,
        ...times,
      },
    ],
    nodes: [
      fakeNode('n1'),
      { ...fakeNode('n2'), ndParams: { ssh_port: 2222 }, ...overrides.n2 },
      fakeNode('n3', 'g2'),
    ],
    instances: [
      fakeInstance({ name: 'web', primaryNode: 'u-n2' }),
      fakeInstance({ name: 'db', primaryNode: 'u-n1', secondaryNodes: ['u-n2'], diskTemplate: 'drbd' }),
    ],
  };
}

const run = (words: string[], result: unknown = null, cfg = config()) =>
  runCli(words, { config: cfg, result });

restoreAfterEach();

describe('--node-parameters', () => {
  it('cluster modify sends the values typed as Ganeti types them', async () => {
    const { jobs } = await run([
      'cluster',
      'modify',
      '--node-parameters',
      'oob_program=/bin/oob,spindle_count=2,no_ovs',
    ]);
    expect(jobs).toEqual([
      [
        {
          OP_ID: 'OP_CLUSTER_SET_PARAMS',
          ndparams: { oob_program: '/bin/oob', spindle_count: 2, ovs: false },
        },
      ],
    ]);
  });

  it('group modify and node modify keep default, which takes a key back to the inherited value', async () => {
    const group = await run([
      'group',
      'modify',
      'rack2',
      '--node-parameters',
      'spindle_count=default,cpu_speed=2.5',
    ]);
    expect(group.jobs).toEqual([
      [
        {
          OP_ID: 'OP_GROUP_SET_PARAMS',
          group_name: 'rack2',
          ndparams: { spindle_count: 'default', cpu_speed: 2.5 },
        },
      ],
    ]);
    const node = await run([
      'node',
      'modify',
      'n2',
      '--node-parameters',
      'ssh_port=default',
      '--node-powered',
      'yes',
    ]);
    expect(node.jobs).toEqual([
      [{ OP_ID: 'OP_NODE_SET_PARAMS', node_name: 'n2', ndparams: { ssh_port: 'default' }, powered: true }],
    ]);
    const added = await run(['group', 'add', 'rack3', '--node-parameters', 'oob_program=/bin/oob']);
    expect(added.jobs).toEqual([
      [{ OP_ID: 'OP_GROUP_ADD', group_name: 'rack3', ndparams: { oob_program: '/bin/oob' } }],
    ]);
  });

  it('node add gives the new node its own values', async () => {
    const peer = '12D3KooWNewNode';
    const { jobs } = await runCli(
      [
        'node',
        'add',
        'n4',
        '--enrol-code',
        `corral-enrol-v1:${peer}:${'a'.repeat(43)}`,
        '--node-parameters',
        'ssh_port=2200',
      ],
      {
        config: config(),
        answer: (request) =>
          request.op === 'master' && request.request.op === 'probe'
            ? { peer, name: 'n4', version: '0.1.0' }
            : undefined,
      },
    );
    expect(jobs[0]?.[0]).toMatchObject({
      OP_ID: 'OP_NODE_ADD',
      node_name: 'n4',
      ndparams: { ssh_port: 2200 },
    });
  });

  it('refuses an unknown key or a mistyped value in one line, before any job', async () => {
    const unknown = await run(['node', 'modify', 'n2', '--node-parameters', 'oob=/bin/x']);
    expect(unknown.error).toBe(
      "corral: --node-parameters: unknown node parameter 'oob'; known: cpu_speed, exclusive_storage, oob_program, ovs, ovs_link, ovs_name, spindle_count, ssh_port",
    );
    expect(unknown.jobs).toEqual([]);
    const typed = await run(['group', 'add', 'rack3', '--node-parameters', 'spindle_count=many']);
    expect(typed.error).toBe(
      "corral: --node-parameters: 'spindle_count' (value many) is not a valid integer",
    );
    // default is a value only where something is inherited: the cluster's is Ganeti's type check.
    const clusterDefault = await run(['cluster', 'modify', '--node-parameters', 'ovs=default']);
    expect(clusterDefault.error).toBe(
      "corral: --node-parameters: 'ovs' (value default) is not a valid boolean",
    );
  });

  it('shows the filled values: group info, cluster info, node list', async () => {
    const info = await run(['group', 'info', 'rack2']);
    const lines = info.stdout.split('\n');
    const at = lines.indexOf('  Node parameters: ');
    expect(lines.slice(at, at + 9)).toEqual([
      '  Node parameters: ',
      '    cpu_speed: default (1.0)',
      '    exclusive_storage: default (False)',
      '    oob_program: ',
      '    ovs: default (False)',
      '    ovs_link: default ()',
      '    ovs_name: default (switch1)',
      '    spindle_count: 4',
      '    ssh_port: default (22)',
    ]);
    const cluster = await run(['cluster', 'info']);
    expect(cluster.stdout).toContain(
      [
        'Default node parameters:',
        '  cpu_speed: 1.0',
        '  exclusive_storage: False',
        '  oob_program: /usr/lib/oob',
        '  ovs: False',
        '  ovs_link: ',
        '  ovs_name: switch1',
        '  spindle_count: 1',
        '  ssh_port: 22',
        'Default instance parameters:',
      ].join('\n'),
    );
    const list = await run(
      ['node', 'list', '-o', 'name,custom_ndparams,ndparams,powered', '--json'],
      null,
      config({ n2: { powered: false } }),
    );
    const rows = JSON.parse(list.stdout) as Record<string, unknown>[];
    expect(rows.map((row) => [row.name, row.custom_ndparams, row.powered])).toEqual([
      ['n1', {}, true],
      ['n2', { ssh_port: 2222 }, false],
      ['n3', {}, null],
    ]);
    expect(rows[1]!.ndparams).toMatchObject({
      oob_program: '/usr/lib/oob',
      ssh_port: 2222,
      spindle_count: 1,
    });
    expect(rows[2]!.ndparams).toMatchObject({ oob_program: '', spindle_count: 4 });
  });
});

const health = [
  [
    [0, 'n1'],
    [
      0,
      [
        ['psu', 'OK'],
        ['fan', 'WARNING'],
      ],
    ],
  ],
  [
    [0, 'n3'],
    [3, null],
  ],
];

describe('node health', () => {
  it("prints Ganeti's Node/Status table, an item a line, and fails when a node has no data", async () => {
    const { stdout, jobs, exitCode } = await run(['node', 'health', '--oob-timeout', '5'], health);
    expect(jobs).toEqual([[{ OP_ID: 'OP_OOB_COMMAND', node_names: [], command: 'health', timeout: 5 }]]);
    expect(stdout).toBe(['Node Status', 'n1   psu=OK', '     fan=WARNING', 'n3   (unavail)', ''].join('\n'));
    expect(exitCode).toBe(1);
    const plain = await run(['node', 'health', 'n1', '--no-headers', '--separator', '|'], health.slice(0, 1));
    expect(plain.stdout).toBe('n1|psu=OK\n|fan=WARNING\n');
    expect(plain.exitCode).toBeUndefined();
  });

  it('refuses a timeout that is not whole seconds', async () => {
    const { error, jobs } = await run(['node', 'health', '--oob-timeout', '1.5']);
    expect(error).toBe('corral: --oob-timeout: 1.5 is not a whole number of seconds');
    expect(jobs).toEqual([]);
  });
});

describe('node power', () => {
  it('status prints powered or unpowered', async () => {
    const result = [
      [
        [0, 'n2'],
        [0, { powered: false }],
      ],
      [
        [0, 'n3'],
        [2, null],
      ],
    ];
    const { stdout, jobs, exitCode } = await run(['node', 'power', 'status', 'n2', 'n3'], result);
    expect(jobs[0]).toEqual([
      {
        OP_ID: 'OP_OOB_COMMAND',
        node_names: ['n2', 'n3'],
        command: 'power-status',
        ignore_status: false,
        timeout: 60,
        power_delay: 2,
      },
    ]);
    expect(stdout).toBe('Node Status\nn2   unpowered\nn3   (nodata)\n');
    expect(exitCode).toBe(1);
  });

  it('off marks the nodes offline first in the same job, unless --ignore-status', async () => {
    const invoked = [
      [
        [0, 'n2'],
        [0, null],
      ],
    ];
    const off = await run(['node', 'power', '-f', '--auto-promote', 'off', 'n2'], invoked);
    expect(off.jobs[0]).toEqual([
      { OP_ID: 'OP_NODE_SET_PARAMS', node_name: 'n2', offline: true, auto_promote: true },
      {
        OP_ID: 'OP_OOB_COMMAND',
        node_names: ['n2'],
        command: 'power-off',
        ignore_status: false,
        timeout: 60,
        power_delay: 2,
      },
    ]);
    expect(off.stdout).toBe('Node Status\nn2   invoked\n');
    const ignoring = await run(['node', 'power', '--force', '--ignore-status', 'off', 'n2'], invoked);
    expect(ignoring.jobs[0]).toHaveLength(1);
    expect(ignoring.jobs[0]![0]).toMatchObject({ command: 'power-off', ignore_status: true });
    const on = await run(['node', 'power', '--power-delay', '0.5', 'on', 'n2'], invoked);
    expect(on.jobs[0]![0]).toMatchObject({ command: 'power-on', power_delay: 0.5 });
  });

  it('off and cycle ask first and need nodes; an unknown subcommand is refused', async () => {
    const asked = await run(['node', 'power', 'cycle', 'n2']);
    expect(asked.error).toBe(
      'corral: power cycle asks before it acts on n2: add --force (-f) to go ahead without asking',
    );
    expect(asked.jobs).toEqual([]);
    const none = await run(['node', 'power', '-f', 'off']);
    expect(none.error).toBe('corral: power off: please provide at least one node');
    const bad = await run(['node', 'power', 'reboot', 'n2']);
    expect(bad.error).toBe('corral: power subcommand reboot not supported; one of on, off, cycle, status');
    const declined = await captureCli(
      ['node', 'power', 'off', 'n2'],
      async () => undefined as never,
      async () => false,
    );
    expect(declined.error).toBe('corral: not confirmed: nothing was done');
  });
});

describe('cluster epo', () => {
  const offResult = [
    [
      [0, 'n2'],
      [0, null],
    ],
  ];

  it('stops the instances without remembering it, then powers the nodes off out of band', async () => {
    const { stdout, jobs } = await run(
      ['cluster', 'epo', '-f', 'n2', 'n3', '--shutdown-timeout', '30'],
      offResult,
    );
    expect(stdout.split('\n').filter((line) => !line.startsWith('Waiting') && line !== '')).toEqual([
      'Node n3 does not support out-of-band handling, it can not be handled in a fully automated manner',
      'Submit shutdown of instance web',
      'Submit shutdown of instance db',
      'All instances have been stopped successfully',
    ]);
    expect(jobs).toEqual([
      [{ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: 'web', no_remember: true, timeout: 30 }],
      [{ OP_ID: 'OP_INSTANCE_SHUTDOWN', instance_name: 'db', no_remember: true, timeout: 30 }],
      [
        {
          OP_ID: 'OP_OOB_COMMAND',
          node_names: ['n2'],
          command: 'power-off',
          ignore_status: true,
          timeout: 60,
          power_delay: 2,
        },
      ],
    ]);
  });

  it('skips nodes already in the power state wanted', async () => {
    const { stdout, jobs } = await run(
      ['cluster', 'epo', '-f', 'n2'],
      offResult,
      config({ n2: { powered: false } }),
    );
    expect(stdout).toContain('Node n2 is already in desired power state, skipping');
    expect(jobs.map((job) => (job[0] as { OP_ID: string }).OP_ID)).toEqual([
      'OP_INSTANCE_SHUTDOWN',
      'OP_INSTANCE_SHUTDOWN',
    ]);
  });

  it('--on powers the nodes on, waits for each and starts the instances whose nodes are all back', async () => {
    const alive = { id: 'peer-n2', node: 'n2', state: 'alive', incarnation: 1, stateAgeMs: 0, stale: false };
    const { stdout, jobs } = await runCli(['cluster', 'epo', '--on', '-f', 'n2'], {
      config: config({ n2: { powered: false } }),
      result: [
        [
          [0, 'n2'],
          [0, null],
        ],
      ],
      answer: (request) => (request.op === 'health' ? { rows: [alive] } : undefined),
    });
    expect(stdout.split('\n')).toEqual([
      'Waiting until all nodes are available again',
      'Node n2 became available',
      'Submit startup of instance web',
      'Submit startup of instance db',
      'All instances have been started successfully',
      '',
    ]);
    expect(jobs).toEqual([
      [
        {
          OP_ID: 'OP_OOB_COMMAND',
          node_names: ['n2'],
          command: 'power-on',
          ignore_status: true,
          timeout: 60,
          power_delay: 2,
        },
      ],
      [{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'web' }],
      [{ OP_ID: 'OP_INSTANCE_STARTUP', instance_name: 'db' }],
    ]);
  });

  it("refuses Ganeti's invalid combinations and the master without --all, in one line", async () => {
    expect((await run(['cluster', 'epo', '--groups', '--all'])).error).toBe(
      'corral: Only one of --groups or --all are allowed',
    );
    expect((await run(['cluster', 'epo', '--all', 'n2'])).error).toBe(
      'corral: Arguments in combination with --all are not allowed (n2)',
    );
    expect((await run(['cluster', 'epo', '-f', '--groups', 'default'])).error).toBe(
      'corral: n1 is the master node, please do a master-failover to another node not affected by the EPO or use --all if you intend to shutdown the whole cluster',
    );
    expect((await run(['cluster', 'epo', '-f', 'n9'])).error).toBe('corral: node n9 is not in the cluster');
    const asked = await run(['cluster', 'epo', 'n2']);
    expect(asked.error).toBe(
      'corral: epo asks before it acts on n2: add --force (-f) to go ahead without asking',
    );
    expect(asked.jobs).toEqual([]);
  });
});
