import { describe, expect, it } from 'vitest';
import type { ControlRequest } from '../../src/daemon/control-protocol.js';
import { fakeCluster, fakeInstance, fakeNode, restoreAfterEach, runCli, times } from './fake-daemon.js';

/**
 * gnt-node's storage and disk commands (list-drbd, volumes, modify-storage, repair-storage) and the node
 * options of issue 22 (add --readd, failover -I, evacuate --early-release) through the CLI's parser and
 * handlers, with a fake daemon. The opcodes' effects are tested on the simulated cluster
 * (simulations/node-storage-ops.test.ts) and plain's repair on a real volume group (test/storage).
 */

const disk = (uuid: string) => ({ uuid, sizeMiB: 1024, mode: 'rw', format: 'raw' });

function config() {
  return {
    cluster: fakeCluster({ enabledDiskTemplates: ['drbd', 'file'] }),
    serial: 3,
    master: 'peer-n1',
    groups: [{ uuid: 'g1', name: 'default', allocPolicy: 'preferred', tags: [], serial: 1, ...times }],
    nodes: [fakeNode('n1'), fakeNode('n2'), fakeNode('n3')],
    instances: [
      fakeInstance({
        name: 'db',
        diskTemplate: 'drbd',
        primaryNode: 'u-n1',
        secondaryNodes: ['u-n2'],
        disks: [disk('db0'), disk('db1')],
        ctimeMs: times.ctimeMs + 2,
      }),
      fakeInstance({
        name: 'web',
        diskTemplate: 'drbd',
        primaryNode: 'u-n2',
        secondaryNodes: ['u-n1'],
        disks: [disk('web0')],
        ctimeMs: times.ctimeMs + 1,
      }),
      fakeInstance({ name: 'files', diskTemplate: 'file', primaryNode: 'u-n3', disks: [disk('f0')] }),
    ],
  };
}

const run = (words: string[], result: unknown = null, answer?: (request: ControlRequest) => unknown) =>
  runCli(words, { config: config(), result, ...(answer && { answer }) });

restoreAfterEach();

describe('gnt-node list-drbd', () => {
  it("lists a node's mirrored disks, minors in the order the instances were made", async () => {
    const { stdout, error } = await run(['node', 'list-drbd', '--separator=|', 'n1']);
    expect(error).toBeUndefined();
    expect(stdout).toBe(
      [
        'Node|Minor|Instance|Disk|Role|PeerNode',
        'n1|0|web|0|secondary|n2',
        'n1|1|db|0|primary|n2',
        'n1|2|db|1|primary|n2',
        '',
      ].join('\n'),
    );
  });

  it('lists every node without a name, and nothing for a node with no mirrored disk', async () => {
    const { stdout } = await run(['node', 'list-drbd', '--no-headers', '--separator= ']);
    expect(stdout.split('\n').filter((line) => line !== '')).toEqual([
      'n1 0 web 0 secondary n2',
      'n1 1 db 0 primary n2',
      'n1 2 db 1 primary n2',
      'n2 0 web 0 primary n1',
      'n2 1 db 0 secondary n1',
      'n2 2 db 1 secondary n1',
    ]);
    expect((await run(['node', 'list-drbd', 'n3'])).stdout).toBe('Node Minor Instance Disk Role PeerNode\n');
  });

  it('refuses an unknown node in one line', async () => {
    expect((await run(['node', 'list-drbd', 'n9'])).error).toBe('corral: node n9 does not exist');
  });
});

