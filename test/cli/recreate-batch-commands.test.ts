import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ControlRequest } from '../../src/daemon/control-protocol.js';
import { fakeCluster, fakeInstance, fakeNode, restoreAfterEach, runCli, times } from './fake-daemon.js';

/**
 * gnt-instance recreate-disks and batch-create (issue 22) through the CLI's parser and handlers, with a fake
 * daemon: the opcodes each command line submits, what batch-create prints, and the one-line refusals of bad
 * input, with nothing submitted. The effects are tested on the simulated cluster
 * (simulations/recreate-disks.test.ts).
 */

function config() {
  return {
    cluster: fakeCluster({ enabledDiskTemplates: ['file', 'drbd', 'diskless'] }),
    serial: 7,
    master: 'peer-n1',
    groups: [{ uuid: 'g1', name: 'default', allocPolicy: 'preferred', tags: [], serial: 1, ...times }],
    nodes: [fakeNode('n1'), fakeNode('n2'), fakeNode('n3')],
    instances: [
      fakeInstance({
        name: 'web',
        diskTemplate: 'file',
        disks: [{ uuid: 'd0', sizeMiB: 64, mode: 'rw', format: 'raw' }],
      }),
    ],
  };
}

const run = (words: string[], result: unknown = null, answer?: (request: ControlRequest) => unknown) =>
  runCli(words, { config: config(), result, ...(answer !== undefined && { answer }) });

restoreAfterEach();

describe('instance recreate-disks', () => {
  it('submits every disk by default, or the --disk ones with their size and mode', async () => {
    expect((await run(['instance', 'recreate-disks', 'web'])).jobs).toEqual([
      [{ OP_ID: 'OP_INSTANCE_RECREATE_DISKS', instance_name: 'web' }],
    ]);
    const { jobs, error } = await run([
      'instance',
      'recreate-disks',
      '--disk',
      '1:size=2G,mode=ro',
      '--disk=0',
      'web',
    ]);
    expect(error).toBeUndefined();
    expect(jobs).toEqual([
      [
        {
          OP_ID: 'OP_INSTANCE_RECREATE_DISKS',
          instance_name: 'web',
          disks: [
            [1, { size: 2048, mode: 'ro' }],
            [0, {}],
          ],
        },
      ],
    ]);
  });

  it('takes new nodes (-n PRIMARY:SECONDARY) or an allocator, and the job options', async () => {
    expect((await run(['instance', 'recreate-disks', '-n', 'n2:n3', 'web'])).jobs).toEqual([
      [{ OP_ID: 'OP_INSTANCE_RECREATE_DISKS', instance_name: 'web', nodes: ['n2', 'n3'] }],
    ]);
    const submitted = await run(['instance', 'recreate-disks', '-I', 'hail', '--submit', 'web']);
    expect(submitted.stdout).toBe('JobID: 1\n');
    expect(submitted.jobs).toEqual([
      [{ OP_ID: 'OP_INSTANCE_RECREATE_DISKS', instance_name: 'web', iallocator: 'hail' }],
    ]);
    const dry = await run(['instance', 'recreate-disks', '--dry-run', '--priority', 'high', 'web']);
    expect(dry.jobs[0]).toEqual([
      { OP_ID: 'OP_INSTANCE_RECREATE_DISKS', instance_name: 'web', dry_run: true },
    ]);
    expect(dry.stdout).toBe('Dry run: nothing was changed.\n');
  });

  it('refuses bad --disk and -n values in one line, submitting nothing', async () => {
    const refused = async (words: string[]) => {
      const { error, jobs } = await run(['instance', 'recreate-disks', ...words, 'web']);
      expect(jobs).toEqual([]);
      return error;
    };
    expect(await refused(['--disk', 'first'])).toBe(
      'corral: --disk first: give a disk index, as in 0 or 0:size=10G,mode=ro',
    );
    expect(await refused(['--disk', '0:mode=rx'])).toBe('corral: --disk 0:mode=rx: mode is rw or ro, not rx');
    expect(await refused(['--disk', '0:size=big'])).toBe(
      'corral: --disk 0:size=big size: big is not a size (use 512M, 10G, 1T or a number of MiB)',
    );
    expect(await refused(['--disk', '0:spindles=2'])).toBe(
      'corral: --disk 0:spindles=2: spindles cannot be given when exclusive storage is not active, and Corral has none',
    );
    expect(await refused(['--disk', '0:vg=xenvg'])).toBe(
      'corral: --disk 0:vg=xenvg: unknown key vg; known: size, spindles, mode',
    );
    expect(await refused(['--disk', '0', '--disk', '0:size=1G'])).toBe(
      'corral: --disk: disk 0 is given twice',
    );
    expect(await refused(['-n', 'n1:n2:n3'])).toBe(
      'corral: -n n1:n2:n3: give NODE, or PRIMARY:SECONDARY for drbd',
    );
    expect(await refused(['-n', 'n2', '-I', 'hail'])).toBe(
      'corral: give at most one of -n/--node and -I/--iallocator',
    );
  });
});

