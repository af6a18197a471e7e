import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { promisify } from 'node:util';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/wait.js';
import type { DaemonCall } from '../../src/daemon/job-client.js';
import { type DaemonProcess, startLocalCluster } from '../../src/daemon/local-cluster.js';
import { cli } from '../helpers/cli.js';
import { clusterClient, restoreCluster } from '../helpers/real-cluster.js';

const run = promisify(execFile);
/** Debian's Python, where python3-ganeti-rapi installs Ganeti's client (not the python3 first on the PATH). */
const PYTHON = '/usr/bin/python3';
const host = (n: number) => `127.0.0.${232 + n}`;

/** Whether something accepts TCP connections at host:port: true, or undefined to keep waiting. */
function accepts(address: string, port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: address, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(undefined));
  });
}

/**
 * RAPI driven by Ganeti's own clients on three real daemons (127.0.0.232-234, HTTPS on 5080 with the
 * cluster's self-signed certificate): Ganeti's Python client (python3-ganeti-rapi) and the htools' RAPI
 * backend (hscan, hbal -m). The clients talk to node2, which is not the master: every node serves RAPI.
 */
describe("RAPI on real daemons, through Ganeti's clients", () => {
  let baseDir: string;
  let daemons: DaemonProcess[] = [];
  let call: DaemonCall;

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-rapi-'));
    const users = join(baseDir, 'rapi-users');
    await writeFile(users, 'admin secret write\nreader secret read\n');
    daemons = await startLocalCluster({
      baseDir,
      nodes: 3,
      firstHost: 232,
      daemonFlags: ['--rapi-users', users, '--os-search-path', '/usr/share/ganeti/os'],
    });
    call = (request) => daemons[1]!.call(request);
    // A node starts RAPI once the cluster's certificate reaches its replica, which may come after it is formed.
    for (const n of [0, 1, 2])
      await waitFor(() => accepts(host(n), 5080), { timeoutMs: 30_000, what: `RAPI on ${host(n)}` });
  });

  afterEach(async () => {
    await restoreCluster(daemons, call);
  });

  afterAll(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
    await rm(baseDir, { recursive: true, force: true });
  });

  const { config } = clusterClient((request) => call(request));

  /** Runs Python with Ganeti's client bound to node `n` as `c` (admin), `reader` and `anon`; returns its last line as JSON. */
  async function python(code: string, n = 1): Promise<unknown> {
    const prelude = [
      'import json',
      'from ganeti.rapi import client as rc',
      `c = rc.GanetiRapiClient("${host(n)}", 5080, username="admin", password="secret")`,
      `reader = rc.GanetiRapiClient("${host(n)}", 5080, username="reader", password="secret")`,
      `anon = rc.GanetiRapiClient("${host(n)}", 5080)`,
      'def wait(job):',
      '    assert c.WaitForJobCompletion(job, period=0.1, retries=600), c.GetJobStatus(job)',
      '    return c.GetJobStatus(job)',
      'def refused(call, *args, **kw):',
      '    try:',
      '        call(*args, **kw)',
      '    except rc.GanetiApiError as e:',
      '        return e.code',
      '    return None',
    ].join('\n');
    const { stdout } = await run(PYTHON, ['-c', `${prelude}\n${code}`], { timeout: 120_000 });
    return JSON.parse(stdout.trim().split('\n').at(-1) ?? 'null');
  }

  it('lists, creates, starts, stops, reboots, modifies, tags and migrates an instance', async () => {
    const result = (await python(`
out = {}
out["version"] = c.GetVersion()
out["features"] = sorted(c.GetFeatures())
info = c.GetInfo()
out["info"] = [info["name"], info["master"], sorted(info["enabled_hypervisors"])]
out["nodes"] = c.GetNodes()
out["node_keys"] = sorted(c.GetNode("node2").keys())
out["bulk_roles"] = [n["role"] for n in c.GetNodes(bulk=True)]
job = c.CreateInstance("create", "rapi1", "diskless", [], [{}], os="noop", pnode="node2",
                       hypervisor="fake", beparams={"memory": 128}, ip_check=False, name_check=False)
out["create"] = wait(job)["status"]
out["instances"] = c.GetInstances()
inst = c.GetInstance("rapi1")
out["created"] = [inst["pnode"], inst["admin_state"], inst["oper_state"], inst["beparams"]["memory"]]
out["shutdown"] = wait(c.ShutdownInstance("rapi1", timeout=10))["status"]
out["down"] = c.GetInstance("rapi1")["admin_state"]
out["startup"] = wait(c.StartupInstance("rapi1"))["status"]
out["reboot"] = wait(c.RebootInstance("rapi1"))["status"]
out["modify"] = wait(c.ModifyInstance("rapi1", beparams={"vcpus": 2}))["status"]
out["vcpus"] = c.GetInstance("rapi1")["beparams"]["vcpus"]
out["tags"] = [wait(c.AddInstanceTags("rapi1", ["web", "prod"]))["status"], sorted(c.GetInstanceTags("rapi1"))]
migrated = wait(c.MigrateInstance("rapi1", target_node="node3"))
out["migrate"] = [migrated["status"], migrated["summary"], migrated["ops"][0]["reason"][0][0]]
out["moved"] = c.GetInstance("rapi1")["pnode"]
out["query"] = c.Query("instance", ["name", "pnode", "admin_state"], qfilter=["=", "pnode", "node3"])["data"]
print(json.dumps(out))
`)) as Record<string, unknown>;
    expect(result).toMatchObject({
      version: 2,
      features: ['instance-create-reqv1', 'instance-reinstall-reqv1', 'node-evac-res1', 'node-migrate-reqv1'],
      info: ['cluster.local', 'node1', ['fake', 'kvm']],
      nodes: ['node1', 'node2', 'node3'],
      bulk_roles: ['M', 'C', 'C'],
      create: 'success',
      instances: ['rapi1'],
      created: ['node2', 'up', true, 128],
      shutdown: 'success',
      down: 'down',
      startup: 'success',
      reboot: 'success',
      modify: 'success',
      vcpus: 2,
      tags: ['success', ['prod', 'web']],
      migrate: ['success', ['INSTANCE_MIGRATE(rapi1)'], 'gnt:library:rlib2:instances_name_migrate'],
      moved: 'node3',
      query: [
        [
          [0, 'rapi1'],
          [0, 'node3'],
          [0, 'up'],
        ],
      ],
    });
    expect(result.node_keys).toContain('secondary_ip');
  });

  it('creates instances in one multi-allocation, and answers instance info as a job', async () => {
    const result = (await python(`
out = {}
spec = lambda name: {"name": name, "disk_template": "diskless", "disks": [], "nics": [{}], "os": "noop",
                     "hypervisor": "fake", "beparams": {"memory": 64}, "ip_check": False, "name_check": False}
multi = wait(c.InstancesMultiAlloc([spec("multi1"), spec("multi2")]))
out["multi"] = [multi["opresult"][0]["allocatable"], multi["opresult"][0]["failed"]]
out["children"] = [wait(job)["status"] for (ok, job) in multi["opresult"][0]["jobs"]]
out["instances"] = c.GetInstances()
info = wait(c.GetInstanceInfo("multi1"))["opresult"][0]["multi1"]
out["info"] = [info["config_state"], info["run_state"], info["disk_template"], info["be_actual"]["maxmem"]]
static = wait(c.GetInstanceInfo("multi1", static=True))["opresult"][0]["multi1"]
out["static"] = static["run_state"]
print(json.dumps(out))
`)) as Record<string, unknown>;
    expect(result).toEqual({
      multi: [['multi1', 'multi2'], []],
      children: ['success', 'success'],
      instances: ['multi1', 'multi2'],
      info: ['up', 'up', 'diskless', 64],
      static: null,
    });
  });

  it('sets node roles and evacuates a node, following the jobs it submits', async () => {
    await cli(daemons[0]!, 'instance', 'add', '-t', 'diskless', '-o', 'noop', '-n', 'node3', 'evac1');
    const result = (await python(`
out = {}
out["drain"] = wait(c.SetNodeRole("node3", "drained", force=True))["status"]
out["drained"] = c.GetNodeRole("node3")
evacuation = wait(c.EvacuateNode("node3", mode=rc.NODE_EVAC_PRI))
jobs = evacuation["opresult"][0]["jobs"]
out["children"] = [wait(job)["status"] for (ok, job) in jobs]
out["evac_pnode"] = c.GetInstance("evac1")["pnode"]
out["back"] = wait(c.SetNodeRole("node3", "master-candidate", force=True))["status"]
out["role"] = c.GetNodeRole("node3")
print(json.dumps(out))
`)) as Record<string, unknown>;
    expect(result).toEqual({
      drain: 'success',
      drained: 'drained',
      children: ['success'],
      evac_pnode: expect.stringMatching(/^node[12]$/),
      back: 'success',
      role: 'master-candidate',
    });
  });

  it("lists a node's storage as a job, and runs a dry run that changes nothing", async () => {
    const before = (await config()).serial;
    const result = (await python(`
out = {}
rows = wait(c.GetNodeStorageUnits("node2", "file", "node,name,size,free"))["opresult"][0]
out["storage"] = [[row[0], row[1].endswith("file-storage"), row[2] > 0, row[3] >= 0] for row in rows]
dry = wait(c.AddClusterTags(["dry"], dry_run=True))
out["dry"] = [dry["status"], dry["opresult"][0]["dry_run"], c.GetClusterTags()]
out["missing"] = refused(c._SendRequest, "GET", "/2/nodes/node2/storage", [("storage_type", "file")], None)
print(json.dumps(out))
`)) as Record<string, unknown>;
    expect(result).toEqual({
      storage: [['node2', true, true, true]],
      dry: ['success', true, []],
      missing: 400,
    });
    expect((await config()).serial).toBe(before);
  });

  it('refuses a write without a user (401) or with a read-only one (403), and changes nothing', async () => {
    const before = (await config()).serial;
    const codes = await python(`
print(json.dumps([
  refused(anon.AddClusterTags, ["nope"]),
  refused(reader.AddClusterTags, ["nope"]),
  refused(rc.GanetiRapiClient("${host(1)}", 5080, username="admin", password="wrong").AddClusterTags, ["nope"]),
  refused(c.GetInstance, "no-such-instance"),
  refused(c.SetNodeRole, "node1", "master"),
  refused(c.ModifyInstance, "no-such-instance", no_such_parameter=1),
]))
`);
    expect(codes).toEqual([401, 403, 401, 404, 400, 400]);
    expect((await config()).serial).toBe(before);
    expect((await config()).cluster.tags).toEqual([]);
  });

  it("is read by htools' RAPI backend (hscan, hbal -m), whose moves run as RAPI jobs", async () => {
    for (const name of ['bal1', 'bal2', 'bal3'])
      await cli(
        daemons[0]!,
        'instance',
        'add',
        '-t',
        'sharedfile',
        '-s',
        '64M',
        '-o',
        'noop',
        '-n',
        'node2',
        '-B',
        'memory=512',
        name,
      );
    const scan = await run('hscan', ['-p', host(1)], { cwd: baseDir, timeout: 60_000 });
    expect(scan.stdout).toMatch(new RegExp(`${host(1).replaceAll('.', '\\.')}\\s+3\\s+3\\s`));
    const plan = await run('hbal', ['-m', host(1), '-C'], { timeout: 60_000 });
    const moves = [...plan.stdout.matchAll(/^\s*\d+\.\s+(\S+)\s+\S+\s+=>\s+(\S+)/gm)].map(([, i, n]) => [
      i,
      n,
    ]);
    expect(moves.length).toBeGreaterThan(0);
    // Ganeti 3.0's hbal executes (-X) only over LUXI; its plan is carried out here through RAPI, as a script would.
    const failovers = moves.map(
      ([instance, node]) => `wait(c.FailoverInstance("${instance}", target_node="${node}"))`,
    );
    await python(`${failovers.join('\n')}\nprint("null")`);
    const after = await run('hbal', ['-m', host(1)], { timeout: 60_000 });
    expect(after.stdout).toMatch(/Cluster is already well balanced|Solution length=0/);
  });

  it('serves the same certificate on every node, and a renewed one without a restart', async () => {
    const fingerprint = (n: number) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({ host: host(n), port: 5080, rejectUnauthorized: false }, () => {
          resolve(socket.getPeerCertificate().fingerprint256);
          socket.end();
        });
        socket.on('error', reject);
      });
    const before = await Promise.all([0, 1, 2].map(fingerprint));
    expect(new Set(before).size).toBe(1);
    await cli(daemons[1]!, 'cluster', 'renew-crypto', '--new-rapi-certificate');
    const after = await waitFor(
      async () => {
        const now = await Promise.all([0, 1, 2].map(fingerprint));
        return now.every((f) => f !== before[0]) && new Set(now).size === 1 ? now : undefined;
      },
      { timeoutMs: 15_000, what: 'every node to serve the renewed certificate' },
    );
    expect(after[0]).not.toBe(before[0]);
  });

  it("serves mond's reports and Prometheus metrics on every node", async () => {
    for (const n of [0, 1, 2]) {
      const reports = (await (await fetch(`http://${host(n)}:1815/1/report/all`)).json()) as {
        name: string;
      }[];
      expect(reports.map((report) => report.name)).toContain('inst-status');
      const families = parsePrometheusTextFormat(
        await (await fetch(`http://${host(n)}:1815/metrics`)).text(),
      );
      const value = (name: string) => families.find((family) => family.name === name)?.metrics[0]?.value;
      expect(Number(value('corral_raft_term'))).toBeGreaterThan(0);
      expect(value('corral_config_serial')).toBe(String((await config()).serial));
      const roles = families.find((family) => family.name === 'corral_raft_role')?.metrics ?? [];
      const role = roles.find((metric) => metric.value === '1')?.labels?.role;
      expect(role).toBe(n === 0 ? 'leader' : 'follower');
    }
  });

  it('keeps answering a client pointed at a non-master across a master failover', async () => {
    const master = daemons[0]!;
    await master.stop('SIGKILL');
    const result = (await python(`
out = {}
out["tag"] = wait(c.AddClusterTags(["after-failover"]))["status"]
out["master"] = c.GetInfo()["master"]
out["tags"] = c.GetClusterTags()
print(json.dumps(out))
`)) as Record<string, unknown>;
    expect(result).toEqual({
      master: expect.stringMatching(/^node[23]$/),
      tag: 'success',
      tags: ['after-failover'],
    });
    await cli(daemons[1]!, 'cluster', 'remove-tags', 'after-failover');
  });
});