describe('gnt-node volumes', () => {
  const rows = [
    ['n1', '/dev/xenvg/db0', 'xenvg', 'db0', 1024, 'db'],
    ['n3', '/srv/corral/files/f0.img', '/srv/corral/files', 'f0.img', 1536, 'files'],
  ];

  it("submits Ganeti's volumes query and prints its rows with sizes in units", async () => {
    const { stdout, jobs } = await run(['node', 'volumes', 'n1', 'n3'], rows);
    expect(jobs).toEqual([
      [
        {
          OP_ID: 'OP_NODE_QUERYVOLS',
          nodes: ['n1', 'n3'],
          output_fields: ['node', 'phys', 'vg', 'name', 'size', 'instance'],
        },
      ],
    ]);
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(/^Node +PhysDev +VG +Name +Size +Instance$/);
    expect(lines[1]).toMatch(/^n1 +\/dev\/xenvg\/db0 +xenvg +db0 +1\.0G +db$/);
    expect(lines[2]).toMatch(
      /^n3 +\/srv\/corral\/files\/f0\.img +\/srv\/corral\/files +f0\.img +1\.5G +files$/,
    );
  });

  it('takes -o and --separator (sizes then in MiB), and refuses an unknown field in one line', async () => {
    const { stdout, jobs } = await run(
      ['node', 'volumes', '-o', 'name,size', '--separator=:'],
      [['db0', 1024]],
    );
    expect(jobs).toEqual([[{ OP_ID: 'OP_NODE_QUERYVOLS', nodes: [], output_fields: ['name', 'size'] }]]);
    expect(stdout).toBe('Name:Size\ndb0:1024\n');
    const refused = await run(['node', 'volumes', '-o', 'name,colour']);
    expect(refused.error).toBe(
      'corral: unknown volume field colour; the fields are node, phys, vg, name, size, instance',
    );
    expect(refused.jobs).toEqual([]);
  });
});

describe('gnt-node modify-storage and repair-storage', () => {
  it('repair-storage submits the repair of an lvm-vg', async () => {
    const { jobs, error } = await run([
      'node',
      'repair-storage',
      '--ignore-consistency',
      'n1',
      'lvm-vg',
      'xenvg',
    ]);
    expect(error).toBeUndefined();
    expect(jobs).toEqual([
      [
        {
          OP_ID: 'OP_REPAIR_NODE_STORAGE',
          node_name: 'n1',
          storage_type: 'lvm-vg',
          name: 'xenvg',
          ignore_consistency: true,
        },
      ],
    ]);
  });

  it('refuses to repair what Ganeti does not repair, and submits nothing', async () => {
    const refused = await run(['node', 'repair-storage', 'n1', 'file', '/srv/corral/files']);
    expect(refused.error).toBe(
      'corral: storage units of type file cannot be repaired; only lvm-vg can (vgreduce --removemissing)',
    );
    expect(refused.jobs).toEqual([]);
  });

  it('modify-storage says why nothing in Corral is modifiable, naming what does it on the node', async () => {
    expect((await run(['node', 'modify-storage', 'n1', 'lvm-pv', '/dev/sdb1'])).error).toBe(
      'corral: No changes to perform: give --allocatable yes|no',
    );
    expect(
      (await run(['node', 'modify-storage', '--allocatable=no', 'n1', 'lvm-pv', '/dev/sdb1'])).error,
    ).toBe(
      "corral: Corral does not manage LVM physical volumes (plain disks take any free extent of the volume group); run 'pvchange --allocatable n /dev/sdb1' on n1 instead",
    );
    expect((await run(['node', 'modify-storage', '--allocatable=yes', 'n1', 'file', 'x'])).error).toBe(
      'corral: storage units of type file cannot be modified (Ganeti modifies only lvm-pv)',
    );
  });
});