describe('instance batch-create', () => {
  const dir = mkdtempSync(join(tmpdir(), 'corral-batch-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
    return path;
  };

  /** Ganeti's example from gnt-instance(8), with a hypervisor and OS a Corral cluster has. */
  const ganetiExample = [
    {
      mode: 'create',
      instance_name: 'instance1.example.com',
      disk_template: 'drbd',
      os_type: 'debootstrap',
      disks: [{ size: '1024' }],
      nics: [{}],
      hypervisor: 'kvm',
    },
    {
      mode: 'create',
      instance_name: 'instance2.example.com',
      os_type: 'debootstrap',
      disks: [{ size: '4096', mode: 'rw' }],
      nics: [{ mode: 'bridged', bridge: 'br0' }],
      hypervisor: 'kvm',
      hvparams: { acpi: true },
      beparams: { maxmem: 512, minmem: '256' },
      name_check: false,
      ip_check: false,
      start: false,
      tags: ['web'],
    },
  ];

  it("submits one multi-allocation of Ganeti's example file, follows each create job and says all succeeded", async () => {
    const path = file('instances.json', ganetiExample);
    const { jobs, stdout, error } = await run(['instance', 'batch-create', '-I', 'hail', path], {
      jobs: [
        [true, 2],
        [true, 3],
      ],
    });
    expect(error).toBeUndefined();
    expect(jobs[0]).toEqual([
      {
        OP_ID: 'OP_INSTANCE_MULTI_ALLOC',
        iallocator: 'hail',
        instances: [
          {
            mode: 'create',
            instance_name: 'instance1.example.com',
            disk_template: 'drbd',
            os_type: 'debootstrap',
            disks: [{ size: 1024 }],
            nics: [{}],
            hypervisor: 'kvm',
          },
          {
            mode: 'create',
            instance_name: 'instance2.example.com',
            // The cluster's first enabled template, as Ganeti fills it in.
            disk_template: 'file',
            os_type: 'debootstrap',
            disks: [{ size: 4096, mode: 'rw' }],
            nics: [{ mode: 'bridged', link: 'br0' }],
            hypervisor: 'kvm',
            hvparams: { acpi: 'true' },
            beparams: { maxmem: 512, minmem: 256 },
            start: false,
            tags: ['web'],
          },
        ],
      },
    ]);
    expect(stdout).toBe(
      'Submitted jobs 2, 3\n' +
        'Waiting for job 2 for instance1.example.com ...\n' +
        'Waiting for job 3 for instance2.example.com ...\n' +
        'All instances created successfully.\n',
    );
  });

  it('with --submit prints the job of the multi-allocation only; a dry run submits nothing for real', async () => {
    const path = file('submit.json', ganetiExample);
    const submitted = await run(['instance', 'batch-create', '--submit', '--priority', 'low', path]);
    expect(submitted.stdout).toBe('JobID: 1\n');
    expect(submitted.jobs).toHaveLength(1);
    const dry = await run(['instance', 'batch-create', '--dry-run', path]);
    expect(dry.jobs[0]).toMatchObject([{ OP_ID: 'OP_INSTANCE_MULTI_ALLOC', dry_run: true }]);
    expect(dry.stdout).toBe('Dry run: nothing was changed.\n');
  });

  it('counts the create jobs that failed, as Ganeti does, and exits 1', async () => {
    const path = file('two.json', ganetiExample);
    const create2 = {
      OP_ID: 'OP_INSTANCE_CREATE',
      instance_name: 'instance2.example.com',
      disk_template: 'file',
      disks: [],
    };
    const failing = (request: ControlRequest) =>
      request.op === 'job-wait' && request.job === 3
        ? {
            job: {
              id: 3,
              status: 'error',
              priority: 0,
              ops: [
                {
                  input: create2,
                  status: 'error',
                  result: { code: 'conflict', message: 'no node can take it' },
                },
              ],
              log: [],
              receivedMs: times.ctimeMs,
              version: 1,
            },
          }
        : undefined;
    const { stdout, stderr, exitCode } = await run(
      ['instance', 'batch-create', path],
      {
        jobs: [
          [true, 2],
          [true, 3],
        ],
      },
      failing,
    );
    expect(stdout).toContain('There were 1 errors during the creation.\n');
    expect(stderr).toContain('Job 3 for instance2.example.com has failed: no node can take it\n');
    expect(exitCode).toBe(1);
  });

  it('refuses a malformed file in one line naming the instance and the key, submitting nothing', async () => {
    const refused = async (name: string, content: unknown) => {
      const path = file(name, content);
      const { error, jobs } = await run(['instance', 'batch-create', path]);
      expect(jobs).toEqual([]);
      return error?.replace(`${path}: `, 'FILE: ').replace(path, 'FILE');
    };
    const one = (extra: Record<string, unknown>) => [{ ...ganetiExample[0], ...extra }];
    expect(await refused('broken.json', '[{"mode": "create",')).toMatch(
      /^corral: can't parse the instance definition file FILE: /,
    );
    expect(await refused('object.json', { instance_name: 'a' })).toBe(
      'corral: the instance definition file FILE is not a list of dictionaries',
    );
    expect(await refused('empty.json', [])).toBe(
      'corral: the instance definition file FILE defines no instance',
    );
    expect(await refused('unknown.json', one({ memory: 512 }))).toBe(
      'corral: FILE: instance instance1.example.com: unknown field memory',
    );
    expect(await refused('nomode.json', one({ mode: undefined }))).toBe(
      'corral: FILE: instance instance1.example.com: mode is missing',
    );
    expect(await refused('noname.json', [{ mode: 'create', disks: [], nics: [] }])).toBe(
      'corral: FILE: definition 0: instance_name is missing',
    );
    expect(await refused('ialloc.json', one({ iallocator: 'hail' }))).toBe(
      'corral: FILE: instance instance1.example.com: iallocator cannot be set per instance: give the allocator of the whole batch with -I',
    );
    expect(await refused('vg.json', one({ disks: [{ size: 1024, vg: 'xenvg' }] }))).toBe(
      'corral: FILE: instance instance1.example.com: disks.0.vg is not supported by Corral',
    );
    expect(await refused('size.json', one({ disks: [{ size: '1G' }] }))).toMatch(
      /^corral: FILE: instance instance1\.example\.com: disks\.0\.size: /,
    );
    expect(await refused('hv.json', one({ hypervisor: 'xen-pvm' }))).toMatch(
      /^corral: FILE: instance instance1\.example\.com: hypervisor: /,
    );
    expect(await refused('forth.json', one({ forthcoming: true }))).toBe(
      'corral: FILE: instance instance1.example.com: forthcoming true is not supported by Corral',
    );
    expect(await refused('twice.json', [ganetiExample[0], ganetiExample[0]])).toBe(
      'corral: FILE: instance instance1.example.com: it is defined more than once',
    );
    expect(
      await refused('nodes.json', [{ ...ganetiExample[0], pnode: 'n1', snode: 'n2' }, ganetiExample[1]]),
    ).toBe(
      'corral: FILE: instance instance2.example.com: it gives no pnode while other instances give their nodes; give them for every instance, or for none',
    );
    expect(await refused('be.json', one({ beparams: { memory: 'lots' } }))).toBe(
      'corral: FILE: instance instance1.example.com: beparams.memory: lots is not a size (use 512M, 10G, 1T or a number of MiB)',
    );
  });

  it('refuses a file it cannot read', async () => {
    const { error, jobs } = await run(['instance', 'batch-create', join(dir, 'missing.json')]);
    expect(error).toMatch(/^corral: cannot read .*missing\.json: ENOENT/);
    expect(jobs).toEqual([]);
  });
});
