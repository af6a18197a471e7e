import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerRequest } from '../../src/alloc/iallocator/respond.js';
import { liveSnapshot, type NodeFigures } from '../../src/alloc/live-snapshot.js';
import { jobViewSchema } from '../../src/cluster/job-views.js';
import type { Opcode } from '../../src/cluster/opcodes.js';
import { configViewSchema } from '../../src/cluster/views.js';
import { waitFor } from '../../src/common/wait.js';
import { type DaemonCall, runJob } from '../../src/daemon/job-client.js';
import { cliEntryPoint, type DaemonProcess, startLocalCluster } from '../../src/daemon/local-cluster.js';

const run = promisify(execFile);
const HAIL = '/usr/lib/ganeti/iallocators/hail';

/**
 * The allocator on a live cluster: three daemons (127.0.0.230-232) with the fake hypervisor and 1 GiB of
 * pretend memory each; instances are diskless and not installed, so that only placement is at stake.
 */
describe('the allocator on a live cluster', () => {
  let baseDir: string;
  let daemons: DaemonProcess[] = [];
  let call: DaemonCall;

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-alloc-live-'));
    daemons = await startLocalCluster({ baseDir, nodes: 3, firstHost: 230, fakeMemoryMiB: 1024 });
    call = (request) => daemons[1]!.call(request);
  });

  afterAll(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    await rm(baseDir, { recursive: true, force: true });
  });

  const config = async () => configViewSchema.parse((await call({ op: 'config', consistent: true })).config);
  const nodeOf = async (name: string) => {
    const view = await config();
    const found = view.instances.find((i) => i.name === name)!;
    return view.nodes.find((n) => n.uuid === found.primaryNode)!.name;
  };
  const ok = (ops: Opcode[]) => runJob(call, ops);
  const refused = async (op: Opcode, message: RegExp) => {
    const before = (await config()).serial;
    await expect(runJob(call, [op])).rejects.toThrow(message);
    expect((await config()).serial).toBe(before);
  };
  const add = (
    name: string,
    extra: Partial<Extract<Opcode, { OP_ID: 'OP_INSTANCE_CREATE' }>> = {},
  ): Opcode => ({
    OP_ID: 'OP_INSTANCE_CREATE',
    instance_name: name,
    disk_template: 'diskless',
    disks: [],
    beparams: { memory: 64 },
    hypervisor: 'fake',
    no_install: true,
    start: true,
    ...extra,
  });
  const jobLog = async (opId: string, target: string) => {
    const jobs = (await call({ op: 'jobs', consistent: false })).jobs.map((job) => jobViewSchema.parse(job));
    const job = jobs.filter((j) => {
      const input = j.ops[0]?.input as Record<string, unknown> | undefined;
      return input?.OP_ID === opId && (input.instance_name === target || input.node_name === target);
    });
    return job
      .at(-1)!
      .log.map((e) => e.message)
      .join('\n');
  };
  /** Where each instance runs, from every node's own report. */
  const runningOn = async () => {
    const where = new Map<string, string[]>();
    for (const node of (await call({ op: 'nodes-live' })).nodes)
      for (const i of node.status?.instances ?? [])
        if (i.state === 'running') where.set(i.name, [...(where.get(i.name) ?? []), node.name]);
    return where;
  };
  const cli = (...args: string[]) =>
    run(process.execPath, [cliEntryPoint(), ...args, `--luxi=${daemons[2]!.socketPath}`]);

  it('places an instance without -n where src/alloc says, from the same live snapshot', async () => {
    await ok([add('a1', { pnode: 'node1', beparams: { memory: 128 } })]);
    await ok([add('a2', { pnode: 'node1', beparams: { memory: 128 } })]);
    await ok([add('b1', { pnode: 'node2', beparams: { memory: 128 } })]);
    const figures = new Map<string, NodeFigures>();
    for (const node of (await call({ op: 'nodes-live' })).nodes)
      if (node.status) figures.set(node.name, node.status);
    const expected = answerRequest({
      cluster: liveSnapshot(await config(), figures),
      request: {
        type: 'allocate',
        name: 'auto1',
        disk_template: 'diskless',
        disks: [],
        disk_space_total: 0,
        memory: 64,
        vcpus: 1,
        spindle_use: 1,
        tags: [],
        nics: [{}],
        required_nodes: 1,
      },
    });
    expect(expected.result).toEqual(['node3']);
    await ok([add('auto1')]);
    expect(await nodeOf('auto1')).toBe('node3');
    expect(await jobLog('OP_INSTANCE_CREATE', 'auto1')).toContain('the allocator placed auto1 on node3');
  });

  it('keeps instances sharing an exclusion tag apart, and names the failed constraint when it cannot', async () => {
    await ok([{ OP_ID: 'OP_TAGS_SET', kind: 'cluster', tags: ['htools:iextags:svc'] }]);
    await ok([add('dns1', { pnode: 'node3', tags: ['svc:dns'] })]);
    await ok([add('dns2', { tags: ['svc:dns'] })]);
    await ok([add('dns3', { tags: ['svc:dns'] })]);
    const nodes = new Set([await nodeOf('dns1'), await nodeOf('dns2'), await nodeOf('dns3')]);
    expect(nodes).toEqual(new Set(['node1', 'node2', 'node3']));
    await refused(add('dns4', { tags: ['svc:dns'] }), /no node can take dns4: .*FailTags: 3/);
    await refused(add('huge', { beparams: { memory: 2048 } }), /no node can take huge: .*FailMem: 3/);
  });

  it('evacuates a node with the planner, and refuses a plan that breaks a constraint', async () => {
    // dns1..3 hold one node each: dns1 has nowhere to go.
    await refused(
      { OP_ID: 'OP_NODE_EVACUATE', node_name: 'node3', mode: 'all' },
      /cannot move dns1 \(.*FailTags/,
    );
    for (const name of ['dns1', 'dns2', 'dns3'])
      await ok([{ OP_ID: 'OP_INSTANCE_REMOVE', instance_name: name }]);
    await ok([{ OP_ID: 'OP_NODE_EVACUATE', node_name: 'node1', mode: 'all' }]);
    expect(await jobLog('OP_NODE_EVACUATE', 'node1')).toContain(
      'the allocator: Request successful: 0 instances failed to move and 2 were moved successfully',
    );
    await waitFor(
      async () => {
        const view = await config();
        const node1 = view.nodes.find((n) => n.name === 'node1')!;
        return view.instances.every((i) => i.primaryNode !== node1.uuid) ? true : undefined;
      },
      { timeoutMs: 30_000, what: 'node1 to be empty' },
    );
    const where = await runningOn();
    for (const name of ['a1', 'a2']) expect(where.get(name)).toEqual([await nodeOf(name)]);
  });

  it.skipIf(!existsSync(HAIL))('places with -I hail (Ganeti’s own allocator) end to end', async () => {
    await ok([add('h1', { iallocator: 'hail' })]);
    const log = await jobLog('OP_INSTANCE_CREATE', 'h1');
    expect(log).toMatch(/iallocator hail placed h1 on node\d \(Request successful/);
    expect((await runningOn()).get('h1')).toEqual([await nodeOf('h1')]);
    await refused(
      add('h2', { iallocator: 'hail', beparams: { memory: 4096 } }),
      /no node can take h2: .*FailMem/,
    );
  });

  it('refuses an allocator that fails or answers nonsense', async () => {
    const script = async (name: string, body: string) => {
      const path = join(baseDir, name);
      await writeFile(path, `#!/bin/sh\n${body}\n`);
      await chmod(path, 0o755);
      return path;
    };
    await refused(add('x1', { iallocator: 'nosuch' }), /no iallocator nosuch in .*iallocators/);
    await refused(
      add('x1', { iallocator: await script('garbage', 'echo hello') }),
      /gave an invalid answer: its output is not JSON/,
    );
    await refused(
      add('x1', {
        iallocator: await script('elsewhere', `echo '{"success":true,"info":"","result":["nosuch"]}'`),
      }),
      /chose node nosuch, which is not in the cluster/,
    );
    await refused(add('x1', { iallocator: await script('crash', 'echo boom >&2; exit 3') }), /failed: boom/);
  });

  it('balance --execute lowers the score on the live cluster and every instance still runs once', async () => {
    // hbal moves only instances it can migrate or fail over (as Ganeti's, not diskless ones): shared storage.
    for (const name of ['c1', 'c2', 'c3', 'c4'])
      await ok([
        add(name, {
          pnode: 'node2',
          disk_template: 'sharedfile',
          disks: [{ size: 16 }],
          beparams: { memory: 96 },
        }),
      ]);
    const score = async () =>
      JSON.parse((await cli('balance', '--json')).stdout) as { initialScore: number; steps: unknown[] };
    const before = await score();
    expect(before.steps.length).toBeGreaterThan(0);
    const { stdout } = await cli('balance', '-X');
    expect(stdout).toMatch(/Job set 1 of \d+/);
    const after = await score();
    expect(after.initialScore).toBeLessThan(before.initialScore);
    const view = await config();
    const where = await runningOn();
    for (const instance of view.instances) {
      const primary = view.nodes.find((n) => n.uuid === instance.primaryNode)!.name;
      expect({ name: instance.name, on: where.get(instance.name) }).toEqual({
        name: instance.name,
        on: [primary],
      });
    }
    // node migrate places every primary with the planner too.
    await ok([{ OP_ID: 'OP_NODE_MIGRATE', node_name: 'node3', mode: 'live' }]);
    expect(await jobLog('OP_NODE_MIGRATE', 'node3')).toMatch(
      /the allocator: Request successful: 0 instances failed/,
    );
    await waitFor(
      async () => {
        const node3 = (await config()).nodes.find((n) => n.name === 'node3')!;
        return (await config()).instances.every((i) => i.primaryNode !== node3.uuid) ? true : undefined;
      },
      { timeoutMs: 30_000, what: 'node3 to have no primary instance' },
    );
    const moved = await runningOn();
    for (const instance of (await config()).instances)
      expect(moved.get(instance.name)).toEqual([await nodeOf(instance.name)]);
    // capacity and roll read the same live snapshot.
    expect((await cli('capacity', '--machine-readable')).stdout).toMatch(/^HTS_ALLOC_INSTANCES=\d+$/m);
    expect((await cli('roll')).stdout).toContain('Node Reboot Groups');
  });
});
