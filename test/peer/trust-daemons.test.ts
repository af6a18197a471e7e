import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentCall, agentProtocol, agentProtocols } from '../../src/cluster/agent-protocols.js';
import { configQueryProtocol } from '../../src/cluster/config-query.js';
import { nodeCommandProtocol } from '../../src/cluster/node-command-protocol.js';
import {
  admitProtocol,
  evictProtocol,
  hooksProtocol,
  joinProtocol,
  nodeInfoProtocol,
} from '../../src/cluster/node-protocols.js';
import { asCorralError, type CorralError } from '../../src/common/errors.js';
import { asNodeId, type NodeId } from '../../src/common/ids.js';
import { waitFor } from '../../src/common/wait.js';
import { echoProtocol } from '../../src/daemon/diagnostics.js';
import {
  cliEntryPoint,
  DaemonProcess,
  formLocalCluster,
  spawnLocalNodes,
} from '../../src/daemon/local-cluster.js';
import { masterProtocol } from '../../src/master/master-protocol.js';
import { indirectProbeProtocol, monitorReportsProtocol } from '../../src/membership/wire.js';
import type { Credentials } from '../../src/peer/callers.js';
import { Enrolment } from '../../src/peer/enrolment.js';
import { loadOrCreateIdentity } from '../../src/peer/identity.js';
import type { Libp2pTransport } from '../../src/peer/libp2p-transport.js';
import type { RequestProtocol } from '../../src/peer/protocol.js';
import { cli, cliRefusal } from '../helpers/cli.js';
import { startOpenPeer, startTestPeer } from '../helpers/test-peer.js';

const run = promisify(execFile);

/** Valid bodies for the agent calls whose effect the suite looks for afterwards. */
const victim = { name: 'victim', uuid: 'victim-uuid' };
const agentBodies: Partial<Record<AgentCall, unknown>> = {
  disks: {
    action: 'create',
    instance: { name: 'planted', uuid: 'planted-uuid' },
    template: 'file',
    disks: [{ uuid: 'planted-disk', index: 0, sizeMiB: 1, mode: 'rw', format: 'raw' }],
  },
  stop: { name: victim.name, hypervisor: 'fake', timeoutMs: 0, force: true },
};

/** Every request protocol a daemon serves, by name, with a body that passes its schema where one matters. */
const everyProtocol: readonly { name: string; protocol: RequestProtocol<unknown, unknown>; body: unknown }[] =
  [
    { name: 'node-info', protocol: nodeInfoProtocol as never, body: {} },
    {
      name: 'admit',
      protocol: admitProtocol as never,
      body: { cluster: { name: 'rogue.example', uuid: 'rogue' }, secret: randomBytes(32), members: [] },
    },
    {
      name: 'join',
      protocol: joinProtocol as never,
      body: { add: { OP_ID: 'OP_NODE_ADD', node_name: 'intruder', address: '/ip4/127.0.0.1/tcp/1' } },
    },
    { name: 'evict', protocol: evictProtocol as never, body: { cluster: { name: 'x', uuid: 'x' } } },
    {
      name: 'hooks',
      protocol: hooksProtocol as never,
      body: { hpath: 'node-remove', phase: 'pre', env: { GANETI_NODE_NAME: 'forged-by-attacker' } },
    },
    {
      name: 'master',
      protocol: masterProtocol as never,
      body: {
        op: 'submit',
        key: 'forged-submission',
        priority: 0,
        ops: [{ OP_ID: 'OP_TEST_DELAY', duration: 0 }],
      },
    },
    { name: 'config-query', protocol: configQueryProtocol as never, body: {} },
    { name: 'monitor-reports', protocol: monitorReportsProtocol as never, body: {} },
    { name: 'indirect-probe', protocol: indirectProbeProtocol as never, body: {} },
    { name: 'echo', protocol: echoProtocol as never, body: { payload: 'x' } },
    {
      name: 'node-command',
      protocol: nodeCommandProtocol as never,
      body: { action: 'run', command: 'echo planted > /tmp/corral-node-command-planted' },
    },
    ...(Object.keys(agentProtocols) as AgentCall[]).map((kind) => ({
      name: kind,
      protocol: agentProtocol(kind) as never,
      body: agentBodies[kind] ?? {},
    })),
  ];

