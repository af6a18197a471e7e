import type { FastifyInstance } from 'fastify';
import parsePrometheusTextFormat, {
  type PrometheusFamily,
  type PrometheusSample,
} from 'parse-prometheus-text-format';
import { afterEach, describe, expect, it } from 'vitest';
import {
  gaugeSpecs,
  jobFigures,
  newOpDurations,
  opDurationSpec,
} from '../../../src/api/monitoring/metrics.js';
import { createMonitoringServer } from '../../../src/api/monitoring/server.js';
import type { JobView } from '../../../src/cluster/job-views.js';
import { CorralError } from '../../../src/common/errors.js';
import type { DaemonCall } from '../../../src/daemon/job-client.js';
import { fakeDaemon, healthyAnswers, jobsList, NOW_MS, silentLogger } from './fixtures.js';

const GIB = 1024 ** 3;

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

let text = '';

async function scrape(call: DaemonCall): Promise<PrometheusFamily[]> {
  app ??= createMonitoringServer({ call, log: silentLogger });
  const response = await app.inject({ method: 'GET', url: '/metrics' });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  text = response.payload;
  return parsePrometheusTextFormat(text);
}

/**
 * One opcode's series of the duration histogram, from the last scrape. The parser folds a labelled
 * histogram's series into one, so each opcode's lines are parsed alone, without their opcode label.
 */
function opDurations(opcode: string): PrometheusSample | undefined {
  const name = opDurationSpec.name;
  const label = `opcode="${opcode}"`;
  const lines = text
    .split('\n')
    .filter(
      (line) =>
        line.startsWith(`# HELP ${name} `) || line.startsWith(`# TYPE ${name} `) || line.includes(label),
    )
    .map((line) => line.replace(`,${label}`, '').replace(`{${label}}`, ''));
  if (lines.length <= 2) return undefined;
  const [parsed] = parsePrometheusTextFormat(`${lines.join('\n')}\n`);
  expect(parsed?.type).toBe('HISTOGRAM');
  return parsed?.metrics[0];
}

function opcodesObserved(): string[] {
  return [...text.matchAll(/opcode="([A-Z_]+)"/g)]
    .map((m) => m[1]!)
    .filter((v, i, all) => all.indexOf(v) === i)
    .sort();
}

function family(families: readonly PrometheusFamily[], name: string): PrometheusFamily {
  const found = families.find((f) => f.name === name);
  if (found === undefined) throw new Error(`no metric ${name}`);
  return found;
}

