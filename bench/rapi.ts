/**
 * bench:rapi — Ganeti's RAPI v2 as a client sees it: three `corral daemon`s on loopback (127.0.0.236–238),
 * HTTPS on port 5080 with the cluster's self-signed certificate, every request sent to a node that is not the
 * master (node2), over keep-alive connections (node:https with a keep-alive `https.Agent`, certificate not
 * checked, as Ganeti's own client does by default), every request carrying a write user's Basic credentials.
 *
 * - reads: `GET /2/info`, `/2/instances?bulk=1` with 100 and with 1,000 fake instances, `/2/nodes?bulk=1`,
 *   `/2/jobs/ID`; each sequentially (1 client: p50/p99) and with 32 concurrent clients for a fixed time
 *   (requests per second, p50/p99); a fresh TLS connection per request too, as Ganeti's figures were taken;
 * - job submission: `PUT /2/instances/NAME/tags?tag=tN` (Ganeti's AddInstanceTags), which answers the job's
 *   ID once the job is queued: jobs accepted per second, sequentially and with 32 clients, and how long the
 *   master then took to run what was accepted;
 * - the same instance read through the CLI, `corral instance list` as a whole process (p50).
 *
 * The instances are fake-hypervisor, diskless, 4 MiB, started (`start: true`), placed round robin. Ganeti's
 * figures (one node, a handful of instances, sequential requests, medians) are read at run time from
 * test/api/rapi/golden/latency.json (copied from the shared reference). The last line printed is one JSON object.
 *
 * CORRAL_BENCH_NODE_FLAGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") is passed to every daemon's node, and
 * the daemons are then stopped with SIGTERM so that the profiles get written.
 */

import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Opcode } from '../src/cluster/opcodes.js';
import { percentile } from '../src/common/stats.js';
import { waitFor } from '../src/common/wait.js';
import { type DaemonCall, runJob, submitJob, watchJob } from '../src/daemon/job-client.js';
import { cliEntryPoint, type DaemonProcess, startLocalCluster } from '../src/daemon/local-cluster.js';

const NODES = 3;
/** Nodes listen on 127.0.0.236–238: the addresses set aside for this benchmark. */
const FIRST_HOST = 236;
const RAPI_PORT = 5080;
const SMALL = 100;
const LARGE = 1000;
const CLIENTS = 32;
/** A sequential run ends after this many requests or this long, whichever comes first. */
const SEQUENTIAL_REQUESTS = 300;
const SEQUENTIAL_MAX_S = 6;
const NEW_CONNECTION_REQUESTS = 50;
const CONCURRENT_S = 5;
const WARMUP_REQUESTS = 20;
const WARMUP_CONCURRENT_S = 1;
/** Whole `corral instance list` processes timed, after two that fill V8's compile cache. */
const CLI_RUNS = 10;
/** Instance adds in flight while the cluster is filled. */
const CREATE_CONCURRENCY = 32;
const INSTANCE_MEMORY_MIB = 4;
const USER = 'bench';
const PASSWORD = 'bench-secret';
const GANETI_LATENCY = new URL('../../test/api/rapi/golden/latency.json', import.meta.url);

const log = (line: string) => process.stderr.write(`${line}\n`);
const round = (value: number) => Math.round(value * 100) / 100;
const ratio = (value: number) => Math.round(value * 1000) / 1000;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Reply {
  readonly status: number;
  readonly body: Buffer;
}

