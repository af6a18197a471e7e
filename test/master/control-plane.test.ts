import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobViewSchema } from '../../src/cluster/job-views.js';
import { configViewSchema } from '../../src/cluster/views.js';
import { waitFor } from '../../src/common/wait.js';
import { type DaemonCall, jobFailure, runJob, submitJob, watchJob } from '../../src/daemon/job-client.js';
import { DaemonProcess, startLocalCluster } from '../../src/daemon/local-cluster.js';
import { Enrolment } from '../../src/peer/enrolment.js';
import { loadOrCreateIdentity } from '../../src/peer/identity.js';

/** Three real daemons on 127.0.0.120-122 (and a fourth at .123 to add); the master is killed with SIGKILL. */
describe('the control plane on real daemons', () => {
  let baseDir: string;
  let daemons: DaemonProcess[] = [];
  const extra: DaemonProcess[] = [];

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-control-'));
    const hooksDir = join(baseDir, 'hooks');
    await mkdir(join(hooksDir, 'group-add-pre.d'), { recursive: true });
    const script = join(hooksDir, 'group-add-pre.d', '10-policy');
    await writeFile(
      script,
      '#!/bin/sh\ncase "$GANETI_GROUP_NAME" in forbidden*) echo "group names may not start with forbidden"; exit 1;; esac\n',
    );
    await chmod(script, 0o755);
    daemons = await startLocalCluster({ baseDir, nodes: 3, firstHost: 120, hooksDir });
  });

  afterAll(async () => {
    await Promise.all([...daemons, ...extra].map((daemon) => daemon.stop('SIGKILL')));
    await rm(baseDir, { recursive: true, force: true });
  });

  const callOf =
    (daemon: DaemonProcess): DaemonCall =>
    (request) =>
      daemon.call(request);
  const config = async (daemon: DaemonProcess) =>
    configViewSchema.parse((await daemon.call({ op: 'config', consistent: true })).config);

  it('takes changes from any node and shows them on every node', async () => {
    await runJob(callOf(daemons[2]!), [{ OP_ID: 'OP_TAGS_SET', kind: 'cluster', tags: ['from-node3'] }]);
    for (const daemon of daemons) expect((await config(daemon)).cluster.tags).toContain('from-node3');
  });

  it('refuses what breaks a rule with one clear line, and changes nothing', async () => {
    const call = callOf(daemons[1]!);
    const before = (await config(daemons[0]!)).serial;
    await expect(
      runJob(call, [{ OP_ID: 'OP_NODE_SET_PARAMS', node_name: 'node1', offline: true }]),
    ).rejects.toThrow(/node1 is the master/);
    await expect(runJob(call, [{ OP_ID: 'OP_GROUP_REMOVE', group_name: 'default' }])).rejects.toThrow(
      /still holds/,
    );
    await expect(runJob(call, [{ OP_ID: 'OP_NODE_REMOVE', node_name: 'nosuch' }])).rejects.toThrow(
      /node nosuch is not in the cluster/,
    );
    await expect(
      call({ op: 'master', request: { op: 'submit', key: 'short', priority: 0, ops: [] } }),
    ).rejects.toThrow();
    expect((await config(daemons[0]!)).serial).toBe(before);
  });

  it('aborts an opcode whose pre hook fails, with the hook output in the job log', async () => {
    const call = callOf(daemons[1]!);
    const job = await submitJob(call, [{ OP_ID: 'OP_GROUP_ADD', group_name: 'forbidden1' }]);
    const view = await watchJob(call, job);
    expect(view.status).toBe('error');
    expect(jobFailure(view)?.message).toMatch(
      /pre hook 10-policy on node1 failed.*may not start with forbidden/,
    );
    expect((await config(daemons[0]!)).groups.map((group) => group.name)).not.toContain('forbidden1');
    await runJob(call, [{ OP_ID: 'OP_GROUP_ADD', group_name: 'rack2' }]);
  });

  it('admits a new daemon only as the peer the administrator checked', async () => {
    const dataDir = join(baseDir, 'node4');
    const listen = '/ip4/127.0.0.123/tcp/7400';
    const node4 = await DaemonProcess.spawn({ dataDir, listen, name: 'node4' });
    extra.push(node4);
    const call = callOf(daemons[2]!);
    const { nodeId } = await loadOrCreateIdentity(dataDir);
    const enrol_code = (await Enrolment.open(dataDir, nodeId)).code();
    const wrong = (await loadOrCreateIdentity(daemons[0]!.options.dataDir)).nodeId;
    await expect(
      runJob(call, [
        { OP_ID: 'OP_NODE_ADD', node_name: 'node4', address: listen, peer_id: wrong, enrol_code },
      ]),
    ).rejects.toThrow(/is 12D3\w+, not the expected/);
    expect((await node4.call({ op: 'config', consistent: false })).config).toBeUndefined();
    await runJob(call, [
      {
        OP_ID: 'OP_NODE_ADD',
        node_name: 'node4',
        address: listen,
        peer_id: nodeId,
        enrol_code,
        master_candidate: false,
      },
    ]);
    const nodes = (await config(daemons[0]!)).nodes;
    expect(nodes.find((node) => node.name === 'node4')).toMatchObject({ id: nodeId, masterCandidate: false });
    // The new node keeps a replica as a Raft learner, so it answers from its own copy.
    await waitFor(async () => ((await config(node4)).nodes.length === 4 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'node4 to have the configuration',
    });
  });

  it('loses no job when the master is killed: queued ones run, a running one resumes, a watch follows', async () => {
    const master = daemons[0]!;
    const call2 = callOf(daemons[1]!);
    const call3 = callOf(daemons[2]!);
    // The first holds node3's lock for 3 s; the second waits for it.
    const running = await submitJob(call2, [{ OP_ID: 'OP_TEST_DELAY', duration: 3, on_nodes: ['node3'] }]);
    const queued = await submitJob(call2, [{ OP_ID: 'OP_TEST_DELAY', duration: 0, on_nodes: ['node3'] }]);
    const watched = watchJob(call3, queued);
    await waitFor(
      async () => {
        const { job } = await daemons[1]!.call({ op: 'job-wait', job: running, afterVersion: -1, waitMs: 0 });
        return jobViewSchema.parse(job).status === 'running' ? true : undefined;
      },
      { timeoutMs: 20_000, what: 'the first job to run' },
    );
    await master.stop('SIGKILL');
    const queuedView = await watched;
    expect(queuedView.status).toBe('success');
    const runningView = await watchJob(call2, running);
    expect(runningView.status).toBe('success');
    expect(runningView.log.map((entry) => entry.message).join('\n')).toMatch(/resumed by a new master/);
    const next = await submitJob(call3, [{ OP_ID: 'OP_TEST_DELAY', duration: 0 }]);
    expect(next).toBeGreaterThan(queued);
    const { jobs } = await daemons[1]!.call({ op: 'jobs', consistent: true });
    const ids = jobs.map((job) => jobViewSchema.parse(job).id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining([running, queued, next]));
  });
});