/** Each sample of a metric as `labels → value`, labels written `k=v,k=v` (empty for none). */
function samples(families: readonly PrometheusFamily[], name: string): Record<string, number> {
  return Object.fromEntries(
    family(families, name).metrics.map((m) => [
      Object.entries(m.labels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
      Number(m.value),
    ]),
  );
}

describe('/metrics: the Prometheus text format, from the local daemon at each scrape', () => {
  it('has HELP and TYPE for every corral_ metric, and parses with the Prometheus parser', async () => {
    const families = await scrape(fakeDaemon(healthyAnswers()).call);
    const names = families.map((f) => f.name).sort();
    expect(names).toEqual(
      [...Object.values(gaugeSpecs).map((spec) => spec.name), opDurationSpec.name].sort(),
    );
    for (const f of families) {
      expect(f.name).toMatch(/^corral_[a-z0-9_]+$/);
      expect(f.help.length).toBeGreaterThan(10);
      expect(f.type).toBe(f.name === opDurationSpec.name ? 'HISTOGRAM' : 'GAUGE');
    }
  });

  it('shows Raft term, commit and applied index, and the role as a labelled gauge', async () => {
    const families = await scrape(fakeDaemon(healthyAnswers()).call);
    expect(samples(families, 'corral_raft_term')).toEqual({ '': 7 });
    expect(samples(families, 'corral_raft_commit_index')).toEqual({ '': 1234 });
    expect(samples(families, 'corral_raft_applied_index')).toEqual({ '': 1230 });
    expect(samples(families, 'corral_raft_role')).toEqual({
      'role=leader': 1,
      'role=follower': 0,
      'role=preCandidate': 0,
      'role=candidate': 0,
      'role=none': 0,
    });
    expect(samples(families, 'corral_raft_leader_known')).toEqual({ '': 1 });
    expect(samples(families, 'corral_raft_voters')).toEqual({ '': 3 });
    expect(samples(families, 'corral_raft_learners')).toEqual({ '': 1 });
  });

  it('counts gossip members by state and shows each node figures from its health record', async () => {
    const families = await scrape(fakeDaemon(healthyAnswers()).call);
    expect(samples(families, 'corral_gossip_members')).toEqual({
      'state=alive': 2,
      'state=suspect': 1,
      'state=dead': 1,
      'state=left': 0,
    });
    expect(samples(families, 'corral_gossip_stale_members')).toEqual({ '': 2 });
    // n4 was never heard from: no sample rather than a made-up age.
    expect(samples(families, 'corral_gossip_last_heard_age_seconds')).toEqual({
      'node=n1': 0,
      'node=n2': 0.8,
      'node=n3': 9.5,
    });
    expect(samples(families, 'corral_node_memory_total_bytes')).toEqual({
      'node=n1': 16 * GIB,
      'node=n2': 16 * GIB,
      'node=n3': 16 * GIB,
    });
    expect(samples(families, 'corral_node_memory_free_bytes')).toEqual({
      'node=n1': 10 * GIB,
      'node=n2': 4 * GIB,
      'node=n3': 10 * GIB,
    });
    expect(samples(families, 'corral_node_instance_memory_bytes')['node=n3']).toBe(0);
    // n2's unreadable dir has no figures, so no sample.
    expect(samples(families, 'corral_node_storage_free_bytes')).toEqual({
      'node=n1,path=/srv/corral/file-storage': 80 * GIB,
      'node=n2,path=/srv/corral/file-storage': 20 * GIB,
      'node=n3,path=/srv/corral/file-storage': 80 * GIB,
    });
    expect(
      samples(families, 'corral_node_storage_total_bytes')['node=n2,path=/srv/corral/file-storage'],
    ).toBe(100 * GIB);
    expect(samples(families, 'corral_node_load1')['node=n2']).toBe(1.25);
    expect(samples(families, 'corral_node_cpu_usage_ratio')['node=n1']).toBe(0.125);
    expect(samples(families, 'corral_node_instances_running')).toEqual({
      'node=n1': 1,
      'node=n2': 1,
      'node=n3': 0,
    });
    expect(samples(families, 'corral_node_config_serial')['node=n1']).toBe(42);
    expect(samples(families, 'corral_node_monitor_status_code')).toEqual({
      'node=n1,collector=inst-status': 1,
      'node=n2,collector=inst-status': 0,
    });
  });

  it('counts nodes by role, instances by admin state, and this node instances by Ganeti status', async () => {
    const families = await scrape(fakeDaemon(healthyAnswers()).call);
    expect(samples(families, 'corral_config_serial')).toEqual({ '': 42 });
    expect(samples(families, 'corral_nodes')).toEqual({
      'role=master': 1,
      'role=candidate': 1,
      'role=regular': 1,
      'role=drained': 1,
      'role=offline': 0,
    });
    expect(samples(families, 'corral_instances')).toEqual({
      'admin_state=up': 3,
      'admin_state=down': 2,
      'admin_state=offline': 1,
    });
    // n1's five instances: web1 runs, web2 should but does not, three are down; db is n2's.
    expect(samples(families, 'corral_local_instances')).toEqual({
      'status=running': 1,
      'status=ERROR_down': 1,
      'status=ADMIN_down': 1,
      'status=USER_down': 1,
      'status=ADMIN_offline': 1,
      'status=ERROR_up': 0,
      'status=ERROR_wrongnode': 0,
      'status=ERROR_nodedown': 0,
      'status=ERROR_nodeoffline': 0,
    });
  });

  it('counts this node instances as ERROR_nodedown when its node agent gave no inst-status report', async () => {
    const answers = healthyAnswers();
    answers['monitor-reports'] = { node: 'n1', reports: [] };
    const families = await scrape(fakeDaemon(answers).call);
    expect(samples(families, 'corral_local_instances')['status=ERROR_nodedown']).toBe(5);
  });

  it('shows the queue depth by status and how long each finished opcode ran', async () => {
    const families = await scrape(fakeDaemon(healthyAnswers()).call);
    expect(samples(families, 'corral_jobs')).toEqual({
      'status=queued': 1,
      'status=waiting': 0,
      'status=running': 1,
      'status=success': 1,
      'status=error': 1,
      'status=canceled': 1,
    });
    expect(family(families, opDurationSpec.name).type).toBe('HISTOGRAM');
    expect(opcodesObserved()).toEqual(['OP_INSTANCE_STARTUP', 'OP_TEST_DELAY']);
    expect(opDurations('OP_INSTANCE_STARTUP')).toMatchObject({ count: '2', sum: '3.5' });
    expect(opDurations('OP_INSTANCE_STARTUP')?.buckets).toMatchObject({
      '0.5': '0',
      '1': '1',
      '2.5': '2',
      '+Inf': '2',
    });
    expect(opDurations('OP_TEST_DELAY')).toMatchObject({ count: '1' });
    expect(Number(opDurations('OP_TEST_DELAY')?.sum)).toBeCloseTo(0.3, 9);
  });

  it('counts each opcode once across scrapes, also once its job is archived', async () => {
    const daemon = fakeDaemon(healthyAnswers());
    await scrape(daemon.call);
    // Job 3's second opcode ends after 4 s; job 1 is archived.
    const [, second, third, ...rest] = jobsList as [JobView, JobView, JobView, ...JobView[]];
    const [firstOp, secondOp] = third.ops as [JobView['ops'][number], JobView['ops'][number]];
    const finished: JobView = {
      ...third,
      status: 'success',
      ops: [firstOp, { ...secondOp, status: 'success', endMs: NOW_MS - 25_000 }],
    };
    daemon.answers = { ...daemon.answers, jobs: { jobs: [second, finished, ...rest] } };
    const families = await scrape(daemon.call);
    expect(opDurations('OP_INSTANCE_STARTUP')).toMatchObject({ count: '2', sum: '3.5' });
    expect(opDurations('OP_INSTANCE_SHUTDOWN')).toMatchObject({ count: '1', sum: '4' });
    expect(opDurations('OP_TEST_DELAY')).toMatchObject({ count: '1' });
    expect(samples(families, 'corral_jobs')['status=success']).toBe(1);
  });

  it('asks only the local daemon, from its own replica: five control calls a scrape, none over the network', async () => {
    const daemon = fakeDaemon(healthyAnswers());
    await scrape(daemon.call);
    expect(daemon.requests).toEqual(
      expect.arrayContaining([
        { op: 'raft-status' },
        { op: 'health' },
        { op: 'jobs', consistent: false },
        { op: 'config', consistent: false },
        { op: 'monitor-reports' },
      ]),
    );
    expect(daemon.requests).toHaveLength(5);
  });

  it('shares one round of control calls among scrapes that arrive together', async () => {
    const daemon = fakeDaemon(healthyAnswers());
    const slow = (async (request) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return daemon.call(request);
    }) as DaemonCall;
    app = createMonitoringServer({ call: slow, log: silentLogger });
    const [a, b] = await Promise.all([
      app.inject({ method: 'GET', url: '/metrics' }),
      app.inject({ method: 'GET', url: '/metrics' }),
    ]);
    expect(a.statusCode).toBe(200);
    expect(b.payload).toBe(a.payload);
    expect(daemon.requests).toHaveLength(5);
  });

  it('scrapes a node of no cluster yet: role none, zero term and serial, no nodes or instances', async () => {
    const daemon = fakeDaemon({
      'raft-status': new CorralError('unavailable', 'this node belongs to no cluster yet'),
      health: { self: 'peer-x', rows: [] },
      jobs: { jobs: [] },
      config: { self: 'peer-x' },
      'monitor-reports': { node: 'x', reports: [] },
    });
    const families = await scrape(daemon.call);
    expect(samples(families, 'corral_raft_role')['role=none']).toBe(1);
    expect(samples(families, 'corral_raft_term')).toEqual({ '': 0 });
    expect(samples(families, 'corral_config_serial')).toEqual({ '': 0 });
    expect(family(families, 'corral_nodes').metrics).toEqual([]);
    expect(family(families, 'corral_local_instances').metrics).toEqual([]);
    expect(samples(families, 'corral_gossip_members')['state=alive']).toBe(0);
  });
});

describe('opcode durations, as a pure function of the job records', () => {
  it('counts the finished leading opcodes of each job once, and forgets archived jobs', () => {
    const jobs = jobFigures(jobsList);
    const first = newOpDurations(jobs, new Map());
    expect(first.durations).toEqual([
      { opcode: 'OP_INSTANCE_STARTUP', seconds: 2.5 },
      { opcode: 'OP_TEST_DELAY', seconds: 0.3 },
      { opcode: 'OP_INSTANCE_STARTUP', seconds: 1 },
    ]);
    // Job 2's second opcode never started; job 5's was canceled: counted, without a duration.
    expect([...first.seen]).toEqual([
      [1, 1],
      [2, 2],
      [3, 1],
      [5, 1],
    ]);
    const again = newOpDurations(jobs.slice(1), first.seen);
    expect(again.durations).toEqual([]);
    expect(again.seen.has(1)).toBe(false);
  });
});