describe("gnt-node add --readd, failover -I, evacuate's options", () => {
  const probeAs = (peer: string) => (request: ControlRequest) =>
    request.op === 'master' && request.request.op === 'probe'
      ? { peer, name: 'n2', version: '0.1.0' }
      : undefined;

  it('--readd of a node whose daemon kept its identity has nothing to do', async () => {
    const { stdout, error, jobs } = await run(['node', 'add', '--readd', 'n2'], null, probeAs('peer-n2'));
    expect(error).toBeUndefined();
    expect(stdout).toBe('n2 is peer peer-n2, already a member: nothing to re-add\n');
    expect(jobs).toEqual([]);
  });

  it('--readd of a reinstalled node (a new identity) says how to replace it; of an unknown one, to add it', async () => {
    expect((await run(['node', 'add', '--readd', 'n2'], null, probeAs('peer-new'))).error).toBe(
      'corral: n2 now answers as peer peer-new, not peer-n2 (a reinstalled node has a new identity); Corral cannot re-add it in place: evacuate it, remove it and add it again',
    );
    expect((await run(['node', 'add', '--readd', 'n7'], null, probeAs('peer-n7'))).error).toBe(
      'corral: node n7 is not in the configuration; add it without --readd',
    );
  });

  it('failover -I is refused while the node is primary of mirrored instances, submitting nothing', async () => {
    const refused = await run(['node', 'failover', '-f', '-I', 'hail', 'n1']);
    expect(refused.error).toBe(
      'corral: instances with disk template drbd cannot be failed over to arbitrary nodes (db go to their secondaries): drop -I',
    );
    expect(refused.jobs).toEqual([]);
  });

  it('evacuate passes --early-release and --ignore-soft-errors on', async () => {
    const { jobs } = await run(['node', 'evacuate', '-f', '--early-release', '--ignore-soft-errors', 'n1'], {
      jobs: [],
    });
    expect(jobs).toEqual([
      [
        {
          OP_ID: 'OP_NODE_EVACUATE',
          node_name: 'n1',
          mode: 'all',
          early_release: true,
          ignore_soft_errors: true,
        },
      ],
    ]);
  });
});

describe('gnt-node restricted-command', () => {
  const outcome = [
    [true, 'ok here\nall good\n'],
    [false, "Executing command 'check' failed: no such file"],
  ];

  it("runs on the nodes named, prints Ganeti's layout, and fails when a node's run failed", async () => {
    const { stdout, jobs, exitCode } = await run(
      ['node', 'restricted-command', '--sync', 'check', 'n1', 'n2'],
      outcome,
    );
    expect(jobs).toEqual([
      [{ OP_ID: 'OP_RESTRICTED_COMMAND', command: 'check', nodes: ['n1', 'n2'], use_locking: true }],
    ]);
    const rule = '------------------------------------------------';
    expect(stdout).toBe(
      `${rule}\nNode: n1\nok here\nall good\n\n${rule}\nExecuting command 'check' failed: no such file\n`,
    );
    expect(exitCode).toBe(1);
  });

  it('takes a group with -g, prefixes lines with -M, and refuses without nodes', async () => {
    const { stdout, jobs } = await run(
      ['node', 'restricted-command', '-M', '-g', 'default', 'check'],
      [
        [true, 'a\nb\n'],
        [true, 'c\n'],
        [true, ''],
      ],
    );
    expect(jobs).toEqual([[{ OP_ID: 'OP_RESTRICTED_COMMAND', command: 'check', nodes: ['n1', 'n2', 'n3'] }]]);
    expect(stdout.split('\n').filter((line) => !line.startsWith('---'))).toEqual([
      'n1: a',
      'n1: b',
      'n2: c',
      '',
    ]);
    expect((await run(['node', 'restricted-command', 'check'])).error).toBe(
      'corral: Node group or node names must be given',
    );
  });
});

describe('gnt-node powercycle', () => {
  it('asks first, then submits the powercycle and prints what the node said', async () => {
    const asked = await run(['node', 'powercycle', 'n2']);
    expect(asked.error).toBe(
      'corral: powercycle asks for confirmation: give --yes to run it without a terminal',
    );
    expect(asked.jobs).toEqual([]);
    const { jobs, stdout } = await run(
      ['node', 'powercycle', '--yes', '-f', 'n1'],
      'Reboot scheduled in 5 seconds',
    );
    expect(jobs).toEqual([[{ OP_ID: 'OP_NODE_POWERCYCLE', node_name: 'n1', force: true }]]);
    expect(stdout).toBe('Reboot scheduled in 5 seconds\n');
  });
});
