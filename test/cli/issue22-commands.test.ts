import { describe, expect, it } from 'vitest';
import { fakeCluster, fakeInstance, fakeNode, restoreAfterEach, runCli, times } from './fake-daemon.js';

/**
 * Issue 22's command lines (gnt-group info, show-ispecs-cmd, evacuate; gnt-instance change-group) through
 * the CLI's parser and handlers, with a fake daemon: what each prints, the opcodes it submits, and its
 * one-line refusal of bad input. The effects are tested on the simulated cluster
 * (simulations/group-moves.test.ts).
 */

function config() {
  return {
    cluster: fakeCluster(),
    serial: 7,
    master: 'peer-n1',
    groups: [
      { uuid: 'g1', name: 'default', allocPolicy: 'preferred', tags: ['rack:1'], serial: 1, ...times },
      {
        uuid: 'g2',
        name: 'rack2',
        allocPolicy: 'last_resort',
        diskTemplates: ['file'],
        tags: [],
        serial: 1,
        ...times,
      },
    ],
    nodes: [fakeNode('n1'), fakeNode('n2'), fakeNode('n3', 'g2')],
    instances: [
      fakeInstance({
        name: 'web',
        diskTemplate: 'file',
        disks: [{ uuid: 'd0', sizeMiB: 64, mode: 'rw', format: 'raw' }],
      }),
    ],
  };
}

const run = (words: string[], result: unknown = null) => runCli(words, { config: config(), result });

restoreAfterEach();

describe('gnt-group info and show-ispecs-cmd', () => {
  it("prints a group in Ganeti's YAML layout: members, node parameters, instance policy", async () => {
    const { stdout } = await run(['group', 'info', 'rack2']);
    expect(stdout.split('\n')).toEqual([
      '- Node group: rack2',
      '  UUID: g2',
      '  Allocation policy: last_resort',
      '  Nodes: n3',
      '  Instances: ',
      '  Node parameters: ',
      '    cpu_speed: default (1.0)',
      '    exclusive_storage: default (False)',
      '    oob_program: default ()',
      '    ovs: default (False)',
      '    ovs_link: default ()',
      '    ovs_name: default (switch1)',
      '    spindle_count: default (1)',
      '    ssh_port: default (22)',
      '  Disk parameters: ',
      '  Instance policy: ',
      '    bounds specs: ',
      '      - max/0: ',
      '          cpu-count: default (8)',
      '          disk-count: default (16)',
      '          disk-size: default (1048576)',
      '          memory-size: default (32768)',
      '          nic-count: default (8)',
      '          spindle-use: default (12)',
      '        min/0: ',
      '          cpu-count: default (0)',
      '          disk-count: default (0)',
      '          disk-size: default (0)',
      '          memory-size: default (0)',
      '          nic-count: default (0)',
      '          spindle-use: default (0)',
      '    allowed disk templates: file',
      '    vcpu-ratio: default (4.0)',
      '    spindle-ratio: default (32.0)',
      '  Tags: ',
      '',
    ]);
  });

  it('prints every group without names, the inherited templates as defaults', async () => {
    const { stdout } = await run(['group', 'info']);
    expect(stdout).toContain(
      '- Node group: default\n  UUID: g1\n  Allocation policy: preferred\n  Nodes: n1, n2\n',
    );
    expect(stdout).toContain('  Instances: web\n');
    expect(stdout).toContain('    allowed disk templates: default (file, diskless)\n');
    expect(stdout).toContain('  Tags: rack:1\n');
    expect(stdout.indexOf('Node group: default')).toBeLessThan(stdout.indexOf('Node group: rack2'));
  });

  it('refuses an unknown group in one line', async () => {
    const { error } = await run(['group', 'info', 'nope']);
    expect(error).toBe('corral: node group nope does not exist; known: default, rack2');
  });

  it('show-ispecs-cmd prints the add command, with the inherited bounds on request', async () => {
    expect((await run(['group', 'show-ispecs-cmd'])).stdout).toBe(
      'gnt-group add default\ngnt-group add rack2\n',
    );
    expect((await run(['group', 'show-ispecs-cmd', '--include-defaults', 'rack2'])).stdout).toBe(
      'gnt-group add --ipolicy-bounds-specs min:cpu-count=0,disk-count=0,disk-size=0,memory-size=0,nic-count=0,spindle-use=0' +
        '/max:cpu-count=8,disk-count=16,disk-size=1048576,memory-size=32768,nic-count=8,spindle-use=12 rack2\n',
    );
    expect((await run(['group', 'show-ispecs-cmd', 'nope'])).error).toBe(
      'corral: node group nope does not exist; known: default, rack2',
    );
  });
});