/** What a member may call: everything but the master's and the admitter's protocols. */
const memberCalls = everyProtocol
  .filter(({ protocol }) => protocol.callers !== 'master' && protocol.callers !== 'admitter')
  .map(({ name }) => name);

/** The roles' refusal codes: a refusal for any other reason (a bad body, say) would prove nothing here. */
const roleRefusals = ['not_member', 'not_master', 'bad_enrolment', 'bad_token', 'conflict'];

/**
 * One call's answer or refusal. A call the connection dropped under is tried again on a new connection to
 * `address`: the suite's peers hold real nodes' keys, and a node hangs up on that identity whenever the real
 * one (paused) misses a ping, which closes the impostor's connection too.
 */
async function outcome(
  transport: Libp2pTransport,
  peer: NodeId,
  protocol: RequestProtocol<unknown, unknown>,
  body: unknown,
  credentials?: Credentials,
  address?: string,
): Promise<{ ok: true; body: unknown } | { ok: false; error: CorralError }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return {
        ok: true,
        body: await transport.request(peer, protocol, body, {
          timeoutMs: 10_000,
          ...(credentials && { credentials }),
        }),
      };
    } catch (error) {
      const failure = asCorralError(error);
      if (attempt >= 10 || (failure.code !== 'unreachable' && failure.code !== 'closed'))
        return { ok: false, error: failure };
      if (address !== undefined) await transport.connect(address).catch(() => undefined);
    }
  }
}

/**
 * Hostile callers against real daemons on 127.0.0.50–54: a stranger with a fresh identity, a join-token
 * holder, a member acting as master, a deposed master (the old master's own key, used while it is paused
 * and a new one leads), and a node removed from the cluster. Every call outside the caller's role is refused
 * with a logged reason, and nothing changes: config serial, files, the running instance, hook markers.
 */
