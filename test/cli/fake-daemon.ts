import { afterEach } from 'vitest';
import { setDaemonCallForTests } from '../../src/cli/cluster-client.js';
import { setAskerForTests } from '../../src/cli/confirm.js';
import { cliParser, errorLines, usageLine } from '../../src/cli/parser.js';
import { DEFAULT_HA_PARAMS } from '../../src/cluster/lease.js';
import { DEFAULT_BE_PARAMS } from '../../src/cluster/model.js';
import type { ControlRequest } from '../../src/daemon/control-protocol.js';
import type { DaemonCall } from '../../src/daemon/job-client.js';

/**
 * The CLI's own parser and handlers against a fake daemon, for tests of what a command prints, what it asks
 * of the daemon and how it refuses bad input. The configuration is the daemon's answer to `config`; every
 * job submitted ends at once in success, each opcode's result being the one given.
 */

export const times = { ctimeMs: 1_700_000_000_000, mtimeMs: 1_700_000_000_000 };

export function fakeNode(name: string, group = 'g1', tags: string[] = []) {
  return {
    uuid: `u-${name}`,
    name,
    id: `peer-${name}`,
    addrs: [],
    primaryIp: '127.0.0.1',
    secondaryIp: '127.0.0.1',
    group,
    masterCandidate: true,
    masterCapable: true,
    vmCapable: true,
    drained: false,
    offline: false,
    tags,
    serial: 1,
    ...times,
  };
}

export function fakeCluster(overrides: Record<string, unknown> = {}) {
  return {
    name: 'c1.example.com',
    uuid: 'u-c1',
    ...times,
    candidatePoolSize: 3,
    enabledHypervisors: ['fake'],
    enabledDiskTemplates: ['file', 'diskless'],
    maxRunningJobs: 20,
    candidateDeadGraceMs: 60_000,
    ha: DEFAULT_HA_PARAMS,
    beParams: DEFAULT_BE_PARAMS,
    nicParams: { mode: 'none', link: '' },
    macPrefix: 'aa:00:00',
    tags: [],
    ...overrides,
  };
}

export function fakeInstance(overrides: Record<string, unknown> & { name: string }) {
  return {
    uuid: `i-${overrides.name}`,
    primaryNode: 'u-n1',
    secondaryNodes: [],
    os: 'noop',
    hypervisor: 'fake',
    hvParams: {},
    beParams: {},
    osParams: {},
    diskTemplate: 'diskless',
    disks: [],
    nics: [],
    adminState: 'down',
    adminStateSource: 'admin',
    disksActive: false,
    tags: [],
    serial: 1,
    ...times,
    ...overrides,
  };
}

/** A two-node cluster (n1 the master, both in group g1) holding these instances. */
export function fakeConfig(instances: unknown[]) {
  return {
    cluster: fakeCluster(),
    serial: 7,
    master: 'peer-n1',
    groups: [
      { uuid: 'g1', name: 'default', allocPolicy: 'preferred', tags: [], serial: 1, ctimeMs: 0, mtimeMs: 0 },
    ],
    nodes: [fakeNode('n1'), fakeNode('n2')],
    instances,
  };
}

export interface CliRun extends Captured {
  /** What the command asked of the daemon, in order. */
  readonly requests: ControlRequest[];
  /** The opcodes of each job the command submitted, in order. */
  readonly jobs: unknown[][];
}

export interface FakeDaemon {
  readonly config: unknown;
  /** Each opcode's result in the jobs the command follows. */
  readonly result?: unknown;
  /** Answers for what the fake does not answer itself (undefined: it has no answer). */
  readonly answer?: (request: ControlRequest) => unknown;
}

class UsageError extends Error {}

/** What one run of the CLI printed, and how it failed. */
export interface Captured {
  readonly stdout: string;
  readonly stderr: string;
  /** The failure's line as the user sees it (usage refusals in yargs' words, as run.ts prints them). */
  readonly error?: string;
  /** Whether yargs refused the command line itself (exit 2). */
  readonly usage: boolean;
  readonly exitCode: number | undefined;
}

/**
 * Runs `corral <words>` with `call` as the daemon and `asker` answering confirmations; what it printed is
 * captured, and the real daemon call and asker are put back afterwards.
 */
export async function captureCli(
  words: readonly string[],
  call: DaemonCall,
  asker: (question: string) => Promise<boolean | undefined> = async () => undefined,
): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  setDaemonCallForTests(() => call);
  setAskerForTests(asker);
  const out = process.stdout.write;
  const err = process.stderr.write;
  process.stdout.write = ((chunk: string) => {
    stdout += chunk;
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => {
    stderr += chunk;
    return true;
  }) as typeof process.stderr.write;
  let error: string | undefined;
  let usage = false;
  process.exitCode = undefined;
  try {
    const { parser } = await cliParser([...words], (message) => {
      throw new UsageError(message);
    });
    await parser.exitProcess(false).parseAsync();
  } catch (failure) {
    usage = failure instanceof UsageError;
    error = usage ? usageLine((failure as Error).message) : errorLines(failure, 0).join('\n');
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    setDaemonCallForTests(undefined);
    setAskerForTests(undefined);
  }
  const exitCode = process.exitCode as number | undefined;
  process.exitCode = undefined;
  return { stdout, stderr, usage, exitCode, ...(error !== undefined && { error }) };
}

/** Runs `corral <words>` against the fake daemon. */
export async function runCli(words: string[], daemon: FakeDaemon): Promise<CliRun> {
  const requests: ControlRequest[] = [];
  const jobs: unknown[][] = [];
  const call = (async (request: ControlRequest) => {
    requests.push(request);
    const answered = daemon.answer?.(request);
    if (answered !== undefined) return answered;
    switch (request.op) {
      case 'config':
        return { config: daemon.config, master: 'peer-n1', self: 'peer-n1' };
      case 'master':
        if (request.request.op === 'submit') {
          jobs.push(request.request.ops);
          return { job: jobs.length };
        }
        throw new Error(`the fake daemon takes no ${request.request.op}`);
      case 'job-wait':
        return {
          job: {
            id: request.job,
            status: 'success',
            priority: 0,
            ops: (jobs[request.job - 1] ?? []).map((input) => ({
              input,
              status: 'success',
              result: daemon.result ?? null,
            })),
            log: [],
            receivedMs: times.ctimeMs,
            version: 1,
          },
        };
      default:
        throw new Error(`the fake daemon has no answer for ${request.op}`);
    }
  }) as DaemonCall;
  return { ...(await captureCli(words, call)), requests, jobs };
}

/** Puts the real daemon call and asker back after each test of the file that calls it. */
export function restoreAfterEach(): void {
  afterEach(() => {
    setDaemonCallForTests(undefined);
    setAskerForTests(undefined);
  });
}