describe('gnt-group evacuate and gnt-instance change-group', () => {
  it('evacuate submits the plan opcode with every --to, then follows the jobs it made', async () => {
    const { jobs, error } = await run(
      ['group', 'evacuate', '--to', 'rack2', '--to=g1', '-I', 'hail', '--early-release', 'default'],
      { jobs: [[true, 2]] },
    );
    expect(error).toBeUndefined();
    expect(jobs).toEqual([
      [
        {
          OP_ID: 'OP_GROUP_EVACUATE',
          group_name: 'default',
          target_groups: ['rack2', 'g1'],
          iallocator: 'hail',
          early_release: true,
        },
      ],
    ]);
  });

  it('evacuate --force-failover asks for failovers, --sequential for jobs that wait for each other', async () => {
    expect((await run(['group', 'evacuate', '--force-failover', 'default'], { jobs: [] })).jobs).toEqual([
      [{ OP_ID: 'OP_GROUP_EVACUATE', group_name: 'default', force_failover: true }],
    ]);
    expect((await run(['group', 'evacuate', '--sequential', 'default'], { jobs: [] })).jobs).toEqual([
      [{ OP_ID: 'OP_GROUP_EVACUATE', group_name: 'default', sequential: true }],
    ]);
  });

  it('change-group names the instance and the target groups', async () => {
    const { jobs, error } = await run(['instance', 'change-group', '--to', 'rack2', 'web'], { jobs: [] });
    expect(error).toBeUndefined();
    expect(jobs).toEqual([
      [{ OP_ID: 'OP_INSTANCE_CHANGE_GROUP', instance_name: 'web', target_groups: ['rack2'] }],
    ]);
  });

  it('an empty --to is refused in one line', async () => {
    const { error, jobs } = await run(['instance', 'change-group', '--to=', 'web']);
    expect(error).toBe('corral: --to: name a node group');
    expect(jobs).toEqual([]);
  });
});

describe('gnt-os modify', () => {
  it("submits Ganeti's cluster modify fields for one OS", async () => {
    const { jobs, error } = await run([
      'os',
      'modify',
      '-H',
      'kvm:kernel_path=/boot/k,accel=tcg',
      '-O',
      'dhcp=yes',
      '--hidden=yes',
      '--blacklisted',
      'no',
      'debootstrap',
    ]);
    expect(error).toBeUndefined();
    expect(jobs).toEqual([
      [
        {
          OP_ID: 'OP_CLUSTER_SET_PARAMS',
          os_hvp: { debootstrap: { kvm: { kernel_path: '/boot/k', accel: 'tcg' } } },
          osparams: { debootstrap: { dhcp: 'yes' } },
          hidden_os: [['add', 'debootstrap']],
          blacklisted_os: [['remove', 'debootstrap']],
        },
      ],
    ]);
  });

  it('refuses, in one line and submitting nothing, no change, a hypervisor not named, and private parameters', async () => {
    for (const [words, message] of [
      [
        ['os', 'modify', 'debootstrap'],
        'corral: At least one of OS parameters or hypervisor parameters must be passed',
      ],
      [
        ['os', 'modify', '-H', 'kernel_path=/k', 'debootstrap'],
        'corral: -H kernel_path=/k: name the hypervisor first (fake or kvm:k=v,…)',
      ],
      [
        ['os', 'modify', '--os-parameters-private', 'pw=x', 'debootstrap'],
        'corral: --os-parameters-private: Corral keeps private OS parameters per instance, not per OS: give them with instance add or modify --os-parameters-private',
      ],
    ] as const) {
      const refused = await run([...words]);
      expect(refused.error).toBe(message);
      expect(refused.jobs).toEqual([]);
    }
  });
});

describe("group add and modify: Ganeti's policy and state options", () => {
  it("takes the instance policy's options when they say what it is, and refuses others in one line", async () => {
    const ok = await run([
      'group',
      'add',
      '--ipolicy-vcpu-ratio',
      '4',
      '--ipolicy-spindle-ratio',
      '32',
      'rack3',
    ]);
    expect(ok.error).toBeUndefined();
    expect(ok.jobs).toEqual([[{ OP_ID: 'OP_GROUP_ADD', group_name: 'rack3' }]]);
    const refused = await run(['group', 'modify', '--ipolicy-vcpu-ratio', '8', 'rack2']);
    expect(refused.error).toMatch(/^corral: --ipolicy-vcpu-ratio 8: Corral's instance policy is fixed at 4/);
    expect(refused.jobs).toEqual([]);
  });

  it('refuses disk parameters and declared state, saying why, and submits nothing', async () => {
    for (const [words, message] of [
      [
        ['group', 'add', '-D', 'drbd:resync-rate=1024', 'rack3'],
        /^corral: --disk-parameters drbd:resync-rate=1024: Corral's disk templates take no parameters/,
      ],
      [
        ['group', 'modify', '--hypervisor-state', 'kvm:mem_total=1024', 'rack2'],
        /^corral: --hypervisor-state .*: Corral measures each node's memory/,
      ],
      [
        ['group', 'modify', '--disk-state', 'plain:xenvg:disk_total=100', 'rack2'],
        /^corral: --disk-state .*: Corral measures/,
      ],
    ] as const) {
      const refused = await run([...words]);
      expect(refused.error).toMatch(message);
      expect(refused.jobs).toEqual([]);
    }
  });
});