describe('trust on every path, tried by hostile peers against real daemons', () => {
  let baseDir: string;
  let hooksDir: string;
  let markers: string;
  let daemons: DaemonProcess[];
  let members: DaemonProcess[];
  let fresh: DaemonProcess;
  const ids = new Map<DaemonProcess, NodeId>();
  const peers: Libp2pTransport[] = [];

  // Asked of the third member, which is never paused (the deposed master's test stops the first).
  const enrolCode = async (daemon: DaemonProcess) =>
    (
      await run(process.execPath, [
        cliEntryPoint(),
        'identity',
        '--enrol-code',
        '--data-dir',
        daemon.options.dataDir,
      ])
    ).stdout.trim();
  const serial = async () =>
    ((await members[2]!.call({ op: 'config', consistent: false })).config as { serial: number }).serial;
  const idOf = (daemon: DaemonProcess) => ids.get(daemon)!;
  const markerText = () => readFile(markers, 'utf8').catch(() => '');
  const fileStorage = (daemon: DaemonProcess) =>
    readdir(join(daemon.options.dataDir, 'file-storage')).catch(() => [] as string[]);
  const victimRunning = async () => {
    const { nodes } = await members[2]!.call({ op: 'nodes-live' });
    return nodes.some((node) =>
      node.status?.instances.some((i) => i.name === victim.name && i.state === 'running'),
    );
  };
  const peer = async (transport: Promise<Libp2pTransport>) => {
    const started = await transport;
    peers.push(started);
    return started;
  };
  /**
   * Runs `act` with a test peer that holds a real node's key, then stops it: while it runs, the cluster may
   * send that node's traffic to it, so it must not outlive its test.
   */
  const asNode = async (
    daemon: DaemonProcess,
    host: number,
    act: (transport: Libp2pTransport) => Promise<void>,
  ) => {
    const transport = await startOpenPeer({
      dataDir: daemon.options.dataDir,
      listen: `/ip4/127.0.0.${host}/tcp/0`,
    });
    try {
      await act(transport);
    } finally {
      await transport.stop();
    }
  };

  /**
   * Tries every protocol but `allowed` from `transport` on `target`; each must be refused for its role, with
   * a line in the target's log naming the caller.
   */
  async function expectRefusedOutside(
    transport: Libp2pTransport,
    target: DaemonProcess,
    allowed: readonly string[],
    credentials?: Credentials,
  ): Promise<void> {
    for (const { name, protocol, body } of everyProtocol) {
      if (allowed.includes(name)) continue;
      const answer = await outcome(
        transport,
        idOf(target),
        protocol,
        body,
        credentials,
        target.options.listen,
      );
      expect(answer.ok, `${name} should be refused`).toBe(false);
      if (!answer.ok) expect(roleRefusals, `${name}: ${answer.error.message}`).toContain(answer.error.code);
    }
    await waitFor(
      async () =>
        (await readFile(target.logPath, 'utf8'))
          .split('\n')
          .some((line) => line.includes(transport.self) && line.includes('refused a call outside its role'))
          ? true
          : undefined,
      { timeoutMs: 10_000, what: `${target.options.name} to log a refusal naming ${transport.self}` },
    );
  }

  beforeAll(async () => {
    baseDir = await mkdtemp(join(tmpdir(), 'corral-trust-'));
    hooksDir = join(baseDir, 'hooks');
    markers = join(baseDir, 'hook-markers');
    for (const hpath of ['node-remove-pre.d', 'node-remove-post.d']) {
      await mkdir(join(hooksDir, hpath), { recursive: true });
      const script = join(hooksDir, hpath, '00-mark');
      await writeFile(script, `#!/bin/sh\necho "$GANETI_NODE_NAME" >> ${markers}\n`);
      await chmod(script, 0o755);
    }
    daemons = await spawnLocalNodes({ baseDir, nodes: 4, firstHost: 50, hooksDir });
    members = daemons.slice(0, 3);
    fresh = daemons[3]!;
    for (const daemon of daemons) ids.set(daemon, asNodeId((await daemon.status()).nodeId));
    await formLocalCluster(members, {
      enabledDiskTemplates: ['diskless', 'file'],
      enabledHypervisors: ['fake'],
    });
    await cli(
      members[0]!,
      'instance',
      'add',
      '-t',
      'diskless',
      '-o',
      'noop',
      '-B',
      'memory=64M',
      '-n',
      'node2',
      victim.name,
    );
    await waitFor(async () => ((await victimRunning()) ? true : undefined), {
      timeoutMs: 20_000,
      what: 'the victim instance to run',
    });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(peers.map((transport) => transport.stop().catch(() => undefined)));
    await Promise.all((daemons ?? []).map((daemon) => daemon.stop('SIGKILL')));
    await rm(baseDir, { recursive: true, force: true });
  });

  it('a fresh daemon shows a stranger who it is, and does nothing else for it', async () => {
    const stranger = await peer(startTestPeer().then(({ transport }) => transport));
    expect(await stranger.connect(fresh.options.listen)).toBe(idOf(fresh));
    const info = await stranger.request(idOf(fresh), nodeInfoProtocol, {});
    expect(info).toEqual({ name: fresh.options.name, version: expect.any(String), addrs: [] });
    await expectRefusedOutside(stranger, fresh, ['node-info']);
    // An enrolment code made up for this node is refused too, and the node is still in no cluster.
    const forged = `corral-enrol-v1:${idOf(fresh)}:${randomBytes(32).toString('base64url')}`;
    const admit = everyProtocol.find((entry) => entry.name === 'admit')!;
    const answer = await outcome(stranger, idOf(fresh), admit.protocol, admit.body, { enrolment: forged });
    expect(answer.ok ? undefined : answer.error.code).toBe('bad_enrolment');
    await expect(fresh.call({ op: 'raft-status' })).rejects.toThrow(/no cluster/);
    expect(await fileStorage(fresh)).toEqual([]);
    expect(await markerText()).not.toContain('forged-by-attacker');
  }, 60_000);

  it('a join-token holder may ask to join and see who a node is, nothing more', async () => {
    const before = await serial();
    const holder = await peer(
      startTestPeer(async (self) => (await cli(members[1]!, 'token', 'create', self)).stdout.trim()).then(
        ({ transport }) => transport,
      ),
    );
    await holder.connect(members[2]!.options.listen);
    const info = await holder.request(idOf(members[2]!), nodeInfoProtocol, {});
    expect(info.cluster).toBeUndefined();
    await expectRefusedOutside(holder, members[2]!, ['node-info', 'join']);
    // Without the token in the call itself, even a join is refused.
    const join = everyProtocol.find((entry) => entry.name === 'join')!;
    const answer = await outcome(holder, idOf(members[2]!), join.protocol, join.body);
    expect(answer.ok ? undefined : answer.error.code).toBe('bad_token');
    expect(await serial()).toBe(before);
    expect(await victimRunning()).toBe(true);
    expect(await markerText()).not.toContain('forged-by-attacker');
  }, 60_000);

  it('a member that is not the master cannot act as one, whatever term it claims', async () => {
    const before = await serial();
    const { term, leader } = await members[0]!.call({ op: 'raft-status' });
    const [second, third] = members.filter((daemon) => idOf(daemon) !== leader) as [
      DaemonProcess,
      DaemonProcess,
    ];
    await asNode(third, 55, async (member) => {
      await member.connect(second.options.listen);
      await expectRefusedOutside(member, second, memberCalls);
      await expectRefusedOutside(member, second, memberCalls, { term });
      // A term from the future is not taken on trust: the node waits to hear of it, then refuses.
      const disks = everyProtocol.find((entry) => entry.name === 'disks')!;
      const future = await outcome(
        member,
        idOf(second),
        disks.protocol,
        disks.body,
        { term: term + 5 },
        second.options.listen,
      );
      expect(future.ok ? undefined : future.error.message).toMatch(
        /has not yet heard from .* as master of term/,
      );
      // Its own role still works.
      const status = await member.request(idOf(second), agentProtocols.status, {});
      expect(status.instances.map((i) => i.name)).toContain(victim.name);
    });
    expect(await serial()).toBe(before);
    expect(await fileStorage(second)).toEqual([]);
    expect(await victimRunning()).toBe(true);
  }, 60_000);

  it('a deposed master is refused by every node, and the cluster goes on under the new one', async () => {
    const [old, ...others] = members as [DaemonProcess, DaemonProcess, DaemonProcess];
    const { term: oldTerm } = await old.call({ op: 'raft-status' });
    old.child.kill('SIGSTOP');
    try {
      const newLeader = await waitFor(
        async () => {
          const status = await others[0].call({ op: 'raft-status' });
          return status.leader !== undefined && status.leader !== idOf(old) && status.term > oldTerm
            ? status
            : undefined;
        },
        { timeoutMs: 20_000, what: 'a new master while the old one is paused' },
      );
      // The new master records its takeover in the config first; from then on nothing may change it.
      const before = await waitFor(
        async () => {
          const view = (await others[1].call({ op: 'config', consistent: false })).config as {
            serial: number;
            master?: string;
          };
          return view.master === newLeader.leader ? view.serial : undefined;
        },
        { timeoutMs: 20_000, what: 'the new master to record its takeover' },
      );
      // The old master's own key, acting in its old term as the paused process will the moment it resumes.
      await asNode(old, 56, async (deposed) => {
        for (const node of others) {
          await deposed.connect(node.options.listen);
          await expectRefusedOutside(deposed, node, memberCalls, { term: oldTerm });
          const stop = everyProtocol.find((entry) => entry.name === 'stop')!;
          const answer = await outcome(
            deposed,
            idOf(node),
            stop.protocol,
            stop.body,
            { term: oldTerm },
            node.options.listen,
          );
          expect(answer.ok ? undefined : answer.error.message).toMatch(
            new RegExp(
              `is no longer the master: it acts in term ${oldTerm}, and this node has seen term \\d+`,
            ),
          );
        }
      });
      expect(newLeader.term).toBeGreaterThan(oldTerm);
      expect(await serial()).toBe(before);
      expect(await victimRunning()).toBe(true);
      expect(await markerText()).not.toContain('forged-by-attacker');
    } finally {
      old.child.kill('SIGCONT');
    }
    // The new master goes on; resumed, the old one follows it.
    await cli(others[1], 'cluster', 'add-tags', 'after-the-fence');
    await waitFor(
      async () => {
        const status = await old.call({ op: 'raft-status' });
        return status.leader !== undefined && status.leader !== idOf(old) ? true : undefined;
      },
      { timeoutMs: 60_000, what: 'the resumed old master to follow the new one' },
    );
    // It knows the leader before it has caught up its log, and a read the leader does not confirm within
    // readConfirmTimeoutMs answers from the replica as it is: ask until the replica has the tag.
    await waitFor(
      async () =>
        (await cli(old, 'cluster', 'list-tags')).stdout.includes('after-the-fence') ? true : undefined,
      { timeoutMs: 30_000, what: "the resumed old master to have the new master's tag" },
    );
  }, 90_000);

  it('node add needs the enrolment code, which names the peer; a removed node is shut out and draws a new code', async () => {
    // Submitted through a node that may or may not be the master now: the CLI forwards either way.
    const master = members[1]!;
    const add = (...extra: string[]) => [
      'node',
      'add',
      fresh.options.name,
      '--address',
      fresh.options.listen,
      ...extra,
    ];
    const before = await serial();
    expect(await cliRefusal(master, ...add())).toMatch(
      /needs its enrolment code: run 'corral identity' there/,
    );
    expect(await cliRefusal(master, ...add('--enrol-code', 'corral-enrol-v1:nonsense'))).toMatch(
      /malformed enrolment code/,
    );
    // Another node's genuine code: the daemon at the address is not the node it names.
    const elsewhere = await mkdtemp(join(baseDir, 'elsewhere-'));
    const otherCode = (
      await Enrolment.open(elsewhere, (await loadOrCreateIdentity(elsewhere)).nodeId)
    ).code();
    expect(await cliRefusal(master, ...add('--enrol-code', otherCode))).toMatch(
      /not the node the enrolment code names/,
    );
    expect(await serial()).toBe(before);

    const oldCode = await enrolCode(fresh);
    await cli(master, ...add('--enrol-code', oldCode));
    // The job record keeps the opcode, but never shows the code.
    const { jobs } = await master.call({ op: 'jobs', consistent: false });
    expect(JSON.stringify(jobs)).not.toContain(oldCode.split(':')[2]);
    await waitFor(
      async () => ((await fresh.call({ op: 'raft-status' }).catch(() => undefined)) ? true : undefined),
      {
        timeoutMs: 20_000,
        what: 'the added node to run its replica',
      },
    );

    // Removed, it forgets the cluster and stops; its key no longer opens any member's door.
    await cli(master, 'node', 'remove', fresh.options.name);
    await waitFor(async () => (fresh.isRunning() ? undefined : true), {
      timeoutMs: 20_000,
      what: 'the removed node to stop',
    });
    await asNode(fresh, 57, async (removed) => {
      await expect(removed.connect(members[0]!.options.listen)).rejects.toThrow();
    });
    // Restarted, it is a fresh node again, with a new code: the one the master was shown is worthless.
    const freshId = idOf(fresh);
    daemons[3] = fresh = await DaemonProcess.spawn(fresh.options);
    ids.set(fresh, freshId);
    const newCode = await enrolCode(fresh);
    expect(newCode).not.toBe(oldCode);
    const stranger = await peer(startTestPeer().then(({ transport }) => transport));
    await stranger.connect(fresh.options.listen);
    const admit = everyProtocol.find((entry) => entry.name === 'admit')!;
    const answer = await outcome(stranger, idOf(fresh), admit.protocol, admit.body, { enrolment: oldCode });
    expect(answer.ok ? undefined : answer.error.code).toBe('bad_enrolment');
    await expect(fresh.call({ op: 'raft-status' })).rejects.toThrow(/no cluster/);
  }, 120_000);
});