/** One RAPI request over the agent's connections; the whole body is read, not parsed. */
function rapi(agent: Agent, host: string, method: string, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      {
        host,
        port: RAPI_PORT,
        method,
        path,
        agent,
        headers: {
          authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`,
          'content-type': 'application/json',
          'content-length': 0,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end();
  });
}

async function rapiOk(agent: Agent, host: string, method: string, path: string): Promise<Buffer> {
  const reply = await rapi(agent, host, method, path);
  if (reply.status !== 200)
    throw new Error(`${method} ${path}: HTTP ${reply.status} ${reply.body.toString('utf8').slice(0, 300)}`);
  return reply.body;
}

const keepAlive = () =>
  new Agent({ keepAlive: true, maxSockets: CLIENTS, maxFreeSockets: CLIENTS, rejectUnauthorized: false });

interface Latency {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
}

interface Load extends Latency {
  readonly perS: number;
}

function summary(samples: number[]): Latency {
  samples.sort((a, b) => a - b);
  return {
    count: samples.length,
    p50: round(percentile(samples, 0.5)),
    p99: round(percentile(samples, 0.99)),
  };
}

/** One client, one request after another, until the count or the time is reached. */
async function sequential(call: () => Promise<unknown>, count: number, maxS: number): Promise<Load> {
  const samples: number[] = [];
  const started = performance.now();
  const deadline = started + maxS * 1000;
  while (samples.length < count && performance.now() < deadline) {
    const sent = performance.now();
    await call();
    samples.push(performance.now() - sent);
  }
  const perS = Math.round(samples.length / ((performance.now() - started) / 1000));
  return { ...summary(samples), perS };
}

/** Clients each send one request at a time until the time is up; requests per second over the whole run. */
async function concurrent(call: (client: number) => Promise<unknown>, clients: number, seconds: number) {
  const samples: number[] = [];
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      while (performance.now() < deadline) {
        const sent = performance.now();
        await call(client);
        samples.push(performance.now() - sent);
      }
    }),
  );
  const perS = Math.round(samples.length / ((performance.now() - started) / 1000));
  return { ...summary(samples), perS } satisfies Load;
}

/** CPU seconds (user + system) a process has used so far, from /proc; 0 where that cannot be read. */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  const fields = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields === undefined) return 0;
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Runs the work and says how busy each daemon and this process were meanwhile, in cores. */
async function withCpu<T>(daemons: readonly DaemonProcess[], work: () => Promise<T>) {
  const pids = daemons.map((daemon) => daemon.pid);
  const before = await Promise.all(pids.map(cpuSeconds));
  const ownBefore = process.cpuUsage();
  const started = performance.now();
  const result = await work();
  const seconds = (performance.now() - started) / 1000;
  const after = await Promise.all(pids.map(cpuSeconds));
  const own = process.cpuUsage(ownBefore);
  const cores = pids.map((_, i) => `node${i + 1} ${round((after[i]! - before[i]!) / seconds)}`);
  cores.push(`bench ${round((own.user + own.system) / 1e6 / seconds)}`);
  return { result, cpu: `cores busy: ${cores.join(', ')}` };
}

function fakeInstance(name: string, pnode: string): Opcode {
  return {
    OP_ID: 'OP_INSTANCE_CREATE',
    instance_name: name,
    disk_template: 'diskless',
    disks: [],
    hypervisor: 'fake',
    no_install: true,
    start: true,
    beparams: { memory: INSTANCE_MEMORY_MIB, vcpus: 1 },
    pnode,
  };
}

/** Adds instances inst<from>…inst<to - 1>, round robin over the nodes, a few jobs in flight at a time. */
async function fill(call: DaemonCall, from: number, to: number): Promise<number> {
  const started = performance.now();
  let next = from;
  await Promise.all(
    Array.from({ length: CREATE_CONCURRENCY }, async () => {
      while (next < to) {
        const n = next++;
        await runJob(call, [fakeInstance(instanceName(n), `node${(n % NODES) + 1}`)]);
      }
    }),
  );
  return round((performance.now() - started) / 1000);
}

const instanceName = (n: number) => `inst${String(n).padStart(4, '0')}`;

/** A whole `corral instance list` process against the node's socket, start to exit. */
async function cliRuns(socketPath: string): Promise<{ p50: number; nodeFloorP50: number }> {
  const time = async (args: readonly string[]) => {
    const started = performance.now();
    await new Promise<void>((resolve, reject) =>
      execFile(process.execPath, args, { maxBuffer: 64 * 1024 * 1024 }, (error) =>
        error ? reject(error) : resolve(),
      ),
    );
    return performance.now() - started;
  };
  const list = [cliEntryPoint(), 'instance', 'list', '--socket', socketPath];
  await time(list);
  await time(list);
  const cli: number[] = [];
  const floor: number[] = [];
  for (let i = 0; i < CLI_RUNS; i++) {
    cli.push(await time(list));
    floor.push(await time(['-e', '0']));
  }
  return { p50: summary(cli).p50, nodeFloorP50: summary(floor).p50 };
}

interface GanetiReference {
  readonly info_p50_ms: number;
  readonly instances_bulk_p50_ms: number;
  readonly nodes_bulk_p50_ms: number;
  readonly job_p50_ms: number;
}

/** Ganeti 3.0.2's medians, in ms, from the golden file. */
async function ganetiReference(): Promise<GanetiReference & { source: string; note: string }> {
  const file = JSON.parse(await readFile(GANETI_LATENCY, 'utf8')) as {
    latency: Record<string, { median: number }>;
    note?: string;
  };
  const median = (key: string | undefined) => {
    const entry = key === undefined ? undefined : file.latency[key];
    if (entry === undefined) throw new Error(`${GANETI_LATENCY} has no figure for ${key ?? 'a job'}`);
    return round(entry.median * 1000);
  };
  return {
    source: GANETI_LATENCY.pathname,
    note: file.note ?? '',
    info_p50_ms: median('/2/info'),
    instances_bulk_p50_ms: median('/2/instances?bulk=1'),
    nodes_bulk_p50_ms: median('/2/nodes?bulk=1'),
    job_p50_ms: median(Object.keys(file.latency).find((key) => /^\/2\/jobs\/\d+$/.test(key))),
  };
}

async function main(): Promise<object> {
  const reference = await ganetiReference();
  const baseDir = await mkdtemp(join(tmpdir(), 'corral-bench-rapi-'));
  const nodeFlags = (process.env.CORRAL_BENCH_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== '');
  let daemons: DaemonProcess[] = [];
  const onSignal = (signal: NodeJS.Signals) => {
    for (const daemon of daemons) if (daemon.isRunning()) daemon.child.kill('SIGKILL');
    rmSync(baseDir, { recursive: true, force: true });
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const agent = keepAlive();
  try {
    const users = join(baseDir, 'rapi-users');
    await writeFile(users, `${USER} ${PASSWORD} write\n`);
    log(`starting ${NODES} daemons on 127.0.0.${FIRST_HOST}-${FIRST_HOST + NODES - 1}…`);
    daemons = await startLocalCluster({
      baseDir,
      nodes: NODES,
      firstHost: FIRST_HOST,
      logLevel: 'warn',
      nodeFlags,
      fakeMemoryMiB: 64 * 1024,
      // 1,000 one-vCPU instances on 3 nodes, at the allocator's 4 vCPUs per CPU: 84 CPUs a node at least.
      fakeCpus: 128,
      enabledHypervisors: ['fake'],
      enabledDiskTemplates: ['diskless'],
      daemonFlags: ['--rapi-users', users],
    });
    const node1 = daemons[0]!;
    // The instances are added through node1, the founding node (the master unless an election moved it).
    const masterCall: DaemonCall = (request) => node1.call(request);
    const ids = await Promise.all(
      daemons.map(async (daemon) => (await daemon.call({ op: 'raft-status' })).id),
    );
    const leader = (await node1.call({ op: 'raft-status' })).leader;
    const target = daemons.findIndex((_, i) => i === 1 && ids[i] !== leader);
    if (target < 0) throw new Error('node2 is the master: the benchmark needs it not to be');
    const host = `127.0.0.${FIRST_HOST + target}`;
    const targetCall: DaemonCall = (request) => daemons[target]!.call(request);
    log(`master node${ids.indexOf(leader ?? '') + 1}; RAPI requests to node${target + 1} (${host})`);
    await waitFor(
      () => rapi(agent, host, 'GET', '/version').then((r) => (r.status === 200 ? true : undefined)),
      {
        timeoutMs: 30_000,
        what: `RAPI on ${host}:${RAPI_PORT}`,
      },
    );

    log(`adding ${SMALL} instances (${CREATE_CONCURRENCY} adds in flight)…`);
    const fillSmallS = await fill(masterCall, 0, SMALL);
    log(`  ${fillSmallS} s`);
    const countOf = async () =>
      (JSON.parse((await rapiOk(agent, host, 'GET', '/2/instances?bulk=1')).toString('utf8')) as unknown[])
        .length;
    // node2's replica may trail the master's by a moment; every read below must see all the instances.
    await waitFor(async () => ((await countOf()) === SMALL ? true : undefined), {
      timeoutMs: 30_000,
      what: `node${target + 1} to list ${SMALL} instances`,
    });
    const jobId = await submitJob(masterCall, [{ OP_ID: 'OP_TEST_DELAY', duration: 0 }]);
    await watchJob(masterCall, jobId);

    const get = (path: string) => () => rapiOk(agent, host, 'GET', path);
    const reads = async (name: string, path: string) => {
      const call = get(path);
      const size = (await call()).length;
      for (let i = 0; i < WARMUP_REQUESTS; i++) await call();
      const seq = await sequential(call, SEQUENTIAL_REQUESTS, SEQUENTIAL_MAX_S);
      log(
        `${name}: GET ${path} (${size} bytes): 1 client ${seq.perS} req/s, p50 ${seq.p50} ms, p99 ${seq.p99} ms (${seq.count})`,
      );
      await concurrent(call, CLIENTS, WARMUP_CONCURRENT_S);
      const { result: load, cpu } = await withCpu(daemons, () => concurrent(call, CLIENTS, CONCURRENT_S));
      log(`  ${CLIENTS} clients: ${load.perS} req/s, p50 ${load.p50} ms, p99 ${load.p99} ms; ${cpu}`);
      return { bytes: size, seq, load };
    };

    const info = await reads('info', '/2/info');
    const small = await reads(`instances x${SMALL}`, '/2/instances?bulk=1');
    const nodes = await reads('nodes', '/2/nodes?bulk=1');
    const job = await reads('job', `/2/jobs/${jobId}`);

    // As Ganeti's figures were taken: a new TLS connection for every request.
    const fresh = async (path: string) => {
      const once = () => {
        const agentOnce = new Agent({ keepAlive: false, rejectUnauthorized: false });
        return rapiOk(agentOnce, host, 'GET', path).finally(() => agentOnce.destroy());
      };
      for (let i = 0; i < 5; i++) await once();
      return sequential(once, NEW_CONNECTION_REQUESTS, SEQUENTIAL_MAX_S);
    };
    const infoFresh = await fresh('/2/info');
    const smallFresh = await fresh('/2/instances?bulk=1');
    log(
      `new connection per request: /2/info p50 ${infoFresh.p50} ms, /2/instances?bulk=1 p50 ${smallFresh.p50} ms`,
    );

    log(`cli: ${CLI_RUNS} whole 'corral instance list' processes (${SMALL} instances) on node${target + 1}…`);
    const cli = await cliRuns(daemons[target]!.socketPath);
    log(`  p50 ${cli.p50} ms (node -e 0: ${cli.nodeFloorP50} ms)`);

    // Tag jobs: each call answers the queued job's ID; the master runs them meanwhile and after.
    let tagCount = 0;
    let lastJob = 0;
    const tag = async () => {
      const n = tagCount++;
      const body = await rapiOk(agent, host, 'PUT', `/2/instances/${instanceName(n % SMALL)}/tags?tag=t${n}`);
      lastJob = Math.max(lastJob, JSON.parse(body.toString('utf8')) as number);
    };
    const drain = async () => {
      const started = performance.now();
      const view = await watchJob(targetCall, lastJob);
      if (view.status !== 'success') throw new Error(`tag job ${lastJob} ended ${view.status}`);
      return round((performance.now() - started) / 1000);
    };
    for (let i = 0; i < WARMUP_REQUESTS; i++) await tag();
    await drain();
    const tagSeq = await sequential(tag, SEQUENTIAL_REQUESTS, SEQUENTIAL_MAX_S);
    log(
      `tag jobs: 1 client ${tagSeq.perS} jobs/s, p50 ${tagSeq.p50} ms, p99 ${tagSeq.p99} ms (${tagSeq.count})`,
    );
    log(`  waiting for them to run: ${await drain()} s`);
    await concurrent(tag, CLIENTS, WARMUP_CONCURRENT_S);
    await drain();
    const before = tagCount;
    const { result: tagLoad, cpu: tagCpu } = await withCpu(daemons, () =>
      concurrent(tag, CLIENTS, CONCURRENT_S),
    );
    log(
      `  ${CLIENTS} clients: ${tagLoad.perS} jobs/s accepted, p50 ${tagLoad.p50} ms, p99 ${tagLoad.p99} ms; ${tagCpu}`,
    );
    const tagDrainS = await drain();
    log(`  the master ran the last of those ${tagCount - before} jobs ${tagDrainS} s after the load ended`);

    log(`adding ${LARGE - SMALL} more instances…`);
    const fillLargeS = await fill(masterCall, SMALL, LARGE);
    log(`  ${fillLargeS} s`);
    await waitFor(async () => ((await countOf()) === LARGE ? true : undefined), {
      timeoutMs: 30_000,
      what: `node${target + 1} to list ${LARGE} instances`,
    });
    const large = await reads(`instances x${LARGE}`, '/2/instances?bulk=1');
    // Every read takes the whole configuration: /2/info with 1,000 instances shows what that costs.
    const infoLarge = await reads(`info with ${LARGE} instances`, '/2/info');

    const ratios = {
      info_p50: ratio(info.seq.p50 / reference.info_p50_ms),
      instances_bulk_p50: ratio(small.seq.p50 / reference.instances_bulk_p50_ms),
      nodes_bulk_p50: ratio(nodes.seq.p50 / reference.nodes_bulk_p50_ms),
      job_p50: ratio(job.seq.p50 / reference.job_p50_ms),
    };
    const loadFigures = (prefix: string, figures: { seq: Load; load: Load; bytes: number }) => ({
      [`${prefix}_bytes`]: figures.bytes,
      [`${prefix}_1_per_s`]: figures.seq.perS,
      [`${prefix}_p50_ms`]: figures.seq.p50,
      [`${prefix}_p99_ms`]: figures.seq.p99,
      [`${prefix}_32_per_s`]: figures.load.perS,
      [`${prefix}_32_p50_ms`]: figures.load.p50,
      [`${prefix}_32_p99_ms`]: figures.load.p99,
    });
    return {
      corral: {
        target: `node${target + 1} (not the master), HTTPS, keep-alive https.Agent`,
        instances: `fake, diskless, ${INSTANCE_MEMORY_MIB} MiB, started`,
        ...loadFigures('info', info),
        ...loadFigures(`instances_bulk_${SMALL}`, small),
        ...loadFigures(`instances_bulk_${LARGE}`, large),
        ...loadFigures('nodes_bulk', nodes),
        ...loadFigures('job', job),
        ...loadFigures(`info_with_${LARGE}_instances`, infoLarge),
        info_new_connection_p50_ms: infoFresh.p50,
        [`instances_bulk_${SMALL}_new_connection_p50_ms`]: smallFresh.p50,
        tag_submit_p50_ms: tagSeq.p50,
        tag_submit_p99_ms: tagSeq.p99,
        tag_jobs_per_s_1: tagSeq.perS,
        tag_jobs_per_s_32: tagLoad.perS,
        tag_submit_32_p50_ms: tagLoad.p50,
        tag_submit_32_p99_ms: tagLoad.p99,
        tag_jobs_drain_after_32_s: tagDrainS,
        [`cli_instance_list_${SMALL}_p50_ms`]: cli.p50,
        node_startup_p50_ms: cli.nodeFloorP50,
        [`fill_${SMALL}_s`]: fillSmallS,
        [`fill_${LARGE - SMALL}_more_s`]: fillLargeS,
      },
      ganeti_reference: reference,
      ratios,
      goals: {
        reads_tenth_of_ganeti: Object.values(ratios).every((r) => r <= 0.1),
        bulk_100_1000_per_s_32: small.load.perS >= 1000,
        tag_jobs_500_per_s_32: tagLoad.perS >= 500,
        bulk_1000_under_10x_100: large.seq.p50 < 10 * small.seq.p50,
      },
    };
  } finally {
    agent.destroy();
    // With profiling asked for, a graceful stop lets each node write its profile.
    const signal = nodeFlags.length > 0 ? 'SIGTERM' : 'SIGKILL';
    await Promise.all(
      daemons.map((daemon) =>
        Promise.race([daemon.stop(signal), pause(15_000).then(() => daemon.stop('SIGKILL'))]),
      ),
    );
    await rm(baseDir, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

console.log(JSON.stringify(await main()));
